from odoo import fields, models

from odoo.addons.logistics_integration_base.models.logistics_message import AnswerNotUnderstood

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
        """Compare the WMS's stock with Odoo's (``logistics.backend._compare_stock_snapshot``):
        the WMS owns quantities, but a difference is raised for a person, never overwritten
        silently.

        :raises AnswerNotUnderstood: the answer is no stock snapshot (the message ends dead)
        """
        try:
            items = wms_rest.stock_items(response)
        except ValueError as error:
            raise AnswerNotUnderstood(f"not a stock snapshot: {error}") from error
        self.backend_id._compare_stock_snapshot(items, self)
