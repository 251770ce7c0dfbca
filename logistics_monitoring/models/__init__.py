from . import logistics_live, logistics_metric, logistics_shipment
