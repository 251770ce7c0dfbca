from . import logistics_live, logistics_shipment
