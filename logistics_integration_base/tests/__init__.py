from . import (
    test_delivery,
    test_ingest,
    test_ingest_hardening,
    test_install,
    test_publication,
    test_rpc,
    test_secrets,
    test_security,
    test_shipment,
    test_status_rule,
    test_webhook,
    test_webhook_hardening,
)
