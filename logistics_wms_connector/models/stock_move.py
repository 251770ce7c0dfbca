from odoo import models


class StockMove(models.Model):
    _inherit = "stock.move"

    def _action_confirm(self, *args, **kwargs):
        # Confirmation reserves at once when it can, before the base creates the shipments:
        # release what is ready now that they exist.
        moves = super()._action_confirm(*args, **kwargs)
        moves.picking_id._logistics_release_ready()
        return moves

    def _action_assign(self, *args, **kwargs):
        result = super()._action_assign(*args, **kwargs)
        self.picking_id._logistics_release_ready()
        return result
