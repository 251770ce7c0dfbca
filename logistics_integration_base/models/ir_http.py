from odoo import models
from odoo.http import request

# The content types Odoo's dispatcher parses as a form before the controller runs.
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _pre_dispatch(cls, rule, args):
        httprequest = request.httprequest
        if rule.endpoint.routing.get("logistics_raw_body") and httprequest.mimetype in FORMS:
            # A webhook's signature is over its raw bytes: read and cache them before the
            # dispatcher parses a form content type (application/x-www-form-urlencoded), which
            # would leave nothing to read. Werkzeug then parses the form from the cached bytes.
            # Other content types are read by the controller, after its size check.
            httprequest.get_data(cache=True, parse_form_data=False)
        return super()._pre_dispatch(rule, args)
