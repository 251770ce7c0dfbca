from odoo import fields, models


class StockPicking(models.Model):
    _inherit = "stock.picking"

    logistics_shipment_ids = fields.One2many(
        "logistics.shipment", "picking_id", string="Logistics Shipments"
    )

    def _create_backorder_picking(self):
        # What a partial shipment leaves behind is a shipment of its own.
        backorder = super()._create_backorder_picking()
        self.env["logistics.shipment"]._create_for_pickings(backorder)
        return backorder


class StockMove(models.Model):
    _inherit = "stock.move"

    def _action_confirm(self, *args, **kwargs):
        moves = super()._action_confirm(*args, **kwargs)
        self.env["logistics.shipment"]._create_for_pickings(moves.picking_id)
        return moves
