from odoo import fields, models

from ..adapters import wms_rest


class LogisticsMessage(models.Model):
    _inherit = "logistics.message"

    def _on_delivered_order_release(self, _response):
        """The WMS accepted the release: the order is released (an Odoo milestone)."""
        shipment = self.shipment_id
        if not shipment:
            return
        now = fields.Datetime.now()
        shipment.write({"wms_released_at": now})
        self.env["logistics.event"]._record_odoo_events(
            self.backend_id,
            [
                {
                    "type": "order_released",
                    "event_id": f"odoo-release-{self.uuid}",
                    "occurred_at": now.isoformat() + "+00:00",
                    "shipment_ref": shipment.name,
                    "payload": {
                        "order_ref": (self.payload or {}).get("order_ref"),
                        "message": self.id,
                    },
                }
            ],
        )

    def _on_delivered_stock_snapshot(self, response):
        """Compare the WMS's stock with Odoo's: the WMS owns quantities, but a difference is
        raised for a person, never overwritten silently."""
        try:
            levels = wms_rest.stock_levels(response)
        except ValueError as error:
            self.write({"error": f"stock snapshot not understood: {error}"})
            return
        self.backend_id._compare_stock(levels, self)
