from . import (
    logistics_carrier_invoice_import_wizard,
    logistics_finance_export_wizard,
    logistics_freight_dispute_wizard,
)
