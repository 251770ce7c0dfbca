from odoo import fields, models

from ..adapters import wms_rest


class LogisticsShipment(models.Model):
    _inherit = "logistics.shipment"

    wms_release_message_id = fields.Many2one(
        "logistics.message",
        string="WMS Release",
        readonly=True,
        help="The message that released the delivery order to the WMS.",
    )
    wms_released_at = fields.Datetime(string="Released to WMS", readonly=True)

    def _logistics_cancel_in_wms(self):
        """Tell the WMS that released orders were cancelled in Odoo, and record it."""
        Message = self.env["logistics.message"].sudo()
        for shipment in self:
            backend = shipment.wms_backend_id
            if backend.protocol != "file":
                Message._create_outbound(
                    backend,
                    "order_cancel",
                    {"order_ref": shipment.picking_id.name, "reason": "cancelled in Odoo"},
                    endpoint=wms_rest.cancel_path(shipment.picking_id.name),
                    shipment=shipment,
                )
            self.env["logistics.event"]._record_odoo_events(
                backend,
                [
                    {
                        "type": "cancelled",
                        "event_id": f"odoo-cancel-{shipment.id}",
                        "occurred_at": fields.Datetime.now().isoformat() + "+00:00",
                        "shipment_ref": shipment.name,
                        "payload": {"order_ref": shipment.picking_id.name},
                    }
                ],
            )
