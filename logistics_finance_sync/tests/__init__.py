from . import test_freight_audit
