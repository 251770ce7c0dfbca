from collections import Counter
from functools import partial
from pathlib import Path

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_access import check_manager

from ..adapters import freight_billing, invoice_csv
from .logistics_backend import REMITTANCE_FILE_PREFIX, _move_to_processed
from .logistics_backend import LogisticsBackend as InvoiceBackend

REMITTANCE_OPERATION = "cod_remittance"
# Days a carrier has to pay out the cash it collected before a remittance is missing (late).
DEFAULT_REMITTANCE_DAYS = 7


class LogisticsBackend(models.Model):
    """Carrier billing backends, cash on delivery: where a carrier's COD remittances come from
    (``GET /v1/remittances`` of its billing API, or ``remittance*.csv`` files in its drop
    directory), and how they are reconciled and paid in (days, tolerance, bank journal, fee
    account). Each remittance is one inbound message (operation ``cod_remittance``) whose
    partner event id is its number: a copy received again by the same path is absorbed by the
    message store, a copy by another path is refused by the remittance's unique number per
    carrier; both raise ``duplicate_message``, as invoices do."""

    _inherit = "logistics.backend"
    _audit_ignored_fields = (*InvoiceBackend._audit_ignored_fields, "cod_remittance_cursor")

    cod_remittance_cursor = fields.Char(
        string="Last Remittance Read",
        readonly=True,
        copy=False,
        help="Billing API: the id of the last remittance read; the next import asks for those "
        "after it.",
    )
    cod_remittance_days = fields.Integer(
        string="COD Remittance Days",
        default=DEFAULT_REMITTANCE_DAYS,
        help="Days the carrier has to remit the cash it collected: a shipment collected (or "
        "delivered with a cash on delivery) longer ago without a remittance line raises a "
        "cod_mismatch 'missing', and a line remitted later is noted late.",
    )
    cod_currency_id = fields.Many2one(related="company_id.currency_id", string="COD Currency")
    cod_tolerance = fields.Monetary(
        string="COD Tolerance",
        currency_field="cod_currency_id",
        help="A remittance line is short when it misses more than this (in the company's "
        "currency): collected less than expected, or remitted less than collected minus "
        "deducted.",
    )
    cod_journal_id = fields.Many2one(
        "account.journal",
        string="COD Bank Journal",
        domain=[("type", "in", ("bank", "cash"))],
        check_company=True,
        help="The journal the carrier's remittances are paid into: each line is registered "
        "as a payment of it against the customer invoice.",
    )
    cod_fee_account_id = fields.Many2one(
        "account.account",
        string="COD Fee Account",
        check_company=True,
        help="Expense account of the carrier's COD deductions: written off on the invoice "
        "when the remittance plus its deduction settles it.",
    )
    cod_remittance_count = fields.Integer(compute="_compute_cod_remittance_count")

    _cod_remittance_days_positive = models.Constraint(
        "check (cod_remittance_days >= 0)", "COD Remittance Days is zero or more."
    )

    def _compute_cod_remittance_count(self):
        counts = dict(
            self.env["logistics.cod.remittance"]._read_group(
                [("source_backend_id", "in", self.ids)], ["source_backend_id"], ["__count"]
            )
        )
        for backend in self:
            backend.cod_remittance_count = counts.get(backend, 0)

    def action_open_cod_remittances(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "logistics_finance_sync.logistics_cod_remittance_action"
        )
        action["domain"] = [("source_backend_id", "=", self.id)]
        return action

    # --- importing -------------------------------------------------------------------------------
    def action_import_cod_remittances(self):
        """Import the remittances waiting now rather than at the daily batch.

        :raises AccessError: not a Logistics Manager (the call sends the carrier's credentials)
        :raises UserError: a backend that is no carrier billing backend
        """
        check_manager(self.env, self.env._("import COD remittances"))
        said = [backend._import_cod_remittances() for backend in self]
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": self.env._("COD remittances"), "message": "\n".join(said)},
        }

    @api.model
    def _cron_import_cod_remittances(self):
        """Daily batch (flow ``cod_reconciliation``): import the remittances of every carrier
        billing backend that is not paused; their reconciliation follows as a job.

        :return: the number of backends asked"""
        backends = self.search([("adapter", "=", "freight_billing"), ("paused", "=", False)])
        for backend in backends:
            backend._import_cod_remittances()
        return len(backends)

    def _import_cod_remittances(self):
        """Ask the billing API for the remittances after the cursor (an outbound GET message;
        its answer is imported when delivered), or read the drop directory's remittance files.

        :return: what was done, for a person (str)
        :raises UserError: not a carrier billing backend, or without its carrier
        """
        self.ensure_one()
        self._check_billing_backend()
        if self.protocol == "file":
            names = self._import_remittance_files()
            return self.env._(
                "%(backend)s: %(count)s remittance file(s) read.",
                backend=self.name,
                count=len(names),
            )
        message = (
            self.env["logistics.message"]
            .sudo()
            ._create_outbound(
                self,
                "cod_remittance_fetch",
                None,
                endpoint=freight_billing.page_path(
                    freight_billing.REMITTANCES_PATH, self.cod_remittance_cursor
                ),
                http_method="GET",
            )
        )
        return self.env._(
            "%(backend)s: remittances asked for (message %(message)s).",
            backend=self.name,
            message=message.name,
        )

    def _check_billing_backend(self):
        if self.adapter != "freight_billing":
            raise UserError(
                self.env._("%(backend)s is no carrier billing backend.", backend=self.name)
            )
        if not self.billed_carrier_id:
            raise UserError(
                self.env._(
                    "%(backend)s doesn't say which carrier it bills: set its Carrier Billed.",
                    backend=self.name,
                )
            )

    def _store_cod_remittances(self, remittances, raw_by_number, source):
        """Store canonical remittances (``freight_billing`` / ``invoice_csv`` documents) as
        inbound messages, one per remittance, and queue their processing.

        :param list remittances: canonical COD remittance documents
        :param dict raw_by_number: {remittance number: the partner's text of it}, kept on the
            message
        :param str source: where they came from, for the message (``api``, a file name)
        :return: (stored messages, duplicates: the numbers received before)
        """
        self.ensure_one()
        Message = self.env["logistics.message"].sudo()
        stored, duplicates = Message, []
        job_pending = None
        for document in remittances:
            number = document["remittance_number"]
            message_id, job_pending = Message._store_inbound(
                self,
                operation=REMITTANCE_OPERATION,
                payload=dict(document, source=source),
                raw=(raw_by_number.get(number) or "")[:65536],
                partner_event_id=f"remittance:{number}",
                correlation_id=None,
            )
            if message_id:
                stored |= Message.browse(message_id)
            else:
                duplicates.append(number)
        if duplicates:
            self._raise_duplicate_remittances(duplicates, source)
        if stored:
            self._enqueue_inbound_processing(stored, job_pending=job_pending)
        return stored, duplicates

    def _raise_duplicate_remittances(self, numbers, source):
        """A second copy of a remittance is never a second payment: it is refused, and a
        person is told (``duplicate_message``, one per backend and number, a copy again being
        an occurrence of it)."""
        carrier = (self.billed_carrier_id or self).name
        self.env["logistics.exception"].sudo()._raise(
            "duplicate_message",
            [
                {
                    "name": self.env._(
                        "%(carrier)s COD remittance %(number)s received again",
                        carrier=carrier,
                        number=number,
                    ),
                    "backend_id": self.id,
                    "source_event_id": f"remittance:{number}",
                    "cause": f"remittance:{number}",
                    "occurrence": self.env._("Received again (%(origin)s)", origin=source),
                    "description": self.env._(
                        "COD remittance %(number)s of %(carrier)s came again (%(origin)s). It "
                        "was imported once and is paid in once: this copy was refused.",
                        number=number,
                        carrier=carrier,
                        origin=source,
                    ),
                    "company_id": self.company_id.id,
                }
                for number in numbers
            ],
        )

    def _import_remittance_files(self):
        """Import the remittance files of inbound/ (``remittance*.csv``, oldest name first),
        moved to inbound/processed once the transaction commits; a file that can't be read is
        one rejected message with the reason.

        :return: the names of the files read (list of str)"""
        self.ensure_one()
        if not self.freight_drop_dir:
            raise UserError(
                self.env._("%(backend)s has no invoice drop directory.", backend=self.name)
            )
        inbound = Path(self.freight_drop_dir, "inbound")
        if not inbound.is_dir():
            return []
        paths = sorted(
            path
            for path in inbound.iterdir()
            if path.is_file()
            and path.name.lower().startswith(REMITTANCE_FILE_PREFIX)
            and path.suffix.lower() == ".csv"
        )
        for path in paths:
            self._import_remittance_text(path.read_bytes(), path.name)
            self.env.cr.postcommit.add(partial(_move_to_processed, path))
        return [path.name for path in paths]

    def _import_remittance_text(self, raw, file_name):
        """Import one remittance CSV file (``invoice_csv.remittances``).

        :param bytes raw: the file's content
        :param str file_name: its name, for the messages and exceptions
        :return: (stored messages, duplicate numbers, the parser's refusal or None); a file
            that can't be parsed is kept as one rejected message with the parser's reason, and
            nothing of it is imported
        """
        self.ensure_one()
        text = raw.decode("utf-8", "replace")
        try:
            documents = invoice_csv.remittances(raw)
        except ValueError as error:  # not UTF-8 included
            self.env["logistics.message"].sudo().create(
                {
                    "direction": "inbound",
                    "backend_id": self.id,
                    "operation": REMITTANCE_OPERATION,
                    "state": "rejected",
                    "error_class": "business",
                    "error": f"{file_name}: {error}",
                    "request_body": text[:65536],
                    "company_id": self.company_id.id,
                }
            )
            return self.env["logistics.message"], [], f"{file_name}: {error}"
        stored, duplicates = self._store_cod_remittances(
            documents, {document["remittance_number"]: text for document in documents}, file_name
        )
        return stored, duplicates, None

    # --- applying --------------------------------------------------------------------------------
    def _apply_inbound(self, messages):
        """COD remittance messages become remittances (``_apply_cod_remittance``), then are
        reconciled by a job; the others go on as before (invoices, events)."""
        remittances = messages.filtered(lambda message: message.operation == REMITTANCE_OPERATION)
        others = messages - remittances
        counts = super()._apply_inbound(others) if others else Counter()
        created = self.env["logistics.cod.remittance"]
        for message in remittances:
            remittance, duplicate = self._apply_cod_remittance(message)
            if remittance:
                created |= remittance
                message._set_state("done")
            else:
                message._set_state("ignored", error=duplicate)
        if created:
            created._enqueue_reconciliation()
        counts["accepted"] += len(created)
        counts["duplicates"] += len(remittances) - len(created)
        return counts

    def _apply_cod_remittance(self, message):
        """Create the remittance a message carries; a number the carrier used before
        (received by another path) raises ``duplicate_message`` and creates nothing.

        :return: (the remittance or an empty recordset, why nothing was created or None)"""
        Remittance = self.env["logistics.cod.remittance"].sudo()
        document = message.payload
        carrier = self.billed_carrier_id
        number = document["remittance_number"]
        if Remittance.search_count(
            [("carrier_backend_id", "=", carrier.id), ("name", "=", number)], limit=1
        ):
            self._raise_duplicate_remittances([number], document.get("source") or "")
            return Remittance, self.env._(
                "A copy of COD remittance %(number)s, imported before: not paid in again.",
                number=number,
            )
        return Remittance._create_from_document(document, carrier, self, message), None

    # --- the daily batch -----------------------------------------------------------------------
    @api.model
    def _cron_cod_reconciliation(self):
        """Daily batch, after the imports: reconcile the remittances still to reconcile,
        raise or age the missing ones (``_age_missing_remittances``), and register the
        payments that waited for an invoice.

        :return: a summary (str)"""
        Line = self.env["logistics.cod.remittance.line"].sudo()
        reconciled = self.env["logistics.cod.remittance"]._reconcile_pending()
        missing = Line._age_missing_remittances()
        posted = Line._post_waiting_payments()
        return f"{reconciled}; missing: {missing}; payments posted: {posted}"
