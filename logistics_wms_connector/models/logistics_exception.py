from odoo import models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_access import check_manager


class LogisticsException(models.Model):
    """The WMS connector's quick action on the exception board."""

    _inherit = "logistics.exception"

    def _board_actions(self):
        actions = super()._board_actions()
        if (
            self.type_code == "wms_confirmation_difference"
            and not self.is_closed
            and self._is_manager()
        ):
            actions.insert(0, ("action_accept_wms_quantity", self.env._("Accept the WMS quantity")))
        return actions

    def action_accept_wms_quantity(self):
        """One click on a wms_confirmation_difference exception: what the WMS shipped (already
        recorded on the transfer: the WMS owns what leaves the warehouse) is accepted as it
        is. Resolves the exception with that note, audited as any resolution.

        :raises AccessError: not a Logistics Manager
        :raises UserError: not a wms_confirmation_difference exception
        """
        check_manager(self.env, self.env._("accept what the WMS shipped"))
        resolved = self.env.ref("logistics_integration_base.exception_stage_resolved")
        note = self.env._("Accepted what the WMS shipped, as recorded on the transfer.")
        for exception in self:
            if exception.type_code != "wms_confirmation_difference":
                raise UserError(
                    self.env._("Only a shipment difference reported by the WMS can be accepted.")
                )
        self.write({"stage_id": resolved.id, "resolution_note": note})
        return True
