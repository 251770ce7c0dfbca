import logging
from collections import defaultdict

from odoo import Command, api, fields, models
from odoo.exceptions import UserError

from .logistics_carrier_invoice_line import CHARGE_CODES

_logger = logging.getLogger(__name__)

# Lines the vendor bill books: decided and not held back (disputed lines wait for the
# carrier's credit note).
BILLED_STATES = ("reconciled", "accepted")


class LogisticsCarrierInvoice(models.Model):
    """The vendor bill of a carrier invoice (Odoo's ``in_invoice``), once no line is left to
    decide: one bill line per charge and analytic account, on the carrier's freight expense
    account, disputed lines held back. A credit note that closes disputes bills what is left of
    the disputed lines (billed minus credited), if anything."""

    _inherit = "logistics.carrier.invoice"

    move_id = fields.Many2one(
        "account.move", string="Vendor Bill", readonly=True, copy=False, index="btree_not_null"
    )
    move_state = fields.Selection(related="move_id.state", string="Bill Status")
    billed = fields.Boolean(
        string="Bill Made",
        readonly=True,
        copy=False,
        index=True,
        help="Its vendor bill is made, or there was nothing to bill (every line disputed, a "
        "credit note crediting all it closed): the billing batch leaves it alone.",
    )

    def _enqueue_billing(self):
        """Queue the vendor bills of the invoices left to bill (one job at a time)."""
        options = self.env["logistics.flow"]._job_options(
            "freight_reconciliation", self.env["logistics.backend"]
        )
        self.with_delay(
            **options,
            description="Vendor bills of carrier invoices",
            identity_key="logistics-freight-bills",
        )._bill_pending()

    @api.model
    def _bill_pending(self):
        """Job (and nightly batch): the vendor bill of every invoice whose lines are all
        decided (reconciled, or disputed) and that is not billed yet; an invoice whose carrier
        lacks a setting raises ``freight_posting_failed`` and waits for the next batch, and
        the exception closes once nothing of its carrier waits.

        :return: a summary (str)"""
        invoices = self.sudo().search(
            [("audit_state", "in", ("reconciled", "disputed")), ("billed", "=", False)]
        )
        billed = failed = 0
        for invoice in invoices:
            try:
                with self.env.cr.savepoint():
                    invoice._create_vendor_bill()
                billed += 1
            except UserError as error:
                failed += 1
                invoice._raise_posting_failed(str(error))
        invoices._close_posting_failed()
        return f"{billed} bill(s), {failed} waiting for settings"

    def _close_posting_failed(self):
        """Close the carrier's open ``freight_posting_failed`` of vendor bills once none of
        its invoices waits for a bill any more: the setting was fixed, what waited is
        billed."""
        carriers = self.carrier_backend_id
        waiting = self.sudo().search(
            [
                ("carrier_backend_id", "in", carriers.ids),
                ("audit_state", "in", ("reconciled", "disputed")),
                ("billed", "=", False),
            ]
        )
        Exception_ = self.env["logistics.exception"].sudo()
        for carrier in carriers - waiting.carrier_backend_id:
            failed = Exception_.search(
                [
                    ("type_code", "=", "freight_posting_failed"),
                    ("backend_id", "=", carrier.id),
                    ("is_closed", "=", False),
                    ("grouping_key", "like", f"%|bill:{carrier.id}:%"),
                ]
            )
            if failed:
                failed._close_automatically(
                    self.env._(
                        "Every invoice of %(carrier)s that waited is billed.", carrier=carrier.name
                    )
                )

    def _raise_posting_failed(self, reason):
        self.ensure_one()
        self.env["logistics.exception"].sudo()._raise(
            "freight_posting_failed",
            [
                {
                    "name": self.env._("%(invoice)s: vendor bill not created", invoice=self.name),
                    "backend_id": self.carrier_backend_id.id,
                    "cause": f"bill:{self.carrier_backend_id.id}:{reason}"[:200],
                    "occurrence": self.name,
                    "description": reason,
                    "company_id": self.company_id.id,
                }
            ],
        )

    def _lines_to_bill(self):
        """The lines a bill of this invoice books now: reconciled and accepted lines, and a
        credit note's lines closing a dispute, that no earlier bill booked (a disputed line
        accepted after the invoice's bill was made is booked by a further bill)."""
        self.ensure_one()
        return self.line_ids.filtered(
            lambda line: (
                not line.bill_id and (line.credited_line_id or line.audit_state in BILLED_STATES)
            )
        )

    def _bill_amounts(self):
        """{(analytic account, charge code): amount}: what the bill books, in the invoice's
        currency: the reconciled and accepted lines (a credit note's are negative), and for
        each disputed line a credit note closes, the line's amount minus the credit; lines an
        earlier bill booked are left out (``_lines_to_bill``)."""
        self.ensure_one()
        amounts = defaultdict(float)
        for line in self._lines_to_bill():
            if line.credited_line_id:  # a credit note's line closing a dispute
                disputed = line.credited_line_id
                key = (disputed._analytic_account(), disputed.charge_code)
                amounts[key] += disputed.amount + line.amount
            elif line.audit_state in BILLED_STATES:  # incl. a credit a person accepted
                amounts[line._analytic_account(), line.charge_code] += line.amount
        return {key: amount for key, amount in amounts.items() if self.currency_id.round(amount)}

    def _create_vendor_bill(self):
        """Create (and post, if the carrier says so) this invoice's vendor bill of the lines
        no bill booked yet; the invoice's Vendor Bill stays its first.

        The bill's invoice date is the carrier's. Its accounting date too, except for a
        carrier on the accrual model: the day the bill is made (never before the invoice
        date), as the accruals up to yesterday counted the shipments it books
        (``_accrued_shipments``); booked on the invoice date, a bill received after the
        month's end would book November's freight a second time in November.

        :return: the bill, or an empty recordset when there is nothing to bill (a credit note
            that credits all it closed)
        :raises UserError: the carrier's vendor, journal or expense account is not set
        """
        self.ensure_one()
        carrier = self.carrier_backend_id
        accounts = carrier._require_freight_accounts(["journal", "expense"])
        lines = self._lines_to_bill()
        amounts = self._bill_amounts()
        Move = self.env["account.move"].sudo()
        if not amounts:
            self.billed = True
            return Move
        codes = dict(CHARGE_CODES)
        total = sum(amounts.values())
        move = Move.with_company(self.company_id).create(
            {
                "move_type": "in_invoice" if total > 0 else "in_refund",
                "partner_id": carrier.freight_vendor_id.id,
                "journal_id": accounts["journal"].id,
                "invoice_date": self.invoice_date,
                "date": max(self.invoice_date, fields.Date.context_today(self))
                if carrier.freight_accounting == "accrual"
                else self.invoice_date,
                "ref": self.name,
                "currency_id": self.currency_id.id,
                "invoice_origin": self.credit_of_id.name or self.name,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": " · ".join(
                                filter(None, [codes[code], self.name, analytic.name])
                            ),
                            "account_id": accounts["expense"].id,
                            "quantity": 1,
                            "price_unit": amount if total > 0 else -amount,
                            "tax_ids": [Command.clear()],
                            "analytic_distribution": carrier._analytic_distribution(analytic),
                        }
                    )
                    for (analytic, code), amount in sorted(
                        amounts.items(), key=lambda item: (item[0][0].id or 0, item[0][1])
                    )
                ],
            }
        )
        if carrier.freight_bill_state == "posted":
            move.action_post()
        self.write({"move_id": self.move_id.id or move.id, "billed": True})
        (lines | lines.credited_line_id).write({"bill_id": move.id})
        held = self.line_ids.filtered(lambda line: line.audit_state == "disputed")
        self.message_post(
            body=self.env._(
                "Vendor bill %(bill)s created (%(state)s)%(held)s.",
                bill=move._get_html_link(),
                state=dict(move._fields["state"].selection)[move.state],
                held=self.env._(
                    "; %(count)s disputed line(s) held back (%(amount)s)",
                    count=len(held),
                    amount=self.currency_id.round(sum(held.mapped("amount"))),
                )
                if held
                else "",
            )
        )
        return move

    def _update_audit_state(self):
        result = super()._update_audit_state()
        if self.filtered(
            lambda invoice: invoice.audit_state in ("reconciled", "disputed") and not invoice.billed
        ):
            self._enqueue_billing()
        return result

    def action_open_bill(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "res_id": self.move_id.id,
            "view_mode": "form",
        }


class LogisticsCarrierInvoiceLine(models.Model):
    _inherit = "logistics.carrier.invoice.line"

    bill_id = fields.Many2one(
        "account.move",
        string="Booked By",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="set null",
        help="The vendor bill that booked this line (a disputed line: the bill of the credit "
        "note that closed it, or a further bill once accepted).",
    )

    def action_accept(self):
        # A disputed line was held back from its invoice's bill: accepted, a further bill
        # books it (the billing batch takes the invoice again).
        held = self.filtered(lambda line: line.audit_state == "disputed" and not line.bill_id)
        held.invoice_id.filtered("billed").write({"billed": False})
        return super().action_accept()

    def _analytic_account(self):
        """The analytic account of this line's freight, by its carrier's setting: its
        shipment's warehouse's or sales channel's (an empty recordset without one)."""
        self.ensure_one()
        by = self.invoice_id.carrier_backend_id.freight_analytic_by
        shipment = self.shipment_id
        if by == "warehouse":
            return shipment.warehouse_id.logistics_analytic_account_id
        if by == "channel":
            return shipment.channel_id.logistics_analytic_account_id
        return self.env["account.analytic.account"]
