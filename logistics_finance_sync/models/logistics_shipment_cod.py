from odoo import api, fields, models
from odoo.exceptions import AccessError

# Set by finance's own code (the carrier's cod_collected events, the daily batch), not by hand.
COD_FLOW_FIELDS = {"cod_collected_amount", "cod_collected_at", "cod_overdue"}

COD_STATES = [
    ("none", "No COD"),
    ("expected", "To Collect"),
    ("collected", "Collected"),
    ("missing", "Not Remitted"),
    ("remitted", "Remitted"),
    ("short", "Short"),
]


class LogisticsShipment(models.Model):
    """Cash on delivery of a shipment: its amount from a sale order paid by cash on delivery,
    what the carrier collected (its ``cod_collected`` event), the remittance lines that paid
    it out, and where it stands (``cod_state``)."""

    _inherit = "logistics.shipment"

    cod_collected_amount = fields.Monetary(
        string="COD Collected",
        currency_field="currency_id",
        readonly=True,
        copy=False,
        help="What the carrier reported collecting (its cod_collected event), in the "
        "shipment's currency.",
    )
    cod_collected_at = fields.Datetime(
        string="COD Collected On", readonly=True, copy=False, index="btree_not_null"
    )
    cod_overdue = fields.Boolean(
        string="COD Remittance Overdue",
        readonly=True,
        copy=False,
        help="Collected (or delivered with a cash on delivery) longer ago than the carrier's "
        "COD Remittance Days, and no remittance line pays it.",
    )
    cod_line_ids = fields.One2many(
        "logistics.cod.remittance.line", "shipment_id", string="COD Remittances", readonly=True
    )
    cod_state = fields.Selection(
        COD_STATES,
        string="COD",
        compute="_compute_cod_state",
        store=True,
        index=True,
        help="To Collect: a cash on delivery the carrier has not reported collecting. "
        "Collected: reported collected, no remittance yet. Not Remitted: no remittance after "
        "the carrier's COD Remittance Days (a cod_mismatch exception ages). Remitted: a "
        "remittance paid it as expected. Short: a remittance paid less (a cod_mismatch "
        "exception tells).",
    )

    @api.depends("cod_amount", "cod_collected_at", "cod_overdue", "cod_line_ids.state")
    def _compute_cod_state(self):
        """The one place the COD state is decided (see ``cod_state``'s help): a remittance
        line's verdict first, then the daily batch's overdue flag, then the collection."""
        for shipment in self:
            verdicts = set(shipment.cod_line_ids.mapped("state"))
            if "short" in verdicts:
                shipment.cod_state = "short"
            elif "reconciled" in verdicts:
                shipment.cod_state = "remitted"
            elif shipment.cod_overdue:
                shipment.cod_state = "missing"
            elif shipment.cod_collected_at:
                shipment.cod_state = "collected"
            elif shipment.cod_amount:
                shipment.cod_state = "expected"
            else:
                shipment.cod_state = "none"

    @api.model_create_multi
    def create(self, vals_list):
        shipments = super().create(vals_list)
        shipments.filtered(
            lambda s: s.sale_id and s.direction == "outgoing" and not s.cod_amount
        )._set_cod_from_order()
        return shipments

    def write(self, vals):
        """The collection and the overdue flag come from the carrier's events and the daily
        batch only.

        :raises AccessError: a write of one of ``COD_FLOW_FIELDS`` outside the flow (not sudo)
        """
        by_hand = COD_FLOW_FIELDS.intersection(vals)
        if by_hand and not self.env.su:
            raise AccessError(
                self.env._(
                    "%(fields)s of a shipment are set by the carrier's events, not by hand.",
                    fields=", ".join(sorted(self._fields[name].string for name in by_hand)),
                )
            )
        return super().write(vals)

    def _set_cod_from_order(self):
        """The cash on delivery of shipments created for sale orders paid with Odoo's cash on
        delivery payment method (a transaction of the order, not cancelled, by a provider of
        custom mode ``cash_on_delivery``): the order's total, converted to the shipment's
        currency at Odoo's rate of the day. Only the first outgoing shipment of an order
        carries it: a backorder's parcel does not collect the order a second time."""
        for shipment in self.sudo():
            order = shipment.sale_id
            if not order._logistics_paid_by_cod():
                continue
            carried = self.sudo().search_count(
                [
                    ("sale_id", "=", order.id),
                    ("direction", "=", "outgoing"),
                    ("cod_amount", ">", 0),
                    ("id", "!=", shipment.id),
                ],
                limit=1,
            )
            if carried:
                continue
            amount = order.currency_id._convert(
                order.amount_total,
                shipment.currency_id,
                shipment.company_id,
                fields.Date.context_today(shipment),
            )
            shipment.cod_amount = amount
            shipment.message_post(
                body=self.env._(
                    "Cash on delivery of %(amount)s %(currency)s: %(order)s is paid by cash on "
                    "delivery.",
                    amount=shipment.currency_id.round(amount),
                    currency=shipment.currency_id.name,
                    order=order.name,
                )
            )
