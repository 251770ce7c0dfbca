from odoo import models
from odoo.exceptions import UserError


class LogisticsException(models.Model):
    _inherit = "logistics.exception"

    def action_route_alternate_carrier(self):
        """One click on a label_failed exception: buy the label from the next carrier backend
        by priority. The exception closes itself when that label is created."""
        for exception in self:
            shipment = exception.shipment_id
            if exception.type_code != "label_failed" or not shipment:
                raise UserError(self.env._("Only a failed label can go to another carrier."))
            current = exception.backend_id or shipment.carrier_backend_id
            alternate = current._next_carrier(shipment.company_id)
            if not alternate:
                raise UserError(
                    self.env._(
                        "There is no carrier after %(carrier)s: add a carrier backend with a "
                        "higher sequence, or fix the data and replay the message.",
                        carrier=current.name,
                    )
                )
            shipment.sudo().write({"label_message_id": False, "carrier_shipment_ref": False})
            shipment._buy_label(alternate)
            exception.message_post(
                body=self.env._(
                    "Routed from %(old)s to %(new)s by %(user)s.",
                    old=current.name,
                    new=alternate.name,
                    user=self.env.user.name,
                )
            )
        return True
