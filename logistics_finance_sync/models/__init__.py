# The models first: a model's _inherit must be in the registry before it.
from . import logistics_cod_remittance, logistics_cod_remittance_line, logistics_finance_export

# isort: split
from . import (
    account_move,
    crm_team,
    logistics_backend,
    logistics_backend_cod,
    logistics_backend_finance_export,
    logistics_backend_freight_accounting,
    logistics_carrier_invoice,
    logistics_carrier_invoice_bill,
    logistics_carrier_invoice_line,
    logistics_cod_payment,
    logistics_cod_reconciliation,
    logistics_event_cod,
    logistics_freight_accrual,
    logistics_freight_audit,
    logistics_freight_reconciliation_report,
    logistics_freight_tolerance,
    logistics_message,
    logistics_message_cod,
    logistics_shipment_cod,
    sale_order,
    stock_warehouse,
)
