from odoo import api, fields, models

LINE_STATES = [
    ("to_reconcile", "To Reconcile"),
    ("reconciled", "Reconciled"),
    ("short", "Short"),
    ("unmatched", "Unmatched"),
    # The shipment's cash on delivery was remitted (collected) by earlier lines already: the
    # carrier paid it twice, or re-issued a remittance. Not paid in, not exported: a person's.
    ("remitted_before", "Remitted Before"),
]
PAYMENT_STATES = [
    ("to_post", "To Post"),
    ("waiting", "Waiting for Invoice"),
    ("posted", "Posted"),
    ("none", "Nothing to Post"),
]


class LogisticsCodRemittanceLine(models.Model):
    """One shipment of a COD remittance: the cash the carrier collected for it, what it
    deducted (its COD fee) and what it paid out, in the remittance's currency.

    The reconciliation writes the match (shipment), what was expected (the shipment's cash on
    delivery), the shortage, the ageing (days from collection to remittance) and the evidence;
    the payment registers ``remitted`` against the customer invoice of the shipment's order.
    """

    _name = "logistics.cod.remittance.line"
    _description = "Cash on Delivery Remittance Line"
    _order = "remittance_id, sequence, id"

    remittance_id = fields.Many2one(
        "logistics.cod.remittance", required=True, index=True, ondelete="cascade", readonly=True
    )
    sequence = fields.Integer(default=10, readonly=True)
    tracking_number = fields.Char(readonly=True, index="btree_not_null")
    shipment_ref = fields.Char(string="Shipment Reference", readonly=True)
    currency_id = fields.Many2one(related="remittance_id.currency_id", store=True)
    collected = fields.Monetary(readonly=True, help="What the carrier collected at the door.")
    deduction = fields.Monetary(
        string="Deducted", readonly=True, help="The carrier's COD fee and other deductions."
    )
    remitted = fields.Monetary(readonly=True, help="What the remittance pays for the shipment.")
    collected_at = fields.Date(
        string="Collected On", readonly=True, help="The collection date the carrier states."
    )
    shipment_id = fields.Many2one(
        "logistics.shipment", readonly=True, index="btree_not_null", ondelete="set null"
    )
    sale_id = fields.Many2one(related="shipment_id.sale_id", string="Sale Order")
    carrier_backend_id = fields.Many2one(related="remittance_id.carrier_backend_id", store=True)
    remittance_date = fields.Date(related="remittance_id.remittance_date", store=True)
    state = fields.Selection(
        LINE_STATES, default="to_reconcile", required=True, readonly=True, index=True
    )
    expected = fields.Monetary(
        readonly=True,
        help="The shipment's cash on delivery, in the remittance's currency (Odoo's rate of "
        "the remittance date).",
    )
    short_amount = fields.Monetary(
        string="Short",
        readonly=True,
        help="What is missing: collected less than expected, plus remitted less than "
        "collected minus deducted.",
    )
    ageing_days = fields.Integer(
        string="Ageing (days)",
        readonly=True,
        aggregator="max",
        help="Days from the collection to the remittance.",
    )
    late = fields.Boolean(
        readonly=True,
        help="Remitted more days after the collection than the billing backend's COD "
        "Remittance Days.",
    )
    note = fields.Text(string="Evidence", readonly=True)
    exception_id = fields.Many2one("logistics.exception", readonly=True, ondelete="set null")
    payment_state = fields.Selection(
        PAYMENT_STATES,
        default="to_post",
        required=True,
        readonly=True,
        index=True,
        help="To Post: the payment is still to register. Waiting for Invoice: the shipment's "
        "order has no posted invoice left to pay (a person has an activity); it is posted "
        "once there is one. Posted: the payment is registered against the invoice. Nothing "
        "to Post: no shipment, or nothing remitted.",
    )
    payment_id = fields.Many2one("account.payment", readonly=True, ondelete="set null")
    payment_note = fields.Char(readonly=True, help="Why the payment waits, or how it was booked.")
    company_id = fields.Many2one(related="remittance_id.company_id", store=True, index=True)

    @api.depends("remittance_id.name", "tracking_number", "shipment_ref")
    def _compute_display_name(self):
        for line in self:
            line.display_name = (
                f"{line.remittance_id.name} · {line.tracking_number or line.shipment_ref or '?'}"
            )
