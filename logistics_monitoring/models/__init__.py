from . import logistics_shipment
