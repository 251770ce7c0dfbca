from odoo import fields, models

NOTIFICATION_TEMPLATES = {
    "shipped": "logistics_carrier_connector.mail_template_shipped",
    "delivered": "logistics_carrier_connector.mail_template_delivered",
    "exception": "logistics_carrier_connector.mail_template_delivery_exception",
}


class LogisticsShipment(models.Model):
    _inherit = "logistics.shipment"

    carrier_shipment_ref = fields.Char(
        string="Carrier Shipment ID", readonly=True, copy=False, help="e.g. EasyPost's shp_ id."
    )
    carrier_name = fields.Char(string="Carrier", readonly=True, copy=False)
    carrier_service = fields.Char(string="Service", readonly=True, copy=False)
    label_purchase_id = fields.Many2one(
        "logistics.carrier.label",
        readonly=True,
        copy=False,
        help="The latest label purchase (in progress, bought or failed).",
    )
    label_purchase_ids = fields.One2many(
        "logistics.carrier.label", "shipment_id", string="Label Purchases", readonly=True
    )
    label_attachment_id = fields.Many2one(
        "ir.attachment", string="Label", readonly=True, copy=False
    )
    reroute_backend_id = fields.Many2one(
        "logistics.backend",
        string="Rerouting To",
        readonly=True,
        copy=False,
        help="The carrier the labels are bought from once the first carrier has taken the "
        "refunds of its labels.",
    )
    label_url = fields.Char(readonly=True, copy=False)
    tracking_url = fields.Char(string="Tracking Page", readonly=True, copy=False)
    pod_signed_by = fields.Char(string="Signed By", readonly=True, copy=False)
    delivery_issue = fields.Char(
        readonly=True, copy=False, help="The carrier's reason when a delivery failed."
    )

    customer_notified = fields.Char(
        readonly=True, copy=False, help="Milestones the customer was emailed about."
    )

    def _notify_shipped_when_tracked(self):
        """After a label purchase: the shipped email needs both the parcel shipped and its
        tracking number, which arrive in either order (the WMS's confirmation, the carrier's
        label); the shipped event's own handler covers the other order."""
        Event = self.env["logistics.event"].sudo()
        for shipment in self.sudo().filtered(lambda s: s._all_packages_tracked()):
            # Events are stored in SQL by the ingestion: ask the database, not the cache.
            if Event.search_count(
                [("shipment_id", "=", shipment.id), ("type_id.code", "=", "shipped")], limit=1
            ):
                shipment._notify_customer("shipped")

    def _notify_customer(self, milestone):
        """Email the customer about a milestone, once per milestone and shipment."""
        template = self.env.ref(NOTIFICATION_TEMPLATES[milestone], raise_if_not_found=False)
        for shipment in self.sudo():
            sent = (shipment.customer_notified or "").split(",")
            if not template or milestone in sent or not shipment.partner_id.email:
                continue
            template.send_mail(shipment.id)
            shipment.customer_notified = ",".join(filter(None, [*sent, milestone]))
