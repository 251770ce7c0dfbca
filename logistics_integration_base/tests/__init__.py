from . import test_ingest, test_install, test_rpc, test_secrets, test_security, test_shipment
from . import test_delivery
