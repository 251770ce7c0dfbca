from . import controllers, models, wizards, xmlrpc_json_values
