from . import (
    test_cod,
    test_finance_export,
    test_finance_sandbox_flow,
    test_freight_accounting,
    test_freight_audit,
    test_freight_ui,
    test_invoice_import,
    test_invoice_parsers,
    test_review17,
)
