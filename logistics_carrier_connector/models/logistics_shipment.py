from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..adapters import easypost
from .logistics_carrier_label import ACTIVE_STATES

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
    label_url = fields.Char(readonly=True, copy=False)
    tracking_url = fields.Char(string="Tracking Page", readonly=True, copy=False)
    pod_signed_by = fields.Char(string="Signed By", readonly=True, copy=False)
    delivery_issue = fields.Char(
        readonly=True, copy=False, help="The carrier's reason when a delivery failed."
    )

    customer_notified = fields.Char(
        readonly=True, copy=False, help="Milestones the customer was emailed about."
    )

    def _buy_label(self, backend=None, packages=None):
        """Start a label purchase with ``backend`` (default: the shipment's carrier, else the
        first carrier by priority): create the carrier shipment, then buy the chosen rate.

        :raises UserError: the shipment has a purchase in progress or a label bought already
            (one purchase per shipment and active label, see ``logistics.carrier.label``). Two
            transactions starting one at the same time: the shipment's row lock makes the
            second fail with a serialization error, which Odoo's request and job runners
            retry, and the retry sees the first purchase; the database's unique index stops
            any path that would skip the check.
        """
        Message = self.env["logistics.message"].sudo()
        Label = self.env["logistics.carrier.label"].sudo()
        for shipment in self.sudo():
            carrier = (
                backend
                or shipment.carrier_backend_id
                or self.env["logistics.backend"]._next_carrier(shipment.company_id)
            )
            if not carrier:
                continue
            shipment._check_no_label_purchase()
            purchase = Label.create({"shipment_id": shipment.id, "backend_id": carrier.id})
            message = Message._create_outbound(
                carrier,
                "carrier_shipment_create",
                shipment._carrier_shipment_document(carrier, packages),
                endpoint=easypost.SHIPMENTS_PATH,
                shipment=shipment,
                label_purchase_id=purchase.id,
            )
            purchase.message_id = message
            shipment.write(
                {
                    "carrier_backend_id": carrier.id,
                    "label_purchase_id": purchase.id,
                    "carrier_shipment_ref": False,
                }
            )

    def _check_no_label_purchase(self):
        """Lock the shipment's row until the transaction ends, then refuse (UserError, with the
        reason) when it has a label purchase in progress or a label bought.

        Under REPEATABLE READ, a transaction that changed the row meanwhile (a purchase started
        elsewhere writes ``label_purchase_id``) makes the lock fail with a serialization error
        instead of this reading a stale "no purchase"; Odoo's request and job runners retry it.
        NO KEY UPDATE: events and messages may still reference the shipment meanwhile."""
        self.ensure_one()
        self.flush_recordset()
        self.env.cr.execute(
            SQL("SELECT id FROM logistics_shipment WHERE id = %s FOR NO KEY UPDATE", self.id)
        )
        active = (
            self.env["logistics.carrier.label"]
            .sudo()
            .search([("shipment_id", "=", self.id), ("state", "in", ACTIVE_STATES)], limit=1)
        )
        if active:
            raise UserError(active._refusal())

    def _carrier_shipment_document(self, carrier, packages):
        self.ensure_one()
        picking = self.picking_id
        warehouse = self.warehouse_id or picking.picking_type_id.warehouse_id
        weight = sum(float(p.get("weight_kg") or 0) for p in packages or []) or sum(
            move.product_id.weight * move.product_uom_qty for move in picking.move_ids
        )
        return easypost.shipment_request(
            reference=self.name,
            from_address=easypost.partner_address(
                warehouse.partner_id or self.company_id.partner_id
            ),
            to_address=easypost.partner_address(self.partner_id or picking.partner_id),
            parcel=easypost.parcel_from_kg(weight or carrier.carrier_default_weight),
            options={"label_format": "PDF"},
        )

    def _notify_shipped_when_tracked(self):
        """After a label purchase: the shipped email needs both the parcel shipped and its
        tracking number, which arrive in either order (the WMS's confirmation, the carrier's
        label); the shipped event's own handler covers the other order."""
        Event = self.env["logistics.event"].sudo()
        for shipment in self.sudo().filtered("tracking_number"):
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
