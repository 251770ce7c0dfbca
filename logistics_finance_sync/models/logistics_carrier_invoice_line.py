from odoo import api, fields, models
from odoo.exceptions import UserError

CHARGE_CODES = [
    ("base", "Base Freight"),
    ("fuel", "Fuel Surcharge"),
    ("residential", "Residential Surcharge"),
    ("address_correction", "Address Correction"),
    ("reweigh", "Reweigh / Dimensional Weight"),
    ("other", "Other"),
]
# What the label's rate covers: EasyPost's rate is one total per parcel (base, fuel and the
# carrier's other included fees), so these charges are compared together, per package.
FREIGHT_CODES = ("base", "fuel", "other")
# Accessorial charges: not in the rate; each is judged by a tolerance rule of its own.
ACCESSORIAL_CODES = ("residential", "address_correction", "reweigh")

LINE_STATES = [
    ("to_audit", "To Audit"),
    ("reconciled", "Reconciled"),
    ("mismatch", "Mismatch"),
    ("unmatched", "Unmatched"),
    ("accepted", "Accepted"),
    ("disputed", "Disputed"),
    ("credited", "Credited"),
]
# Lines a person may accept as billed: a dispute the carrier refused closes so.
ACCEPTABLE_STATES = ("mismatch", "unmatched", "disputed")
# Lines billed as they are (the vendor bill books them); disputed lines are held back.
BILLABLE_STATES = ("reconciled", "accepted", "mismatch", "unmatched", "credited")


