from . import (
    logistics_backend,
    logistics_carrier_invoice,
    logistics_carrier_invoice_line,
    logistics_freight_audit,
    logistics_freight_tolerance,
    logistics_message,
)
