import hashlib
import hmac
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL


def signature_matches(expected, candidates):
    """Whether one of ``candidates`` (header values, str) is the ``expected`` hex digest, each
    compared in constant time, and all of them compared whatever the outcome. As bytes: a
    header value may hold any character, and ``hmac.compare_digest`` refuses non-ASCII str."""
    expected = expected.encode()
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return matched


class LogisticsBackend(models.Model):
    """Webhook verification and inbound processing."""

    _inherit = "logistics.backend"

    # --- webhook authentication (dispatched to the adapter) ------------------------------------
    def _verify_webhook_signature(self, headers, raw_body):
        """Raise ValueError with the reason when the request is not signed by the partner."""
        self.ensure_one()
        return getattr(self, f"_verify_webhook_signature_{self.adapter}")(headers, raw_body)

    def _verify_webhook_signature_generic(self, headers, raw_body):
        """Stripe-like: ``X-Logistics-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>``,
        within 300 seconds of now. As in Stripe's scheme, items may come in any order with
        spaces around them, and several ``v1`` values may be sent (one per secret while the
        partner rotates it): one match is enough, each compared in constant time."""
        secret = self._get_secret("webhook_secret")
        if not secret:
            raise ValueError("the backend has no webhook signing secret")
        timestamps, signatures = [], []
        for item in headers.get("X-Logistics-Signature", "").split(","):
            key, sep, value = item.partition("=")
            if sep and key.strip() == "t":
                timestamps.append(value.strip())
            elif sep and key.strip() == "v1":
                signatures.append(value.strip())
        if len(timestamps) != 1 or not signatures:
            raise ValueError("missing or malformed X-Logistics-Signature header")
        try:
            timestamp = int(timestamps[0])
        except ValueError:
            raise ValueError("the signature timestamp is not a number") from None
        if abs(time.time() - timestamp) > 300:
            raise ValueError("the signature timestamp is outside the 300 s tolerance")
        expected = hmac.new(
            secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256
        ).hexdigest()
        if not signature_matches(expected, signatures):
            raise ValueError("the signature does not match")

    def _parse_webhook_events(self, data):
        """Canonical events from a webhook body, by the adapter: a list of event dicts."""
        self.ensure_one()
        return getattr(self, f"_parse_webhook_events_{self.adapter}")(data)

    def _parse_webhook_events_generic(self, data):
        # The generic adapter takes canonical events as they are.
        return data if isinstance(data, list) else [data]

    # --- inbound processing --------------------------------------------------------------------
    def _queue_inbound(self, messages):
        """Queue stored inbound messages for processing."""
        self.ensure_one()
        messages._set_state("queued")
        self._enqueue_inbound_processing(messages)

    def _inbound_job_key(self):
        return f"logistics-inbound-{self.id}"

    def _enqueue_inbound_processing(self, messages, job_pending=None, window=False):
        """One batch job per backend, or one job per message. A paused backend holds them:
        resuming queues them.

        :param job_pending: whether a batch job is known to be waiting already (None: look)
        :param window: start the batch job after the backend's batch window, so that it takes
            the messages that follow (for messages arriving one by one, e.g. webhooks)
        """
        self.ensure_one()
        if self.paused:
            return
        if self.inbound_batch:
            identity_key = self._inbound_job_key()
            if job_pending is None:
                # One indexed query (queue_job's partial index on identity_key), after any job
                # state this transaction changed.
                self.env["queue.job"].flush_model(["state", "identity_key"])
                self.env.cr.execute(
                    SQL(
                        "SELECT 1 FROM queue_job WHERE identity_key = %s"
                        " AND state IN ('pending', 'enqueued', 'wait_dependencies') LIMIT 1",
                        identity_key,
                    )
                )
                job_pending = bool(self.env.cr.fetchone())
            if job_pending:
                return
            self.with_delay(
                channel=self.channel,
                eta=timedelta(seconds=self.inbound_batch_window) if window else None,
                description=f"Process inbound messages of {self.code}",
                identity_key=identity_key,
            )._process_inbound_queue()
        else:
            for message in messages:
                message.with_delay(
                    channel=self.channel,
                    description=f"Process inbound message #{message.id} of {self.code}",
                )._process_inbound_job()

    @api.model
    def _cron_process_stale_inbound(self):
        """Safety net: a message stored while a batch job was already running (and past the
        point of reading the queue) would wait for the next message; queue its processing."""
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT m.backend_id FROM logistics_message m
                  JOIN logistics_backend b ON b.id = m.backend_id
                 WHERE m.direction = 'inbound' AND m.state = 'queued' AND b.paused IS NOT TRUE
                   AND m.state_changed_at < %s
                """,
                fields.Datetime.now() - timedelta(seconds=30),
            )
        )
        backends = self.browse([row[0] for row in self.env.cr.fetchall()])
        for backend in backends:
            stale = self.env["logistics.message"].search(
                [
                    ("backend_id", "=", backend.id),
                    ("direction", "=", "inbound"),
                    ("state", "=", "queued"),
                ]
            )
            backend._enqueue_inbound_processing(stale)
        return len(backends)

    def _process_inbound_queue(self, limit=1000):
        """Job: process the queued inbound messages of this backend, oldest first."""
        self.ensure_one()
        self = self.sudo()
        # Messages this transaction queued (a replay) count too.
        self.env["logistics.message"].flush_model(["state", "backend_id", "direction"])
        self.env.cr.execute(
            SQL(
                "SELECT id FROM logistics_message WHERE backend_id = %s AND direction = 'inbound'"
                " AND state = 'queued' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                self.id,
                limit,
            )
        )
        messages = self.env["logistics.message"].browse([row[0] for row in self.env.cr.fetchall()])
        if not messages:
            return "nothing queued"
        summary = self._process_inbound(messages)
        if len(messages) == limit:
            self._queue_inbound(self.env["logistics.message"])
        return summary

    def _process_inbound(self, messages):
        """Turn stored inbound messages into events with one ingest call."""
        self.ensure_one()
        events, owners = [], []
        for message in messages:
            for event in self._parse_webhook_events(message.payload):
                events.append(event)
                owners.append(message)
        result = self.env["logistics.event"]._ingest(self, events, messages=owners)
        failed = {}
        for rejection in result["rejected"]:
            failed.setdefault(owners[rejection["index"]], []).append(rejection["error"])
        for message in messages:
            if message in failed:
                message._set_state("dead", error_class="business", error="\n".join(failed[message]))
            else:
                message._set_state("done")
        return (
            f"{len(messages)} message(s): {result['accepted']} accepted, "
            f"{result['duplicates']} duplicates, {len(result['rejected'])} rejected"
        )
