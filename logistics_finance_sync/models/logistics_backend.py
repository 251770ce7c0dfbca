import contextlib
import logging
import os
from collections import Counter
from functools import partial
from pathlib import Path

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_access import check_manager
from odoo.addons.logistics_integration_base.models.logistics_backend import (
    LogisticsBackend as BaseBackend,
)

from ..adapters import freight_billing, invoice_csv, x12_210

_logger = logging.getLogger(__name__)

# What a billing file drop reads, by the file's extension.
INVOICE_FILES = {".csv": "csv", ".edi": "x12", ".x12": "x12", ".210": "x12"}
INVOICE_OPERATION = "carrier_invoice"
# COD remittance files share the drop directory: read by logistics_backend_cod.py, not as invoices.
REMITTANCE_FILE_PREFIX = "remittance"


def _move_to_processed(path):
    target = path.parent / "processed"
    target.mkdir(exist_ok=True)
    # Read twice at once (the cron and a Manager's button): the other one moved it.
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target / path.name)


class LogisticsBackend(models.Model):
    """Carrier billing backends: where a carrier's freight invoices come from (its billing API,
    or files dropped in a directory: CSV, X12 210). Each invoice is one inbound message
    (operation ``carrier_invoice``) whose partner event id is its number: a copy received again
    by the same path is absorbed by the message store, a copy by another path is refused by
    the invoice's unique number per carrier; both raise ``duplicate_message``."""

    _inherit = "logistics.backend"
    _audit_ignored_fields = (*BaseBackend._audit_ignored_fields, "freight_invoice_cursor")

    adapter = fields.Selection(
        selection_add=[("freight_billing", "Carrier billing (freight invoices)")],
        ondelete={"freight_billing": "set default"},
    )
    billed_carrier_id = fields.Many2one(
        "logistics.backend",
        string="Carrier Billed",
        domain=[("kind", "=", "carrier")],
        ondelete="restrict",
        help="Carrier billing: the carrier backend whose labels the invoices bill (its "
        "tolerance rules judge them).",
    )
    freight_drop_dir = fields.Char(
        string="Invoice Drop Directory",
        help="File drop: invoice files (.csv, or X12 210 as .edi / .x12 / .210) are read "
        "from <directory>/inbound and moved to inbound/processed once imported.",
    )
    freight_invoice_cursor = fields.Char(
        string="Last Invoice Read",
        readonly=True,
        copy=False,
        help="Billing API: the id of the last invoice read; the next import asks for those "
        "after it.",
    )
    carrier_invoice_count = fields.Integer(compute="_compute_carrier_invoice_count")

    def _compute_carrier_invoice_count(self):
        Invoice = self.env["logistics.carrier.invoice"]
        counts = dict(
            Invoice._read_group(
                [("carrier_backend_id", "in", self.ids)], ["carrier_backend_id"], ["__count"]
            )
        )
        sources = dict(
            Invoice._read_group(
                [("source_backend_id", "in", self.ids)], ["source_backend_id"], ["__count"]
            )
        )
        for backend in self:
            backend.carrier_invoice_count = counts.get(backend, 0) or sources.get(backend, 0)

    def action_open_carrier_invoices(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "logistics_finance_sync.logistics_carrier_invoice_action"
        )
        action["domain"] = [
            "|",
            ("carrier_backend_id", "=", self.id),
            ("source_backend_id", "=", self.id),
        ]
        return action

    # --- importing -------------------------------------------------------------------------------
    def action_import_carrier_invoices(self):
        """Import the invoices waiting now rather than at the nightly batch.

        :raises AccessError: not a Logistics Manager (the call sends the carrier's credentials)
        :raises UserError: a backend that is no carrier billing backend
        """
        check_manager(self.env, self.env._("import carrier invoices"))
        said = [backend._import_carrier_invoices() for backend in self]
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": self.env._("Carrier invoices"), "message": "\n".join(said)},
        }

    @api.model
    def _cron_import_carrier_invoices(self):
        """Nightly batch (flow ``freight_reconciliation``): import the invoices of every
        carrier billing backend that is not paused (one that fails is logged and skipped: the
        others still import), then audit what is still to audit and bill what waits (an
        invoice whose bill failed for a setting fixed since).

        :return: the number of backends asked"""
        backends = self.search([("adapter", "=", "freight_billing"), ("paused", "=", False)])
        for backend in backends:
            try:
                with self.env.cr.savepoint():
                    backend._import_carrier_invoices()
            except (UserError, OSError):
                # A setting missing (no drop directory, no carrier billed) or a drop directory
                # that can't be read: that backend's business, not the others'.
                _logger.exception("%s: carrier invoices not imported", backend.name)
        Invoice = self.env["logistics.carrier.invoice"]
        Invoice._enqueue_audit()
        Invoice._enqueue_billing()
        return len(backends)

    def _import_carrier_invoices(self):
        """Ask the billing API for the invoices after the cursor (an outbound GET message;
        its answer is imported when delivered), or read the drop directory's files.

        :return: what was done, for a person (str)
        :raises UserError: not a carrier billing backend, or without its carrier
        """
        self.ensure_one()
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
        if self.protocol == "file":
            names = self._import_invoice_files()
            return self.env._(
                "%(backend)s: %(count)s file(s) read.", backend=self.name, count=len(names)
            )
        message = (
            self.env["logistics.message"]
            .sudo()
            ._create_outbound(
                self,
                "carrier_invoice_fetch",
                None,
                endpoint=freight_billing.page_path(
                    freight_billing.INVOICES_PATH, self.freight_invoice_cursor
                ),
                http_method="GET",
            )
        )
        return self.env._(
            "%(backend)s: invoices asked for (message %(message)s).",
            backend=self.name,
            message=message.name,
        )

    def _store_carrier_invoices(self, invoices, raw_by_number, source):
        """Store canonical invoices (``freight_billing`` / ``invoice_csv`` / ``x12_210``
        documents) as inbound messages, one per invoice, and queue their processing.

        :param list invoices: canonical invoice documents
        :param dict raw_by_number: {invoice number: the partner's text of it} kept on the
            message
        :param str source: where they came from, for the message (``api``, a file name)
        :return: (stored messages, duplicates: the numbers received before)
        """
        self.ensure_one()
        Message = self.env["logistics.message"].sudo()
        stored, duplicates = Message, []
        job_pending = None
        for document in invoices:
            number = document["invoice_number"]
            message_id, job_pending = Message._store_inbound(
                self,
                operation=INVOICE_OPERATION,
                payload=dict(document, source=source),
                raw=(raw_by_number.get(number) or "")[:65536],
                partner_event_id=f"invoice:{number}",
                correlation_id=None,
            )
            if message_id:
                stored |= Message.browse(message_id)
            else:
                duplicates.append(number)
        if duplicates:
            self._raise_duplicate_invoices(duplicates, source)
        if stored:
            self._enqueue_inbound_processing(stored, job_pending=job_pending)
        return stored, duplicates

    def _raise_duplicate_invoices(self, numbers, source):
        """A second copy of an invoice is never a second bill: it is refused, and a person is
        told (``duplicate_message``: the carrier's retry, or two paths bringing one bill)."""
        carrier = (self.billed_carrier_id or self).name
        self.env["logistics.exception"].sudo()._raise(
            "duplicate_message",
            [
                {
                    "name": self.env._(
                        "%(carrier)s invoice %(number)s received again",
                        carrier=carrier,
                        number=number,
                    ),
                    "backend_id": self.id,
                    "source_event_id": f"invoice:{number}",
                    # Each copy of one invoice on one backend counts as an occurrence.
                    "cause": f"invoice:{number}",
                    "occurrence": self.env._("Received again (%(origin)s)", origin=source),
                    "description": self.env._(
                        "Invoice %(number)s of %(carrier)s came again (%(origin)s). It was "
                        "imported once and is billed once: this copy was refused.",
                        number=number,
                        carrier=carrier,
                        origin=source,
                    ),
                    "company_id": self.company_id.id,
                }
                for number in numbers
            ],
        )

    def _import_invoice_files(self):
        """Import the invoice files of inbound/ (oldest name first): each file's invoices
        become messages; a file that can't be read is one rejected message with the reason.

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
            if path.suffix.lower() in INVOICE_FILES
            and not path.name.lower().startswith(REMITTANCE_FILE_PREFIX)
        )
        for path in paths:
            self._import_invoice_text(path.read_bytes(), path.name)
            self.env.cr.postcommit.add(partial(_move_to_processed, path))
        return [path.name for path in paths]

    def _import_invoice_text(self, raw, file_name):
        """Import one invoice file (CSV or X12 210, by its extension): (stored messages,
        duplicate numbers, the parser's refusal or None); a file that can't be parsed is kept
        as one rejected message with the parser's reason, and nothing of it is imported.

        :param bytes raw: the file's content
        :param str file_name: its name (the extension decides the format)
        """
        self.ensure_one()
        kind = INVOICE_FILES.get(Path(file_name).suffix.lower())
        text = raw.decode("utf-8", "replace")
        try:
            if kind is None:
                raise ValueError(f"unknown file type (expected {', '.join(sorted(INVOICE_FILES))})")
            raw.decode("utf-8")
            invoices = invoice_csv.invoices(text) if kind == "csv" else x12_210.invoices(text)
        except ValueError as error:  # UnicodeDecodeError included
            self.env["logistics.message"].sudo().create(
                {
                    "direction": "inbound",
                    "backend_id": self.id,
                    "operation": INVOICE_OPERATION,
                    "state": "rejected",
                    "error_class": "business",
                    "error": f"{file_name}: {error}",
                    "request_body": text[:65536],
                    "company_id": self.company_id.id,
                }
            )
            return self.env["logistics.message"], [], f"{file_name}: {error}"
        stored, duplicates = self._store_carrier_invoices(
            invoices, {invoice["invoice_number"]: text for invoice in invoices}, file_name
        )
        return stored, duplicates, None

    # --- applying --------------------------------------------------------------------------------
    def _apply_inbound(self, messages):
        """Carrier invoice messages become carrier invoices (``_apply_carrier_invoice``), not
        events; the others go on as events."""
        invoices = messages.filtered(lambda message: message.operation == INVOICE_OPERATION)
        others = messages - invoices
        counts = super()._apply_inbound(others) if others else Counter()
        created = self.env["logistics.carrier.invoice"]
        for message in invoices:
            invoice, duplicate = self._apply_carrier_invoice(message)
            if invoice:
                created |= invoice
                message._set_state("done")
            else:
                message._set_state("ignored", error=duplicate)
        if created:
            created._enqueue_audit()
        counts["accepted"] += len(created)
        counts["duplicates"] += len(invoices) - len(created)
        return counts

    def _apply_carrier_invoice(self, message):
        """Create the carrier invoice a message carries; a number the carrier used before
        (received by another path) raises ``duplicate_message`` and creates nothing.

        :return: (the invoice or an empty recordset, why nothing was created or None)"""
        Invoice = self.env["logistics.carrier.invoice"].sudo()
        document = message.payload
        carrier = self.billed_carrier_id
        number = document["invoice_number"]
        if Invoice.search_count(
            [("carrier_backend_id", "=", carrier.id), ("name", "=", number)], limit=1
        ):
            self._raise_duplicate_invoices([number], document.get("source") or "")
            return Invoice, self.env._(
                "A copy of invoice %(number)s, imported before: not billed again.", number=number
            )
        return Invoice._create_from_document(document, carrier, self, message), None
