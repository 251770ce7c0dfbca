from . import test_invoice_parsers
