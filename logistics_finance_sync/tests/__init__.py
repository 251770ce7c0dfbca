from . import test_freight_accounting, test_freight_audit, test_invoice_parsers
