from . import (
    test_delivery,
    test_inbound_isolation,
    test_ingest,
    test_install,
    test_publication,
    test_rpc,
    test_secrets,
    test_security,
    test_shipment,
    test_webhook,
)
