from . import (
    delivery_carrier,
    logistics_backend,
    logistics_backend_connection,
    logistics_carrier_label,
    logistics_carrier_status_map,
    logistics_event,
    logistics_exception,
    logistics_message,
    logistics_package,
    logistics_shipment,
    logistics_shipment_label,
    stock_picking,
)
