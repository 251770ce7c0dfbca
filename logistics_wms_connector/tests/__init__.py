from . import (
    test_backend_form_ui,
    test_connection_test,
    test_migration,
    test_migration_review,
    test_wms_access,
    test_wms_adapters,
    test_wms_flow,
    test_wms_inbound_isolation,
)
