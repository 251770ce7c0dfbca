from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError

REMITTANCE_STATES = [
    ("to_reconcile", "To Reconcile"),
    ("reconciled", "Reconciled"),
    ("exceptions", "Exceptions"),
]
# Who registers the payments of a remittance by hand: Odoo's Billing group (a payment is an
# accounting entry), or the suite's own code running as superuser.
BILLING_GROUP = "account.group_account_invoice"


class LogisticsCodRemittance(models.Model):
    """A carrier's cash-on-delivery remittance: what it paid out, shipment by shipment, for the
    cash it collected at the door, less its deductions (its COD fee).

    Imported from the billing API (``GET /v1/remittances``) or a CSV file of the billing
    backend's drop directory (each import is one inbound ``logistics.message``); the number is
    unique per carrier, so a second copy is refused as a duplicate, never a second payment.
    The reconciliation (``logistics.cod.remittance.line._reconcile``) matches each line to its
    shipment and compares expected, collected, deducted and remitted; each line is then posted
    as a payment against the customer invoice of the shipment's sale order
    (``logistics.cod.remittance.line._post_payments``).
    """

    _name = "logistics.cod.remittance"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _description = "Cash on Delivery Remittance"
    _order = "remittance_date desc, id desc"

    name = fields.Char(string="Remittance Number", required=True, readonly=True, index=True)
    carrier_backend_id = fields.Many2one(
        "logistics.backend",
        string="Carrier",
        required=True,
        readonly=True,
        index=True,
        ondelete="restrict",
        help="The carrier that collected the cash and pays it out.",
    )
    source_backend_id = fields.Many2one(
        "logistics.backend",
        string="Received From",
        readonly=True,
        ondelete="restrict",
        help="The billing backend the remittance came through: its COD settings (days, "
        "tolerance, bank journal, fee account) apply.",
    )
    message_id = fields.Many2one(
        "logistics.message", string="Import Message", readonly=True, ondelete="set null"
    )
    remittance_date = fields.Date(required=True, readonly=True, help="When the carrier paid.")
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    amount_total = fields.Monetary(
        string="Total Paid", readonly=True, help="What the carrier states it paid out."
    )
    amount_expected = fields.Monetary(string="Expected", compute="_compute_amounts", store=True)
    amount_collected = fields.Monetary(string="Collected", compute="_compute_amounts", store=True)
    amount_deduction = fields.Monetary(string="Deducted", compute="_compute_amounts", store=True)
    amount_remitted = fields.Monetary(string="Remitted", compute="_compute_amounts", store=True)
    amount_short = fields.Monetary(string="Short", compute="_compute_amounts", store=True)
    line_ids = fields.One2many("logistics.cod.remittance.line", "remittance_id", readonly=True)
    line_count = fields.Integer(compute="_compute_line_count")
    payment_ids = fields.Many2many(
        "account.payment", string="Payments", compute="_compute_payment_ids"
    )
    state = fields.Selection(
        REMITTANCE_STATES,
        compute="_compute_state",
        store=True,
        index=True,
        tracking=True,
        help="To Reconcile: lines not reconciled yet. Exceptions: a line is short, matches "
        "no shipment or pays a shipment remitted before (a cod_mismatch exception tells). "
        "Reconciled: every line is as expected.",
    )
    reconciled_at = fields.Datetime(readonly=True)
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )

    _number_per_carrier_uniq = models.Constraint(
        "unique (carrier_backend_id, name)",
        "A remittance number is unique per carrier: a second copy is a duplicate, not a second "
        "payment.",
    )

    @api.depends(
        "line_ids.expected",
        "line_ids.collected",
        "line_ids.deduction",
        "line_ids.remitted",
        "line_ids.short_amount",
    )
    def _compute_amounts(self):
        for remittance in self:
            lines = remittance.line_ids
            remittance.amount_expected = sum(lines.mapped("expected"))
            remittance.amount_collected = sum(lines.mapped("collected"))
            remittance.amount_deduction = sum(lines.mapped("deduction"))
            remittance.amount_remitted = sum(lines.mapped("remitted"))
            remittance.amount_short = sum(lines.mapped("short_amount"))

    @api.depends("line_ids.state")
    def _compute_state(self):
        """The one place the remittance's state is decided, from its lines' (see ``state``)."""
        for remittance in self:
            states = set(remittance.line_ids.mapped("state"))
            if not states or "to_reconcile" in states:
                remittance.state = "to_reconcile"
            elif states & {"short", "unmatched", "remitted_before"}:
                remittance.state = "exceptions"
            else:
                remittance.state = "reconciled"

    def _compute_line_count(self):
        counts = dict(
            self.env["logistics.cod.remittance.line"]._read_group(
                [("remittance_id", "in", self.ids)], ["remittance_id"], ["__count"]
            )
        )
        for remittance in self:
            remittance.line_count = counts.get(remittance, 0)

    def _compute_payment_ids(self):
        for remittance in self:
            remittance.payment_ids = remittance.line_ids.payment_id

    # --- creating and reconciling --------------------------------------------------------------
    @api.model
    def _create_from_document(self, document, carrier, source, message):
        """A remittance from a canonical COD remittance document (see ``adapters``).

        :param dict document: {"remittance_number", "remittance_date", "currency", "total",
            "lines": [{"tracking_number", "shipment_ref", "collected", "deduction",
            "remitted", "collected_at"}]}, money as floats in the document's currency
        :param carrier: the carrier backend that paid it
        :param source: the billing backend it came through
        :param message: the inbound message that carried it
        :return: the new remittance
        :raises UserError: an unknown currency code
        """
        currency = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", document["currency"])], limit=1)
        )
        if not currency:
            raise UserError(self.env._("Unknown currency %(code)s.", code=document["currency"]))
        return self.create(
            {
                "name": document["remittance_number"],
                "carrier_backend_id": carrier.id,
                "source_backend_id": source.id,
                "message_id": message.id,
                "remittance_date": document["remittance_date"],
                "currency_id": currency.id,
                "amount_total": document["total"],
                "company_id": source.company_id.id,
                "line_ids": [
                    Command.create(
                        {
                            "sequence": index,
                            "tracking_number": line.get("tracking_number"),
                            "shipment_ref": line.get("shipment_ref"),
                            "collected": line["collected"],
                            "deduction": line["deduction"],
                            "remitted": line["remitted"],
                            "collected_at": line.get("collected_at"),
                        }
                    )
                    for index, line in enumerate(document["lines"])
                ],
            }
        )

    def _enqueue_reconciliation(self):
        """Queue the batch reconciliation (one job at a time: it reconciles every remittance
        still to reconcile), on the channel and priority of the ``cod_reconciliation`` flow."""
        options = self.env["logistics.flow"]._job_options(
            "cod_reconciliation", self.env["logistics.backend"]
        )
        self.with_delay(
            **options,
            description="Reconcile COD remittances",
            identity_key="logistics-cod-reconciliation",
        )._reconcile_pending()

    @api.model
    def _reconcile_pending(self):
        """Job and daily batch: reconcile every remittance with lines still to reconcile, then
        post the payments of what was reconciled.

        :return: a summary (str)"""
        remittances = self.sudo().search([("line_ids.state", "=", "to_reconcile")])
        if not remittances:
            return "nothing to reconcile"
        return str(self.env["logistics.cod.remittance.line"]._reconcile(remittances))

    def action_reconcile(self):
        """Reconcile the lines still to reconcile now, rather than at the daily batch.

        :raises AccessError: neither a Logistics Manager nor in Odoo's Billing group"""
        self._check_may_post()
        self.env["logistics.cod.remittance.line"]._reconcile(self.sudo())
        return True

    def action_post_payments(self):
        """Register the payments of the lines that wait for theirs (an invoice posted since,
        a bank journal set since).

        :raises AccessError: neither a Logistics Manager nor in Odoo's Billing group"""
        self._check_may_post()
        self.sudo().line_ids._post_payments()
        return True

    def _check_may_post(self):
        """The caller may reconcile these remittances and register their payments: a
        Logistics Manager or a Billing user, who may write them (the multi-company rule: the
        work that follows runs in sudo, past it, in the remittances' company).

        :raises AccessError: neither group, or a remittance the caller can't write (another
            company's)"""
        if self.env.su:
            return
        if not (
            self.env.user.has_group(BILLING_GROUP)
            or self.env.user.has_group("logistics_integration_base.group_logistics_manager")
        ):
            raise AccessError(
                self.env._(
                    "Only Logistics Managers and Billing users can reconcile remittances and "
                    "register their payments."
                )
            )
        self.check_access("write")

    def action_open_lines(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "logistics_finance_sync.logistics_cod_remittance_line_action"
        )
        action["domain"] = [("remittance_id", "=", self.id)]
        action["context"] = {"search_default_group_by_state": 1}
        return action

    def action_open_payments(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Payments of %(name)s", name=self.name),
            "res_model": "account.payment",
            "view_mode": "list,form",
            "domain": [("id", "in", self.payment_ids.ids)],
        }
