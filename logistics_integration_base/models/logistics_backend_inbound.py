import hashlib
import hmac
import json
import logging
import time
from collections import Counter
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ConcurrencyError, UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError

from .logistics_event import EventRejected, is_transaction_fault

_logger = logging.getLogger(__name__)


def signature_matches(expected, candidates):
    """Whether one of ``candidates`` (header values, str) is the ``expected`` hex digest, each
    compared in constant time, and all of them compared whatever the outcome. As bytes: a
    header value may hold any character, and ``hmac.compare_digest`` refuses non-ASCII str."""
    expected = expected.encode()
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return matched


class InboundNotApplied(UserError):
    """Raised by a connector's reaction when what a partner reports can't be applied as it is
    (a confirmation line for a product the order doesn't have, say): the message ends dead,
    nothing of it applied, with an exception of ``exception_type`` whose description is the
    error's text, instead of the generic ``processing_failed``.

    :param message: what differs and what to do, for a person
    :param exception_type: the code of a ``logistics.exception.type``
    """

    def __init__(self, message, exception_type):
        super().__init__(message)
        self.exception_type = exception_type


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

    def _webhook_partner_event_id(self, data, events):
        """The partner's id of the event a webhook body carries (str), or None (a batch, or a
        body without one): stored on the message, it makes a redelivery a duplicate. By
        default the id of the body's one canonical event; connectors whose partner gives the
        delivery an id of its own (EasyPost's Event id) extend it.

        :param data: the parsed body
        :param events: the canonical events parsed from it (``_parse_webhook_events``)
        """
        self.ensure_one()
        if len(events) == 1 and events[0].get("event_id") is not None:
            return str(events[0]["event_id"])
        return None

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

    def _inbound_message_job_key(self, message):
        return f"logistics-inbound-message-{message.id}"

    def _enqueue_inbound_processing(self, messages, job_pending=None, window=False):
        """One batch job per backend, or one job per message. A paused backend holds them:
        resuming queues them.

        A job is tried at most the backend's *Max Attempts* times (queue_job's ``max_retries``):
        the tries a database concurrency error costs (see ``_process_inbound``) are counted, and
        a job that keeps failing ends failed; the safety-net cron then makes its messages dead
        rather than queue them again.

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
                max_retries=self.max_attempts,
            )._process_inbound_queue()
        else:
            for message in messages:
                message.with_delay(
                    channel=self.channel,
                    description=f"Process inbound message #{message.id} of {self.code}",
                    identity_key=self._inbound_message_job_key(message),
                    max_retries=self.max_attempts,
                )._process_inbound_job()

    @api.model
    def _cron_process_stale_inbound(self):
        """Safety net for inbound messages left queued with no job to take them.

        - A message stored while a batch job was already running (past the point of reading
          the queue) would wait for the next message: its processing is queued again.
        - A message whose processing job failed (queue_job gave up after the backend's *Max
          Attempts* tries, or found the job dead after as many worker crashes) is not queued
          again, which would fail the same way, forever: it becomes dead (class transient)
          with the job's error, and one ``processing_failed`` exception per backend tells a
          person, who replays the messages once the cause is fixed.

        Messages a running job holds are skipped (``SKIP LOCKED``), and so are messages with a
        job waiting, enqueued or started for them.

        :return: the number of backends whose processing was queued again
        """
        self.env["logistics.message"].flush_model(["state", "state_changed_at"])
        self.env["queue.job"].flush_model(["state", "identity_key"])
        self.env.cr.execute(
            SQL(
                """
                SELECT m.id FROM logistics_message m
                  JOIN logistics_backend b ON b.id = m.backend_id
                 WHERE m.direction = 'inbound' AND m.state = 'queued' AND b.paused IS NOT TRUE
                   AND m.state_changed_at < %s
                 ORDER BY m.id
                   FOR UPDATE OF m SKIP LOCKED
                """,
                fields.Datetime.now() - timedelta(seconds=30),
            )
        )
        left = self.env["logistics.message"].browse([row[0] for row in self.env.cr.fetchall()])
        if not left:
            return 0
        keys = {
            message: (
                message.backend_id._inbound_job_key(),
                message.backend_id._inbound_message_job_key(message),
            )
            for message in left
        }
        jobs = self._inbound_jobs_by_key({key for pair in keys.values() for key in pair})
        requeue, dead = {}, {}
        for message, pair in keys.items():
            known = [jobs[key] for key in pair if key in jobs]
            if any(job["active"] for job in known):
                continue  # a job will take it
            failures = [
                job
                for job in known
                if job["failed_started"] and job["failed_started"] >= message.state_changed_at
            ]
            backend = message.backend_id
            if failures:
                failure = max(failures, key=lambda job: job["failed_started"])
                dead.setdefault(backend, []).append((message, failure))
            else:
                requeue[backend] = requeue.get(backend, left.browse()) | message
        for backend, failed in dead.items():
            backend._give_up_inbound(failed)
        for backend, messages in requeue.items():
            backend._enqueue_inbound_processing(messages)
        return len(requeue)

    @api.model
    def _inbound_jobs_by_key(self, keys):
        """The inbound processing jobs of these identity keys, in one query: {key: {"active":
        a job is waiting, enqueued or started, "failed_started": when the latest failed one
        started, "error": its exception}}."""
        self.env.cr.execute(
            SQL(
                """
                SELECT identity_key,
                       bool_or(state IN ('wait_dependencies', 'pending', 'enqueued', 'started')),
                       max(date_started) FILTER (WHERE state = 'failed'),
                       (array_agg(concat_ws(': ', exc_name, exc_message)
                                  ORDER BY date_started DESC NULLS LAST)
                            FILTER (WHERE state = 'failed'))[1]
                  FROM queue_job
                 WHERE identity_key = ANY(%s)
                 GROUP BY identity_key
                """,
                list(keys),
            )
        )
        return {
            key: {"active": active, "failed_started": failed_started, "error": error}
            for key, active, failed_started, error in self.env.cr.fetchall()
        }

    def _give_up_inbound(self, failed):
        """Make these messages of this backend dead after their processing job failed, with
        one exception for the lot. ``failed``: [(message, job dict of _inbound_jobs_by_key)]."""
        self.ensure_one()
        for message, job in failed:
            message._set_state(
                "dead",
                error_class="transient",
                error=f"The processing job failed and was not retried further: {job['error']}",
            )
        messages = self.env["logistics.message"].browse([message.id for message, _job in failed])
        self.env["logistics.exception"].sudo()._raise(
            "processing_failed",
            [
                {
                    "name": f"{self.code}: processing of {len(messages)} inbound message(s) failed",
                    "backend_id": self.id,
                    "message_id": messages[:1].id,
                    "description": f"The job processing these messages kept failing: "
                    f"{failed[-1][1]['error']}\n\nDead messages: "
                    + ", ".join(f"#{message.id}" for message in messages[:100])
                    + (" …" if len(messages) > 100 else ""),
                    "company_id": self.company_id.id,
                }
            ],
        )

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
        """Turn stored inbound messages into events, isolating a message whose application
        raises (a poison message).

        The batch is applied with one ingest call, in a savepoint: the hot path stays one
        call for the whole batch. Only when that raises (a connector's reaction that Odoo
        refuses, such as validating a transfer without its lot number) is the savepoint rolled
        back and each message applied alone, in a savepoint of its own: the one that raises
        ends dead (class business) with its error and a ``processing_failed`` exception for a
        person, and can be replayed once the cause is fixed; the others are applied. A batch
        holding a poison message thus costs one ingest call per message, once. The savepoint
        costs the happy path nothing measurable (89.7 vs 88.6 ms for a batch of 500 messages,
        the same batches processed alternately with and without it).

        A database concurrency error (serialization failure, deadlock, lock not available:
        ``odoo.service.model.PG_CONCURRENCY_EXCEPTIONS_TO_RETRY``, or Odoo's
        ``ConcurrencyError``) is no message's fault: the whole transaction must start again to
        see what the other one committed. It raises ``RetryableJobError``, so that queue_job
        runs the job again, at most ``max_retries`` times (see ``_enqueue_inbound_processing``).
        The worker's own limits are not the message's fault either (``_raise_unless_poison``).

        :return: a summary, e.g. "3 message(s): 2 accepted, 0 duplicates, 0 rejected, 1 dead"
        """
        self.ensure_one()
        if len(messages) > 1:
            try:
                with self.env.cr.savepoint():
                    counts = self._apply_inbound(messages)
                return self._inbound_summary(len(messages), counts, 0)
            except Exception as error:  # any failure: find the message that raises
                self._raise_unless_poison(error)
                _logger.info(
                    "inbound batch of %s messages of %s raised %r: applying them one by one",
                    len(messages),
                    self.code,
                    error,
                )
        counts = Counter()
        dead = 0
        for message in messages:
            try:
                with self.env.cr.savepoint():
                    counts.update(self._apply_inbound(message))
            except Exception as error:  # a poison message, whatever it raised
                self._raise_unless_poison(error)
                self._poison_inbound(message, error)
                dead += 1
        return self._inbound_summary(len(messages), counts, dead)

    def _apply_inbound(self, messages):
        """Apply these messages with one ingest call; they end done, or dead when their events
        are rejected. Returns the counts of ``_ingest``'s result."""
        events, owners = [], []
        for message in messages:
            for event in self._parse_webhook_events(message.payload):
                events.append(event)
                owners.append(message)
        result = self.env["logistics.event"]._ingest(self, events, messages=owners)
        failed = {}
        for rejection in result["rejected"]:
            failed.setdefault(owners[rejection["index"]], []).append(rejection["error"])
        for message, errors in failed.items():
            message._set_state("dead", error_class="business", error="\n".join(errors))
        # The others in one write: a batch job's hot path.
        messages.filtered(lambda message: message not in failed)._set_state("done")
        replays = messages.filtered(
            lambda message: message.state == "done" and message.replay_of_id
        )
        if replays:
            self._close_applied_replays(replays)
        return Counter(
            accepted=result["accepted"],
            duplicates=result["duplicates"],
            rejected=len(result["rejected"]),
        )

    def _close_applied_replays(self, replays):
        """Close the exceptions of the poison messages that these replays, now done, replayed
        (types *Resolved By Replay*, such as ``processing_failed``): what they reported is
        applied (noted in their chatter). The exception of a failed job stays open: it stands
        for all the job's messages."""
        # The whole chain: a replay that failed too raised an exception of its own, and the
        # replay of that replay applies what the first message reported.
        applied_by = {}
        for replay in replays:
            original = replay.replay_of_id
            while original and original not in applied_by:
                applied_by[original] = replay
                original = original.replay_of_id
        exceptions = (
            self.env["logistics.exception"]
            .sudo()
            .search(
                [
                    ("type_id.resolved_by_replay", "=", True),
                    ("is_closed", "=", False),
                    ("message_id", "in", [message.id for message in applied_by]),
                    ("message_id.error_class", "=", "business"),
                ]
            )
        )
        for exception in exceptions:
            note = self.env._(
                "Applied by its replay, message #%(id)s.", id=applied_by[exception.message_id].id
            )
            exception._close_automatically(note)

    @staticmethod
    def _inbound_summary(count, counts, dead):
        return (
            f"{count} message(s): {counts['accepted']} accepted, {counts['duplicates']} "
            f"duplicates, {counts['rejected']} rejected, {dead} dead"
        )

    @staticmethod
    def _raise_unless_poison(error):
        """Raise when ``error`` is the job's condition rather than the message's fault
        (``logistics_event.is_transaction_fault``, or a RetryableJobError a reaction raised to
        be tried later): a database concurrency error as RetryableJobError, so that queue_job
        retries the job and counts the try; the others as they are (the job fails, and the
        safety-net cron makes its messages dead).
        """
        if isinstance(error, RetryableJobError):
            raise error
        if isinstance(error, (*PG_CONCURRENCY_EXCEPTIONS_TO_RETRY, ConcurrencyError)):
            raise RetryableJobError(
                f"database concurrency error ({type(error).__name__}): {error}"
            ) from error
        if is_transaction_fault(error):
            raise error

    def _poison_inbound(self, message, error):
        """``message`` raised when applied alone (its savepoint is rolled back): dead with the
        error, and an exception for a person, linked to its shipment when one is found."""
        if isinstance(error, UserError):
            text = str(error)
            _logger.warning(
                "inbound message #%s of %s [%s] not applied: %s",
                message.id,
                self.code,
                message.correlation_id,
                text,
            )
        else:  # a defect rather than a refusal: keep the traceback in the log
            text = f"{type(error).__name__}: {error}"
            _logger.error(
                "inbound message #%s of %s [%s] not applied",
                message.id,
                self.code,
                message.correlation_id,
                exc_info=error,
            )
        shipment = self._inbound_shipment(message)
        message._set_state("dead", error_class="business", error=text, shipment_id=shipment.id)
        self.env["logistics.exception"].sudo()._raise(
            getattr(error, "exception_type", "processing_failed"),
            [
                {
                    "name": f"{self.code}: message #{message.id} not applied: {text}"[:200],
                    "backend_id": self.id,
                    "message_id": message.id,
                    "shipment_id": shipment.id,
                    "source_event_id": message.partner_event_id,
                    "description": f"Applying the message raised an error; nothing of it was "
                    f"applied.\n\n{text}\n\n"
                    + json.dumps(message.payload, default=str, indent=2)[:4000],
                    "company_id": self.company_id.id,
                }
            ],
        )

    def _inbound_shipment(self, message):
        """The shipment the first event of ``message`` names, if one is found (for the
        exception's link); an empty recordset otherwise."""
        Event = self.env["logistics.event"]
        Shipment = self.env["logistics.shipment"]
        try:
            event = Event._parse_event(self._parse_webhook_events(message.payload)[0])
        except (EventRejected, ValueError, LookupError, TypeError, OverflowError):
            return Shipment
        found = Event._find_shipments(self, [(0, event)])
        key = ("ref", event["shipment_ref"]) if event["shipment_ref"] else None
        key = key or ("tracking", event["tracking_number"])
        matches = found.get(key, [])
        return Shipment.browse(matches[0]["id"]) if len(matches) == 1 else Shipment
