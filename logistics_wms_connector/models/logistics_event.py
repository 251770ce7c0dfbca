from odoo import models


class LogisticsEvent(models.Model):
    _inherit = "logistics.event"

    def _on_event_shipped(self):
        """The WMS shipped: its quantities become the transfer's done quantities."""
        result = super()._on_event_shipped()
        for event in self.filtered(lambda e: e.backend_id.kind == "wms"):
            picking = event.shipment_id.picking_id
            if picking and event.payload:
                picking.sudo()._logistics_apply_shipped(event.payload.get("lines") or [], event)
        return result
