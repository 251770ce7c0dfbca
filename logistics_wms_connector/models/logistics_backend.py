import contextlib
import os
from functools import partial
from pathlib import Path

from odoo import api, fields, models

from ..adapters import wms_csv, wms_rest


def _move_to_processed(path):
    target = path.parent / "processed"
    target.mkdir(exist_ok=True)
    # Read twice at once (the cron and a Manager's button): the other one moved it.
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target / path.name)


class LogisticsBackend(models.Model):
    _inherit = "logistics.backend"

    adapter = fields.Selection(
        selection_add=[("wms_rest", "WMS / 3PL (REST)"), ("wms_csv", "WMS / 3PL (CSV file drop)")],
        ondelete={"wms_rest": "set default", "wms_csv": "set default"},
    )
    wms_drop_dir = fields.Char(
        string="Drop Directory",
        help="File drop: order files are written to <directory>/outbound, confirmation files "
        "are read from <directory>/inbound.",
    )
    wms_warehouse_ids = fields.One2many(
        "stock.warehouse", "logistics_wms_backend_id", string="Warehouses"
    )

    # --- webhooks: callbacks are signed with the generic scheme ---------------------------------
    def _verify_webhook_signature_wms_rest(self, headers, raw_body):
        return self._verify_webhook_signature_generic(headers, raw_body)

    def _verify_webhook_signature_wms_csv(self, headers, raw_body):
        return self._verify_webhook_signature_generic(headers, raw_body)

    def _parse_webhook_events_wms_rest(self, data):
        return wms_rest.canonical_events(data)

    def _parse_webhook_events_wms_csv(self, data):
        return wms_rest.canonical_events(data)

    # --- outbound: what a refusal of a release sent again means -------------------------------
    def _already_done_wms_rest(self, message, status, response):
        """An order release the WMS refuses because it has the order reference (409
        ``ORDER_EXISTS``, ``wms_rest.order_exists``) is released: the WMS took it on an earlier
        call whose answer was lost (a retry, a replay, a call cut by a crash, which looks like a
        first attempt to Odoo), or someone released it by hand in the WMS."""
        return message.operation == "order_release" and wms_rest.order_exists(status, response)

    # --- file drop ------------------------------------------------------------------------------
    def _drop_path(self, *parts):
        if not self.wms_drop_dir:
            raise ValueError(f"backend {self.code} has no drop directory")
        return Path(self.wms_drop_dir, *parts)

    def _send_file_wms_csv(self, message, _body):
        """Deliver an order release as a CSV file in the drop directory."""
        if message.operation != "order_release":
            return 422, "", None, "http", f"{message.operation} is not supported by file drop"
        name = f"order-{message.payload['shipment_ref'].replace('/', '_')}-{message.id}.csv"
        try:
            path = wms_csv.write_atomically(
                self._drop_path("outbound"), name, wms_csv.order_csv(message.payload)
            )
        except (OSError, ValueError) as error:
            return None, "", None, "connection", f"file drop failed: {error}"
        return 200, f"written {path}", None, None, None

    @api.model
    def _cron_import_wms_files(self):
        """Read the files of file-drop WMS backends: each confirmation file and each stock file
        (``wms_csv.STOCK_FILES``) becomes one inbound message (processed like webhooks, and
        like the answer of a REST stock snapshot), then moves to inbound/processed."""
        for backend in self.search([("adapter", "=", "wms_csv"), ("wms_drop_dir", "!=", False)]):
            backend._import_wms_files()

    def _import_wms_files(self, pattern="*.csv"):
        """Import the files of inbound/ whose name matches ``pattern`` (a glob), oldest name
        first; returns their names (list of str)."""
        self.ensure_one()
        inbound = self._drop_path("inbound")
        if not inbound.is_dir():
            return []
        paths = sorted(inbound.glob(pattern))
        for path in paths:
            if path.match(wms_csv.STOCK_FILES):
                self._import_wms_stock_file(path)
            else:
                self._import_wms_file(path)
            # Moved once the import is committed: a crash before leaves the file in place,
            # and its file name and event ids make the second import a no-op.
            self.env.cr.postcommit.add(partial(_move_to_processed, path))
        return [path.name for path in paths]

    def _store_wms_file(self, path, operation, payload, text):
        """Store a file as one inbound message whose partner event id is the file's name (a
        file imported again is a duplicate): (the message, empty for a duplicate; whether a
        processing job of the backend is waiting already)."""
        Message = self.env["logistics.message"].sudo()
        message_id, job_pending = Message._store_inbound(
            self,
            operation=operation,
            payload=payload,
            raw=text[:65536],
            partner_event_id=f"file:{path.name}",
            correlation_id=None,
        )
        return Message.browse(message_id), job_pending

    def _import_wms_file(self, path):
        """A confirmation file as one inbound message; a malformed one is kept, rejected.

        :return: the message's id, or None (a duplicate, or rejected)"""
        self.ensure_one()
        Message = self.env["logistics.message"].sudo()
        text = path.read_text(encoding="utf-8")
        try:
            documents = wms_csv.confirmations(text)
            wms_rest.canonical_events(documents)
        except ValueError as error:
            Message.create(
                {
                    "direction": "inbound",
                    "backend_id": self.id,
                    "operation": "file_import",
                    "state": "rejected",
                    "error_class": "business",
                    "error": f"{path.name}: {error}",
                    "request_body": text[:65536],
                    "company_id": self.company_id.id,
                }
            )
            return None
        message, job_pending = self._store_wms_file(path, "file_import", documents, text)
        if message:
            self._enqueue_inbound_processing(message, job_pending=job_pending)
        return message.id or None

    # --- releases missed by the realtime path, and batch-mode flows -----------------------------
    @api.model
    def _cron_release_ready(self):
        pickings = self.env["stock.picking"].search(
            [
                ("state", "=", "assigned"),
                ("picking_type_code", "=", "outgoing"),
                ("picking_type_id.warehouse_id.logistics_wms_backend_id", "!=", False),
                ("logistics_shipment_ids.wms_release_message_id", "=", False),
            ]
        )
        return len(pickings._logistics_release_to_wms())
