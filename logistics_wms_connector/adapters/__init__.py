from . import wms_csv, wms_rest
