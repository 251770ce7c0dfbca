from . import test_wms_adapters, test_wms_flow
