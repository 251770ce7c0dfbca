import base64
from datetime import timedelta

from odoo import api, fields, models
from odoo.sql_db import Cursor
from odoo.tools import SQL

from .json_text import printable
from .logistics_message import MAX_STORED_BODY

# Refused webhook requests of unauthenticated callers kept as rejected messages, with their
# body, per backend (unknown backends together), HTTP status and minute; the others are only
# counted. Refusals after a verified signature (a partner's bad data) are always kept.
KEPT_PER_MINUTE = 5


class LogisticsWebhookRefusal(models.Model):
    """How many webhook requests were refused, per backend, HTTP status and minute.

    Unauthenticated callers choose how often they call: the count grows with their rate, the
    tables don't. Unknown backends count together (``backend_id`` empty): a row per unknown
    path would let a caller grow the table by inventing paths. Each minute's first
    ``KEPT_PER_MINUTE`` refusals of a row are also kept as rejected messages, with their body
    and path, for a person to look at; a refusal after a verified signature (bad JSON or a
    bad event from the partner itself) is always kept.
    """

    _name = "logistics.webhook.refusal"
    _description = "Logistics Webhook Refusals per Minute"
    _order = "minute desc, id desc"
    _log_access = False

    backend_id = fields.Many2one(
        "logistics.backend", readonly=True, index=True, ondelete="cascade", help="Empty: unknown."
    )
    http_status = fields.Integer(string="HTTP Status", readonly=True, required=True)
    minute = fields.Datetime(readonly=True, required=True, index=True)
    request_count = fields.Integer(
        string="Requests", readonly=True, required=True, help="Requests refused in the minute."
    )
    kept = fields.Integer(
        readonly=True, help="How many of them were kept as rejected messages (the first ones)."
    )
    last_error = fields.Char(readonly=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)

    _minute_uniq = models.UniqueIndex("(COALESCE(backend_id, 0), http_status, minute)")

    @api.model
    def _record(self, backend, status, reason, raw, path, authenticated=False, body=None):
        """Count one refused request; keep it as a rejected message when its sender proved who
        it is (``authenticated``: a partner's bad data is never dropped), or when it is one of
        the first ``KEPT_PER_MINUTE`` of its row and minute.

        The count is written in a short transaction of its own, at READ COMMITTED, committed at
        once: concurrent refusals of the same row then wait a moment for each other's row lock.
        In the request's transaction (REPEATABLE READ) the second of two concurrent refusals
        would fail with a serialization error, and a flood would end in retries and 500s.

        :param backend: the backend, or an empty recordset (unknown backend)
        :param status: the HTTP status of the answer (400 … 415)
        :param reason: the reason given to the caller
        :param raw: the bytes received (kept exactly, up to 64 KiB), or None when they were not
            read (too large)
        :param path: the request's path (text PostgreSQL can store), kept on the message
        :param authenticated: the signature was verified before the refusal
        :param body: the body as the checks read it, when it differs from ``raw`` (inflated
            from gzip): shown as the message's text
        :return: the rejected message, or an empty recordset when only counted
        """
        company = backend.company_id or self.env["res.company"].search([], order="id", limit=1)
        with self.env.registry.cursor() as cr:
            if isinstance(cr, Cursor):  # its own transaction (in tests, the test's own cursor)
                cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cr.execute(
                SQL(
                    """
                    INSERT INTO logistics_webhook_refusal
                           (backend_id, http_status, minute, request_count, kept, last_error,
                            company_id)
                    VALUES (%(backend)s, %(status)s,
                            date_trunc('minute', %(now)s::timestamp), 1, 0, %(error)s,
                            %(company)s)
                    ON CONFLICT (COALESCE(backend_id, 0), http_status, minute)
                    DO UPDATE SET request_count = logistics_webhook_refusal.request_count + 1,
                                  last_error = EXCLUDED.last_error
                    RETURNING id, request_count
                    """,
                    backend=backend.id or None,
                    status=status,
                    now=fields.Datetime.now(),
                    error=reason[:200],
                    company=company.id,
                )
            )
            refusal_id, count = cr.fetchone()
            keep = authenticated or count <= KEPT_PER_MINUTE
            if keep:
                cr.execute(
                    SQL(
                        "UPDATE logistics_webhook_refusal SET kept = kept + 1 WHERE id = %s",
                        refusal_id,
                    )
                )
        self.invalidate_model(["request_count", "kept", "last_error"])
        if not keep:
            return self.env["logistics.message"]
        shown = body if body is not None else raw
        return self.env["logistics.message"].create(
            {
                "direction": "inbound",
                "backend_id": backend.id or False,
                "operation": "webhook",
                "endpoint": path[:255],
                "state": "rejected",
                "http_status": status,
                "error_class": "security" if status == 401 else "business",
                "error": reason,
                "request_body": printable(shown, MAX_STORED_BODY) if shown is not None else None,
                "rejected_body": base64.b64encode(raw[:MAX_STORED_BODY]) if raw else False,
                "company_id": company.id,
            }
        )

    @api.model
    def _cron_purge(self):
        """Remove the counts older than the payload retention period (days)."""
        days = int(
            self.env["ir.config_parameter"].sudo().get_param("logistics.payload_retention_days", 90)
        )
        self.env.cr.execute(
            SQL(
                "DELETE FROM logistics_webhook_refusal WHERE minute < %s",
                fields.Datetime.now() - timedelta(days=days),
            )
        )
        return self.env.cr.rowcount
