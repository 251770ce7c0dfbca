from . import (
    test_carrier_flow,
    test_carrier_ui,
    test_concurrent_reroute,
    test_connection_test,
    test_delivery_rate,
    test_delivery_ui,
    test_easypost_adapter,
    test_label_packages,
    test_labels_ui,
    test_shipping_method_labels,
    test_status_mapping,
    test_unmapped_status,
)
