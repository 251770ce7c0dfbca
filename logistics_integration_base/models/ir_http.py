from odoo import models
from odoo.http import request


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _pre_dispatch(cls, rule, args):
        if rule.endpoint.routing.get("logistics_raw_body"):
            # A webhook's signature is over its raw bytes: read and cache them before the
            # dispatcher parses a form content type (application/x-www-form-urlencoded), which
            # would leave nothing to read. Werkzeug then parses the form from the cached bytes.
            request.httprequest.get_data(cache=True, parse_form_data=False)
        return super()._pre_dispatch(rule, args)
