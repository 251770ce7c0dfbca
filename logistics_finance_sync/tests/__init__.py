from . import test_cod, test_freight_audit, test_invoice_parsers
