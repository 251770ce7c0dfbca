from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

AUDIT_STATES = [
    ("to_audit", "To Audit"),
    ("reconciled", "Reconciled"),
    ("exceptions", "Exceptions"),
    ("disputed", "Disputed"),
]


class LogisticsCarrierInvoice(models.Model):
    """A carrier's freight invoice (or credit note), as the carrier stated it, with its lines.

    Imported from a CSV file, an X12 210 or the carrier's billing API (each import is one
    inbound ``logistics.message``); the number is unique per carrier, so a second copy of an
    invoice is refused as a duplicate, never a second bill. The audit
    (``logistics.carrier.invoice.line._audit``) matches each line to its package and judges it
    against the label's rate with the carrier's tolerance rules.
    """

    _name = "logistics.carrier.invoice"
    _inherit = ["mail.thread"]
    _description = "Carrier Freight Invoice"
    _order = "invoice_date desc, id desc"

    name = fields.Char(string="Invoice Number", required=True, readonly=True, index=True)
    carrier_backend_id = fields.Many2one(
        "logistics.backend",
        string="Carrier",
        required=True,
        readonly=True,
        index=True,
        ondelete="restrict",
        help="The carrier backend whose labels the invoice bills: its tolerance rules apply.",
    )
    source_backend_id = fields.Many2one(
        "logistics.backend",
        string="Received From",
        readonly=True,
        ondelete="restrict",
        help="The backend the invoice came through (a billing API, a file drop).",
    )
    message_id = fields.Many2one(
        "logistics.message", string="Import Message", readonly=True, ondelete="set null"
    )
    carrier_name = fields.Char(string="Carrier on Invoice", readonly=True)
    invoice_date = fields.Date(required=True, readonly=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    amount_total = fields.Monetary(
        string="Total Stated", readonly=True, help="The total the carrier states on the invoice."
    )
    amount_billed = fields.Monetary(
        string="Billed", compute="_compute_amounts", store=True, help="The sum of the lines."
    )
    amount_expected = fields.Monetary(string="Expected", compute="_compute_amounts", store=True)
    amount_variance = fields.Monetary(string="Variance", compute="_compute_amounts", store=True)
    amount_disputed = fields.Monetary(string="Disputed", compute="_compute_amounts", store=True)
    credit_of_id = fields.Many2one(
        "logistics.carrier.invoice",
        string="Credit Note Of",
        readonly=True,
        index="btree_not_null",
        help="For a credit note: the invoice it credits.",
    )
    credit_note_ids = fields.One2many("logistics.carrier.invoice", "credit_of_id")
    line_ids = fields.One2many("logistics.carrier.invoice.line", "invoice_id", readonly=True)
    line_count = fields.Integer(compute="_compute_line_count")
    audit_state = fields.Selection(
        AUDIT_STATES,
        default="to_audit",
        required=True,
        readonly=True,
        index=True,
        tracking=True,
        help="To Audit: not audited yet. Reconciled: every line is within tolerance (or was "
        "accepted, or credited). Exceptions: a line is outside tolerance or matches no "
        "shipment. Disputed: a line is disputed with the carrier, waiting for its credit note.",
    )
    audited_at = fields.Datetime(readonly=True)
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )

    _number_per_carrier_uniq = models.Constraint(
        "unique (carrier_backend_id, name)",
        "An invoice number is unique per carrier: a second copy is a duplicate, not a second bill.",
    )

    @api.depends(
        "line_ids.amount",
        "line_ids.expected_amount",
        "line_ids.variance",
        "line_ids.audit_state",
        "line_ids.dispute_credit",
    )
    def _compute_amounts(self):
        for invoice in self:
            lines = invoice.line_ids
            invoice.amount_billed = sum(lines.mapped("amount"))
            invoice.amount_expected = sum(lines.mapped("expected_amount"))
            invoice.amount_variance = sum(lines.mapped("variance"))
            invoice.amount_disputed = sum(
                lines.filtered(lambda line: line.audit_state == "disputed").mapped("dispute_credit")
            )

    def _compute_line_count(self):
        counts = dict(
            self.env["logistics.carrier.invoice.line"]._read_group(
                [("invoice_id", "in", self.ids)], ["invoice_id"], ["__count"]
            )
        )
        for invoice in self:
            invoice.line_count = counts.get(invoice, 0)

    def _update_audit_state(self):
        """Set each invoice's audit state from its lines (``AUDIT_STATES``'s help gives the
        rule), in one statement, and recompute its amounts."""
        if not self:
            return
        self.env["logistics.carrier.invoice.line"].flush_model(["audit_state", "invoice_id"])
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_carrier_invoice i
                   SET audit_state = CASE
                           WHEN a.to_audit THEN 'to_audit'
                           WHEN a.exceptions THEN 'exceptions'
                           WHEN a.disputed THEN 'disputed'
                           ELSE 'reconciled' END,
                       audited_at = CASE WHEN a.to_audit THEN i.audited_at
                                         ELSE now() AT TIME ZONE 'UTC' END
                  FROM (SELECT invoice_id,
                               bool_or(audit_state = 'to_audit') AS to_audit,
                               bool_or(audit_state IN ('mismatch', 'unmatched')) AS exceptions,
                               bool_or(audit_state = 'disputed') AS disputed
                          FROM logistics_carrier_invoice_line
                         WHERE invoice_id = ANY(%s)
                         GROUP BY invoice_id) a
                 WHERE i.id = a.invoice_id
                """,
                self.ids,
            )
        )
        self.invalidate_recordset(["audit_state", "audited_at"])
        for name in ("amount_billed", "amount_expected", "amount_variance", "amount_disputed"):
            self.env.add_to_compute(self._fields[name], self)
        self.flush_recordset()

    # --- creating and auditing -----------------------------------------------------------------
    @api.model
    def _create_from_document(self, document, carrier, source, message):
        """A carrier invoice from a canonical invoice document (see ``adapters``).

        :param dict document: {"invoice_number", "invoice_date", "currency", "total",
            "carrier", "credit_of", "lines": [{"tracking_number", "shipment_ref",
            "charge_code", "amount", "billed_weight", "weight_unit", "description",
            "service"}]}
        :param carrier: the carrier backend billed
        :param source: the backend it came through
        :param message: the inbound message that carried it
        :return: the new invoice
        :raises UserError: an unknown currency code
        """
        currency = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", document["currency"])], limit=1)
        )
        if not currency:
            raise UserError(self.env._("Unknown currency %(code)s.", code=document["currency"]))
        credited = self.browse()
        if document.get("credit_of"):
            credited = self.search(
                [("carrier_backend_id", "=", carrier.id), ("name", "=", document["credit_of"])],
                limit=1,
            )
        kg_per_unit = self.env["logistics.carrier.invoice.line"]._kg_per_unit()
        return self.create(
            {
                "name": document["invoice_number"],
                "carrier_backend_id": carrier.id,
                "source_backend_id": source.id,
                "message_id": message.id,
                "carrier_name": document.get("carrier"),
                "invoice_date": document["invoice_date"],
                "currency_id": currency.id,
                "amount_total": document["total"],
                "credit_of_id": credited.id,
                "company_id": source.company_id.id,
                "line_ids": [
                    Command.create(
                        {
                            "sequence": index,
                            "tracking_number": line.get("tracking_number"),
                            "shipment_ref": line.get("shipment_ref"),
                            "charge_code": line["charge_code"],
                            "amount": line["amount"],
                            "billed_weight": line.get("billed_weight") or 0.0,
                            "weight_unit": line.get("weight_unit"),
                            "billed_weight_kg": (line.get("billed_weight") or 0.0)
                            * kg_per_unit.get(line.get("weight_unit") or "kg", 1.0),
                            "description": line.get("description"),
                            "service": line.get("service"),
                        }
                    )
                    for index, line in enumerate(document["lines"])
                ],
            }
        )

    def _enqueue_audit(self):
        """Queue the batch audit (one job at a time: it audits every invoice still to audit),
        on the channel and priority of the ``freight_reconciliation`` flow."""
        options = self.env["logistics.flow"]._job_options(
            "freight_reconciliation", self.env["logistics.backend"]
        )
        self.with_delay(
            **options,
            description="Audit carrier invoices",
            identity_key="logistics-freight-audit",
        )._audit_pending()

    @api.model
    def _audit_pending(self):
        """Job and nightly batch: audit every invoice with lines still to audit.

        :return: a summary (str)"""
        invoices = self.sudo().search([("line_ids.audit_state", "=", "to_audit")])
        if not invoices:
            return "nothing to audit"
        return str(self.env["logistics.carrier.invoice.line"]._audit(invoices))

    def action_audit(self):
        """Audit the lines still to audit now, rather than at the nightly batch.

        :raises AccessError: a user who may not write these invoices (Logistics Managers and
            Billing users may; a Logistics User reads them only): the audit itself runs as
            superuser, so the right is checked first"""
        self.check_access("write")
        self.env["logistics.carrier.invoice.line"]._audit(self)
        return True

    def action_open_lines(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "logistics_finance_sync.logistics_carrier_invoice_line_action"
        )
        action["domain"] = [("invoice_id", "=", self.id)]
        action["context"] = {"search_default_group_by_audit_state": 1}
        return action
