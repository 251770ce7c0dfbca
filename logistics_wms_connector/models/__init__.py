from . import (
    logistics_backend,
    logistics_backend_connection,
    logistics_backend_stock,
    logistics_event,
    logistics_exception,
    logistics_message,
    logistics_shipment,
    stock_move,
    stock_picking,
    stock_warehouse,
)
