from . import logistics_live
