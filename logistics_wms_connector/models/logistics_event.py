from odoo import models


class LogisticsEvent(models.Model):
    _inherit = "logistics.event"

    def _on_event_shipped(self):
        """The WMS shipped: its quantities become the transfer's done quantities."""
        result = getattr(super(), "_on_event_shipped", lambda: None)()
        picking = self.shipment_id.picking_id
        if self.backend_id.kind == "wms" and picking and self.payload:
            picking.sudo()._logistics_apply_shipped(self.payload.get("lines") or [], self)
        return result