class LogisticsCarrierInvoiceLine(models.Model):
    """One charge of a carrier invoice: a tracking number or shipment reference, a charge code,
    an amount in the invoice's currency and the weight the carrier billed.

    The audit writes the match (shipment, package), what was expected, the variance and the
    evidence; a person accepts a mismatch or disputes it (held back from the bill until the
    carrier's credit note closes the dispute).
    """

    _name = "logistics.carrier.invoice.line"
    _description = "Carrier Freight Invoice Line"
    _order = "invoice_id, sequence, id"

    invoice_id = fields.Many2one(
        "logistics.carrier.invoice", required=True, index=True, ondelete="cascade", readonly=True
    )
    sequence = fields.Integer(default=10, readonly=True)
    tracking_number = fields.Char(readonly=True, index="btree_not_null")
    shipment_ref = fields.Char(string="Shipment Reference", readonly=True)
    charge_code = fields.Selection(CHARGE_CODES, required=True, readonly=True)
    description = fields.Char(readonly=True)
    service = fields.Char(readonly=True)
    currency_id = fields.Many2one(related="invoice_id.currency_id", store=True)
    amount = fields.Monetary(string="Billed", readonly=True)
    billed_weight = fields.Float(readonly=True, digits="Stock Weight")
    weight_unit = fields.Selection(
        [("kg", "kg"), ("g", "g"), ("lb", "lb"), ("oz", "oz")], readonly=True
    )
    billed_weight_kg = fields.Float(
        string="Billed Weight (kg)", readonly=True, digits="Stock Weight"
    )
    shipment_id = fields.Many2one(
        "logistics.shipment", readonly=True, index="btree_not_null", ondelete="set null"
    )
    package_id = fields.Many2one(
        "logistics.package", readonly=True, index="btree_not_null", ondelete="set null"
    )
    carrier_backend_id = fields.Many2one(related="invoice_id.carrier_backend_id", store=True)
    invoice_date = fields.Date(related="invoice_id.invoice_date", store=True)
    audit_state = fields.Selection(
        LINE_STATES, default="to_audit", required=True, readonly=True, index=True
    )
    expected_amount = fields.Monetary(
        string="Expected",
        readonly=True,
        help="Freight charges: the label's rate, on the package's first freight line (the "
        "rate is one total for base, fuel and other charges). Accessorial charges: the amount "
        "the evidence justifies (all of it, or nothing).",
    )
    variance = fields.Monetary(
        readonly=True, help="Billed minus expected, for the package's freight or this charge."
    )
    audit_note = fields.Text(string="Evidence", readonly=True)
    exception_id = fields.Many2one("logistics.exception", readonly=True, ondelete="set null")
    dispute_note = fields.Text(readonly=True)
    dispute_credit = fields.Monetary(
        string="Expected Credit", readonly=True, help="The credit asked of the carrier."
    )
    credited_amount = fields.Monetary(
        readonly=True, help="What the carrier's credit notes gave back for this line."
    )
    credit_line_ids = fields.One2many(
        "logistics.carrier.invoice.line", "credited_line_id", string="Credits"
    )
    credited_line_id = fields.Many2one(
        "logistics.carrier.invoice.line",
        string="Credits Line",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="On a credit note's line: the disputed line it credits.",
    )
    company_id = fields.Many2one(related="invoice_id.company_id", store=True, index=True)

    # --- a person's decisions ------------------------------------------------------------------
    def action_accept(self):
        """Accept mismatched, unmatched or disputed lines as billed (a dispute the carrier
        refused closes so): the bill books them (a further bill when their invoice's bill was
        made without them) and their shipments' actual freight counts them.

        :raises UserError: a line in another state
        :raises AccessError: a user who may not write the lines (Logistics Managers and
            Billing users may)"""
        for line in self:
            if line.audit_state not in ACCEPTABLE_STATES:
                raise UserError(
                    self.env._(
                        "Only a mismatched, unmatched or disputed line can be accepted; "
                        "%(line)s is %(state)s.",
                        line=line.display_name,
                        state=line.audit_state,
                    )
                )
        self.write({"audit_state": "accepted"})
        self.env["logistics.carrier.invoice.line"]._record_actual_freight(set(self.shipment_id.ids))
        self.invoice_id._message_log_batch(
            bodies={
                invoice.id: self.env._(
                    "%(count)s line(s) accepted as billed.",
                    count=len(self.filtered(lambda line, i=invoice: line.invoice_id == i)),
                )
                for invoice in self.invoice_id
            }
        )
        self.invoice_id._update_audit_state()
        self._close_settled_exceptions()
        return True

    def _dispute(self, note, credit):
        """Dispute these lines with the carrier: held back from the bill until a credit note
        closes the dispute.

        :param str note: why (shown to the carrier and in the invoice's chatter)
        :param float credit: the credit expected for all the lines, in the invoice's currency;
            spread over the lines in proportion of their variance (equally when none has
            one), the last line taking the rounding so that the lines ask ``credit`` in all
        :raises UserError: a line that is neither mismatched nor unmatched (a parcel we never
            shipped is disputed like an overcharge), or a credit that is not positive
        """
        if any(line.audit_state not in ("mismatch", "unmatched") for line in self):
            raise UserError(self.env._("Only mismatched or unmatched lines can be disputed."))
        if not note:
            raise UserError(self.env._("Say why the lines are disputed."))
        if credit <= 0:
            raise UserError(self.env._("The expected credit must be more than zero."))
        weights = [max(line.variance, 0.0) for line in self]
        if not any(weights):
            weights = [1.0] * len(self)
        total = sum(weights)
        left = credit
        for index, (line, weight) in enumerate(zip(self, weights, strict=True)):
            last = index == len(self) - 1
            share = left if last else line.currency_id.round(credit * weight / total)
            left -= share
            line.write({"audit_state": "disputed", "dispute_note": note, "dispute_credit": share})
        for invoice in self.invoice_id:
            invoice.message_post(
                body=self.env._(
                    "Disputed %(count)s line(s), expecting a credit of %(credit)s %(currency)s: "
                    "%(note)s",
                    count=len(self.filtered(lambda line, i=invoice: line.invoice_id == i)),
                    credit=round(credit, 2),
                    currency=invoice.currency_id.name,
                    note=note,
                )
            )
        self.invoice_id._update_audit_state()

    def action_open_dispute_wizard(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Dispute with the Carrier"),
            "res_model": "logistics.freight.dispute.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"active_model": self._name, "active_ids": self.ids},
        }

    def _close_settled_exceptions(self):
        """Close the freight exceptions whose lines are all settled (accepted, disputed,
        credited): a person decided, nothing is left to look at.

        As superuser: a Billing user works the lines without any right on
        ``logistics.exception`` (the closing is Odoo's, noted as such)."""
        exceptions = self.sudo().exception_id.filtered(lambda exception: not exception.is_closed)
        for exception in exceptions:
            open_lines = self.sudo().search_count(
                [
                    ("exception_id", "=", exception.id),
                    ("audit_state", "in", ("mismatch", "unmatched", "to_audit")),
                ]
            )
            if not open_lines:
                exception._close_automatically(
                    self.env._("Every line of the exception is accepted, disputed or credited.")
                )

    @api.depends("invoice_id.name", "tracking_number", "shipment_ref", "charge_code")
    def _compute_display_name(self):
        codes = dict(CHARGE_CODES)
        for line in self:
            line.display_name = (
                f"{line.invoice_id.name} · {line.tracking_number or line.shipment_ref or '?'} · "
                f"{codes.get(line.charge_code, '')}"
            )
