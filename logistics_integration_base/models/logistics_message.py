import json
import logging
import re
import secrets
import time
import uuid
from datetime import datetime, timedelta, timezone

from werkzeug.http import parse_date

from odoo import api, fields, models
from odoo.exceptions import AccessError, ConcurrencyError, UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError

from .json_text import pretty_json, pretty_json_text, storable_problem
from .logistics_access import check_company_member, check_manager
from .logistics_error_rule import ERROR_CLASSES

_logger = logging.getLogger(__name__)

MESSAGE_STATES = [
    ("received", "Received"),
    ("queued", "Queued"),
    ("processing", "Processing"),
    ("done", "Done"),
    ("retrying", "Retrying"),
    ("dead", "Dead"),
    ("rejected", "Rejected"),
    ("ignored", "Ignored"),
    ("discarded", "Discarded"),
]
# The life cycle, in one place: state -> states it may move to.
TRANSITIONS = {
    "received": {"queued", "rejected", "ignored", "done", "dead"},
    "queued": {"processing", "done", "dead", "retrying", "ignored"},
    "processing": {"done", "retrying", "dead", "queued"},
    "retrying": {"processing", "done", "dead", "queued"},
    "dead": {"discarded"},
    "done": set(),
    "rejected": set(),
    "ignored": set(),
    "discarded": set(),
}
# The mark of _set_state's writes: an object, which no RPC client can put in a context.
STATE_CHANGE = object()
REDACTED = "***"
SENSITIVE_HEADERS = {"authorization", "x-api-key", "proxy-authorization", "cookie"}
MAX_STORED_BODY = 65536
# JSON members that carry credentials whatever the backend: their values are never stored.
SECRET_JSON_VALUE = re.compile(r'("(?:password|api_key|apikey|secret|token)"\s*:\s*)"[^"]*"')
# Each error class in a person's words: what failed and what Odoo does about it (DESIGN §3).
ERROR_CLASS_WORDS = {
    "transient": "Temporary failure (timeout, connection error, HTTP 5xx or 429): retried with "
    "backoff up to the backend's attempts",
    "business": "Refused as invalid (HTTP 4xx): not retried; a person fixes the data and replays",
    "security": "Credentials refused (HTTP 401 / 403): the backend's calls wait until a new "
    "secret is set on it or it is resumed",
}


class AnswerNotUnderstood(Exception):
    """Raised by an ``_on_delivered_<operation>`` hook when the partner accepted the call (2xx)
    but answered with something the operation can't use: not the document its protocol
    promises (a stock snapshot that is no snapshot). A business / data error (DESIGN §3): what
    the hook did is rolled back, the message ends dead (class business) with this text as its
    error, and a schema_invalid exception asks a person to take it up with the partner."""


class LogisticsMessage(models.Model):
    """One technical message exchanged with a partner (the exchange log), in or out.

    Outbound messages are delivered by queue_job jobs on the backend's channel, one job per
    attempt: the attempt history is business data operators read, so it must survive a failed
    attempt (a job raising RetryableJobError would roll it back).
    """

    _name = "logistics.message"
    _description = "Logistics Message"
    _order = "id desc"

    name = fields.Char(compute="_compute_name")
    uuid = fields.Char(
        string="Idempotency Key",
        required=True,
        readonly=True,
        copy=False,
        index=True,
        default=lambda self: str(uuid.uuid4()),
        help="Sent as Idempotency-Key on every attempt of this message, and of its replays: a "
        "replay is the same request, whatever the message died of. A replay with an edited "
        "payload is another request, with a key of its own.",
    )
    direction = fields.Selection(
        [("inbound", "Inbound"), ("outbound", "Outbound")], required=True, index=True
    )
    backend_id = fields.Many2one("logistics.backend", index=True, ondelete="restrict")
    operation = fields.Char(
        string="Operation Code",
        required=True,
        index=True,
        help="The code the pipeline dispatches on (e.g. webhook, order_release, label_buy): "
        "the flow policy of that code and the operation's hooks apply.",
    )
    operation_name = fields.Char(
        string="Operation",
        compute="_compute_operation_name",
        help="The operation in words (``_operation_labels``, else its flow's name).",
    )
    http_method = fields.Char(default="POST")
    endpoint = fields.Char(help="Path appended to the backend's base URL.")
    payload = fields.Json(help="What is sent (outbound) or was received, parsed (inbound).")
    partner_event_id = fields.Char(
        index="btree_not_null", help="The partner's id of the event an inbound message carries."
    )
    state = fields.Selection(MESSAGE_STATES, required=True, default="received", index=True)
    state_changed_at = fields.Datetime(readonly=True, default=fields.Datetime.now)
    # Averages, not sums: a group's total of attempts or latencies says nothing.
    attempts = fields.Integer(string="Attempts Made", readonly=True, aggregator="avg")
    attempt_ids = fields.One2many(
        "logistics.message.attempt", "message_id", string="Attempt History"
    )
    next_retry_at = fields.Datetime(readonly=True)
    outcome_pending = fields.Boolean(
        readonly=True,
        copy=False,
        help="The last call's answer is stored, what it means is not applied yet: the delivery "
        "job applies it without calling the partner again.",
    )
    error_class = fields.Selection(ERROR_CLASSES, index=True)
    error_class_words = fields.Char(
        string="What Failed", compute="_compute_error_class_words", help="The error class in words."
    )
    error = fields.Text()
    # A code, not a quantity: never added up when messages are grouped.
    http_status = fields.Integer(string="HTTP Status", aggregator=None)
    latency_ms = fields.Integer(string="Latency (ms)", aggregator="avg")
    age_hours = fields.Float(
        string="Age (hours)",
        compute="_compute_age_hours",
        aggregator="avg",
        digits=(16, 1),
        help="Hours since the message was created; a measure of the graph and pivot views "
        "(averaged in SQL, see _read_group_select).",
    )
    request_body = fields.Text(
        help="Stored with secrets redacted. A refused webhook body is shown here as text "
        "(invalid bytes as \\xNN escapes); its exact bytes are in Refused Body."
    )
    rejected_body = fields.Binary(
        string="Refused Body",
        attachment=False,
        readonly=True,
        help="The exact bytes of a refused webhook body (up to 64 KiB), whatever they hold.",
    )
    rejected_body_filename = fields.Char(compute="_compute_rejected_body_filename")
    response_body = fields.Text(help="Stored with secrets redacted.")
    # The bodies as a person reads them: JSON indented, anything else as it is.
    payload_pretty = fields.Text(string="Payload (indented)", compute="_compute_pretty_bodies")
    request_body_pretty = fields.Text(
        string="Request Body (indented)", compute="_compute_pretty_bodies"
    )
    response_body_pretty = fields.Text(
        string="Response Body (indented)", compute="_compute_pretty_bodies"
    )
    correlation_id = fields.Char(index=True, help="W3C trace id shared by everything of an order.")
    shipment_id = fields.Many2one("logistics.shipment", index=True, ondelete="set null")
    replay_of_id = fields.Many2one("logistics.message", index=True, readonly=True)
    replay_ids = fields.One2many("logistics.message", "replay_of_id", string="Replays")
    # Dead-letter triage.
    reason_category = fields.Selection(
        [
            ("partner_down", "Partner down"),
            ("bad_data", "Bad data"),
            ("mapping", "Mapping missing"),
            ("credentials", "Credentials"),
            ("bug", "Defect"),
            ("other", "Other"),
        ],
        copy=False,
    )
    # Triage belongs to the dead letter, not to its replay.
    triage_user_id = fields.Many2one("res.users", string="Triage Owner", copy=False)
    triage_note = fields.Text(copy=False)
    discard_reason = fields.Text(readonly=True)
    payload_purged = fields.Boolean(
        readonly=True, help="Bodies were removed by the retention policy."
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )

    # A backend's last success (``logistics_backend_health.LAST_SUCCESS_SQL``): one probe.
    # state_changed_at changes with the state anyway: no update that was HOT stops being so.
    _delivered_idx = models.Index(
        "(backend_id, state_changed_at) WHERE state = 'done' AND direction = 'outbound'"
    )
    _inbound_event_uniq = models.UniqueIndex(
        "(backend_id, partner_event_id) WHERE direction = 'inbound' AND state <> 'rejected'"
    )

    def _compute_rejected_body_filename(self):
        for message in self:
            message.rejected_body_filename = f"refused-body-{message.id}.bin"

    def _compute_name(self):
        for message in self:
            message.name = f"{message.operation or ''} #{message.id or ''}".strip()

    # --- as a person reads it ------------------------------------------------------------------
    @api.depends("operation")
    def _compute_operation_name(self):
        labels = self._operation_labels()
        codes = set(self.mapped("operation")) - set(labels)
        if codes:
            flows = self.env["logistics.flow"].sudo().search([("code", "in", list(codes))])
            labels.update({flow.code: flow.name for flow in flows})
        for message in self:
            code = message.operation or ""
            message.operation_name = labels.get(code) or code.replace("_", " ").capitalize()

    @api.model
    def _operation_labels(self):
        """Hook: operation code -> the operation in a person's words, for the operations this
        addon sends or receives. Connectors add theirs (``super()`` then update); a code
        without a label reads as its flow policy's name, else as the code itself.

        :return: dict of str -> str
        """
        return {
            "webhook": self.env._("Webhook (one event)"),
            "webhook_batch": self.env._("Webhook (batch of events)"),
            "publish_milestone": self.env._("Publish a milestone to a subscriber"),
            "test_connection": self.env._("Connection test"),
        }

    @api.depends("error_class")
    def _compute_error_class_words(self):
        for message in self:
            message.error_class_words = ERROR_CLASS_WORDS.get(message.error_class) or False

    @api.depends("create_date")
    def _compute_age_hours(self):
        now = fields.Datetime.now()
        for message in self:
            start = message.create_date or now
            message.age_hours = (now - start).total_seconds() / 3600

    def _read_group_select(self, aggregate_spec, query):
        # Age is not stored (it grows by itself): aggregated from create_date in SQL.
        name, __, function = aggregate_spec.partition(":")
        if name == "age_hours" and function in ("avg", "max", "min"):
            return SQL(
                "%s(EXTRACT(EPOCH FROM (NOW() AT TIME ZONE 'UTC' - %s)) / 3600.0)",
                SQL(function.upper()),
                self._field_to_sql(self._table, "create_date", query),
            )
        return super()._read_group_select(aggregate_spec, query)

    @api.depends("payload", "request_body", "response_body")
    def _compute_pretty_bodies(self):
        for message in self:
            message.payload_pretty = pretty_json(message.payload)
            message.request_body_pretty = pretty_json_text(message.request_body)
            message.response_body_pretty = pretty_json_text(message.response_body)

    # --- states --------------------------------------------------------------------------------
    def write(self, vals):
        """A message's state changes only through ``_set_state`` (TRANSITIONS, and the audited
        actions that call it: replay, discard, delivery, processing), never by a plain write
        over RPC, which would skip both.

        :raises AccessError: a write of ``state`` from anywhere else, or a move into a company
            the user doesn't belong to
        """
        check_company_member(self.env, [vals])
        if "state" in vals and self.env.context.get("logistics_state_change") is not STATE_CHANGE:
            raise AccessError(
                self.env._(
                    "A message's state changes only through its actions (replay, discard), "
                    "which check the transition and keep the audit."
                )
            )
        return super().write(vals)

    def _set_state(self, state, **values):
        for message in self:
            if state != message.state and state not in TRANSITIONS[message.state]:
                raise UserError(
                    self.env._(
                        "Message %(name)s can't go from %(old)s to %(new)s.",
                        name=message.name,
                        old=message.state,
                        new=state,
                    )
                )
        self.with_context(logistics_state_change=STATE_CHANGE).write(
            dict(values, state=state, state_changed_at=fields.Datetime.now())
        )

    # --- outbound delivery ---------------------------------------------------------------------
    @api.model
    def _create_outbound(self, backend, operation, payload, endpoint="", shipment=None, **extra):
        """Create an outbound message and queue its delivery."""
        message = self.create(
            dict(
                extra,
                direction="outbound",
                backend_id=backend.id,
                operation=operation,
                payload=payload,
                endpoint=endpoint,
                shipment_id=shipment.id if shipment else False,
                correlation_id=shipment.correlation_id if shipment else secrets.token_hex(16),
                company_id=backend.company_id.id,
            )
        )
        message._enqueue_delivery()
        return message

    def _enqueue_delivery(self, eta=None):
        """Queue one delivery attempt per message, on the channel and at the priority of its
        operation's flow policy (else the backend's channel; see logistics.flow._job_options)."""
        options = {}
        for message in self:
            if message.state == "received":
                message._set_state("queued")
            key = (message.operation, message.backend_id)
            if key not in options:
                options[key] = self.env["logistics.flow"]._job_options(*key)
            message.with_delay(
                **options[key],
                eta=eta,
                description=f"Deliver {message.operation} to {message.backend_id.code}",
                identity_key=f"logistics-deliver-{message.id}-{message.attempts}",
            )._deliver()

    def _deliver(self):
        """Job: one attempt at delivering this outbound message.

        A partner's call is never made again because of something written after it. Once the
        partner answered, the job writes the answer on the message (``outcome_pending``) and
        the attempt row: rows of this message, which no other transaction writes. What the
        answer means (``_apply_outcome``: the circuit breaker on the backend row, the state,
        the operation's hook writing the shipment, events, exceptions, rows that concurrent
        jobs write too) is applied in a savepoint. When a concurrent transaction committed a
        change to one of those rows (a serialization failure, a deadlock), the savepoint is
        rolled back, the job ends with the answer stored, and a job of its own applies it from
        a fresh snapshot (``_apply_outcome_job``), which queue_job runs again on a conflict
        without calling the partner.

        :return: a summary for the job's result (str)
        """
        self.ensure_one()
        self = self.sudo()
        if self.outcome_pending:
            return self._apply_outcome()
        if self.state not in ("queued", "retrying"):
            return f"nothing to do: message is {self.state}"
        backend = self.backend_id
        wait = backend._wait_before_call() or self._wait_for_earlier_publications()
        if wait:
            # Paused, circuit open or rate-limited: wait without consuming an attempt.
            raise RetryableJobError(
                f"backend {backend.code} unavailable ({backend.health})",
                seconds=int(wait) + 1,
                ignore_retry=True,
            )
        self._set_state("processing")
        number = self.attempts + 1
        request_body = json.dumps(self.payload) if self.payload is not None else None
        headers = self._request_headers(backend)
        started = time.monotonic()
        status, response_text, retry_after, failure, error = backend._send(
            self, request_body, headers
        )
        latency = int((time.monotonic() - started) * 1000)
        if failure and backend._already_done(self, status, response_text):
            # The partner has what the message asked for (a create whose answer was lost):
            # delivered, with its answer kept.
            failure = None
            error = f"HTTP {status}: the partner already has it ({backend.adapter} rule)"
        error_class = (
            self.env["logistics.error.rule"]._classify(failure, status) if failure else None
        )
        retry_in = None
        if error_class == "transient" and number < backend.max_attempts:
            retry_in = backend._backoff(number, retry_after)
        elif error_class == "security":
            # Refused credentials are the backend's fault, not this message's: it waits with
            # the backend's other calls (circuit "credentials refused") for a new secret.
            retry_in = 0
        _logger.info(
            "deliver %s #%s to %s [%s]: attempt %s, %s in %s ms",
            self.operation,
            self.id,
            backend.code,
            self.correlation_id,
            number,
            status or error,
            latency,
        )
        self.env["logistics.message.attempt"].create(
            {
                "message_id": self.id,
                "number": number,
                "http_status": status,
                "error_class": error_class,
                "error": error,
                "latency_ms": latency,
                "retry_in": retry_in,
            }
        )
        self.write(
            {
                "attempts": number,
                "http_status": status,
                "latency_ms": latency,
                "error_class": error_class,
                "error": error if failure else False,
                "request_body": self._redact(request_body, backend),
                "response_body": self._redact(response_text, backend),
                "next_retry_at": fields.Datetime.now() + timedelta(seconds=retry_in)
                if retry_in is not None
                else False,
                "outcome_pending": True,
            }
        )
        try:
            with self.env.cr.savepoint():
                return self._apply_outcome(response_text)
        except (*PG_CONCURRENCY_EXCEPTIONS_TO_RETRY, ConcurrencyError) as conflict:
            _logger.info(
                "deliver %s #%s [%s]: answer stored, applied by a job of its own after a "
                "conflict (%s)",
                self.operation,
                self.id,
                self.correlation_id,
                conflict.__class__.__name__,
            )
        self.with_delay(
            **self.env["logistics.flow"]._job_options(self.operation, backend),
            description=f"Apply the answer of {self.operation} #{self.id}",
            identity_key=f"logistics-outcome-{self.id}-{number}",
        )._apply_outcome_job()
        return f"HTTP {status or error}: answer stored, applied by a job of its own (conflict)"

    def _apply_outcome_job(self):
        """Job: apply the stored answer of this message's last call (a delivery job whose
        application met a concurrent change). Calls no partner: queue_job may run it again."""
        self.ensure_one()
        message = self.sudo()
        if not message.outcome_pending:
            return f"nothing to do: message is {message.state}"
        try:
            return message._apply_outcome()
        except ConcurrencyError as conflict:
            # queue_job retries PostgreSQL's concurrency errors only: this one too.
            raise RetryableJobError(str(conflict), seconds=2) from conflict

    def _apply_outcome(self, response_text=None):
        """What the stored outcome of the last call means: the circuit breaker is fed, the
        message ends done, retrying (its next attempt queued) or dead, and the operation's
        hooks run. Safe to run again after a database conflict: it calls no partner.

        :param str response_text: the partner's answer as received; None when the job runs
            again after a conflict: the stored (redacted) answer is used then
        :return: a summary for the job's result (str)
        """
        self.ensure_one()
        if response_text is None:
            response_text = self.response_body
        backend = self.backend_id
        if not self.error_class:
            try:
                # Undoes what the hook did when it raises AnswerNotUnderstood.
                with self.env.cr.savepoint():
                    self._set_state("done", outcome_pending=False)
                    self._on_delivered(response_text)
            except AnswerNotUnderstood as not_understood:
                backend._record_call(None, message=self)
                return self._answer_not_understood(not_understood, response_text)
            # Once the message is done: a recovery closes what its delivery cleared.
            backend._record_call(None, message=self)
            return f"delivered: HTTP {self.http_status}"
        backend._record_call(self.error_class, message=self, error=self.error)
        if self.next_retry_at:
            self._set_state("retrying", outcome_pending=False)
            delay = max((self.next_retry_at - fields.Datetime.now()).total_seconds(), 0)
            self._enqueue_delivery(eta=timedelta(seconds=delay))
            return (
                f"{self.error}: retry {self.attempts + 1}/{backend.max_attempts} in {delay:.1f} s"
            )
        self._set_state("dead", outcome_pending=False)
        if not self._on_dead(response_text):
            self._raise_dead_letter_alert()
        return f"{self.error}: dead ({self.error_class})"

    def _answer_not_understood(self, error, response_text):
        """The delivered answer is not what the operation expects (``AnswerNotUnderstood``):
        dead, class business, with a schema_invalid exception (and ``_on_dead``, as any dead
        message)."""
        error = str(error)
        self.env["logistics.message.attempt"].search(
            [("message_id", "=", self.id), ("number", "=", self.attempts)]
        ).write({"error_class": "business", "error": error})
        self._set_state("dead", error_class="business", error=error, outcome_pending=False)
        self._raise_schema_invalid(
            f"{self.backend_id.code}: {self.operation} answer not understood ({error})",
            f"The partner answered HTTP {self.http_status}, but not with what "
            f"{self.operation} expects: {error}\n\n{self.response_body or ''}",
        )
        self._on_dead(response_text)
        return f"answer not understood: dead ({error})"

    # --- outcome hooks: what a delivered or dead message means for the business ----------------
    def _on_delivered(self, response_text):
        """Dispatch a delivered message's response to ``_on_delivered_<operation>`` when the
        operation has one (connectors add them): e.g. a label purchase stores the label. A
        handler raises ``AnswerNotUnderstood`` when the answer is not what the operation
        expects: the message then ends dead instead of done."""
        handler = getattr(self, f"_on_delivered_{self.operation}", None)
        if handler:
            handler(self._parse_response(response_text))

    def _on_dead(self, response_text):
        """Dispatch a dead message to ``_on_dead_<operation>`` when the operation has one.

        :return: the handler's answer: true when it raised an exception of its own that names
            the failure (a cancel refused because the order shipped), which then stands instead
            of the generic dead-letter one (``_raise_dead_letter_alert``)
        """
        handler = getattr(self, f"_on_dead_{self.operation}", None)
        return handler(self._parse_response(response_text)) if handler else None

    @staticmethod
    def _parse_response(response_text):
        try:
            return json.loads(response_text) if response_text else None
        except ValueError:
            return None

    def _on_dead_publish_milestone(self, _response):
        """A sales channel that never confirmed a milestone (e.g. the tracking number) leaves
        the order exposed on the channel: someone must act."""
        if self.backend_id.kind != "channel" or not self.shipment_id:
            return
        self.env["logistics.exception"]._raise(
            "dispatch_confirmation_failed",
            [
                {
                    "name": f"{self.backend_id.name}: {self.payload.get('type')} of "
                    f"{self.shipment_id.name} not confirmed",
                    "shipment_id": self.shipment_id.id,
                    "backend_id": self.backend_id.id,
                    "message_id": self.id,
                    "description": f"The channel did not confirm the publication: {self.error}",
                    "company_id": self.company_id.id,
                }
            ],
        )

    def _wait_for_earlier_publications(self):
        """Seconds to wait while an earlier publication of the same shipment to the same
        subscriber is undelivered: a subscriber gets each shipment's milestones in event order,
        however long it was down. Another shipment's publication that fails doesn't hold this
        one (a channel refusing one order kept every later order of the demo waiting)."""
        if self.operation != "publish_milestone":
            return 0
        earlier = self.search_count(
            [
                ("backend_id", "=", self.backend_id.id),
                ("shipment_id", "=", self.shipment_id.id),
                ("operation", "=", "publish_milestone"),
                ("direction", "=", "outbound"),
                ("state", "in", ("queued", "retrying", "processing")),
                ("id", "<", self.id),
            ],
            limit=1,
        )
        return 5 if earlier else 0

    def _request_headers(self, backend):
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": self.uuid,
            "traceparent": f"00-{self.correlation_id}-{secrets.token_hex(8)}-01",
        }
        if backend.auth_type == "api_key":
            headers["X-Api-Key"] = backend._get_secret("api_key") or ""
        elif backend.auth_type == "bearer":
            headers["Authorization"] = f"Bearer {backend._get_secret('api_key') or ''}"
        return headers

    @staticmethod
    def _parse_retry_after(value):
        """Seconds to wait that a ``Retry-After`` header value asks for, or None.

        RFC 9110 §10.2.3: the value is delay-seconds (``120``) or an HTTP-date (``Wed, 21 Oct
        2026 07:28:00 GMT``, parsed by werkzeug's ``parse_date``, i.e. the standard library's
        RFC 5322 parser). A date in the past means now (0); an absent or unparseable value
        means the partner asked for nothing (None): the backend's backoff applies.
        """
        value = (value or "").strip()
        if value.isascii() and value.isdigit():
            return float(value)
        retry_at = parse_date(value) if value else None
        if retry_at is None:
            return None
        return max((retry_at - datetime.now(timezone.utc)).total_seconds(), 0.0)

    @api.model
    def _redact(self, text, backend):
        """The text with every secret of the backend replaced, cut to a storable size."""
        if not text:
            return text
        for name in ("api_key", "password", "webhook_secret"):
            secret = backend._get_secret(name) if backend else None
            if secret:
                text = text.replace(secret, REDACTED)
        text = SECRET_JSON_VALUE.sub(rf'\1"{REDACTED}"', text)
        return text[:MAX_STORED_BODY]

    def _raise_dead_letter_alert(self):
        """A business failure needs a person: one schema_invalid exception per backend,
        operation and HTTP status (grouped by root cause), each message an occurrence. (A
        security failure never makes a message dead: it waits on the backend's circuit, see
        ``logistics.backend._record_call``.)"""
        for message in self.filtered(lambda m: m.error_class == "business"):
            message._raise_schema_invalid(
                f"{message.backend_id.code}: {message.operation} refused"
                f" (HTTP {message.http_status or '-'})",
                f"The partner refused the message:\n\n{message.response_body or ''}",
                cause=f"refused:{message.operation}:{message.http_status or ''}",
                occurrence=message.error,
            )

    def _raise_schema_invalid(self, name, description, **grouping):
        """A schema_invalid exception about this message: what the partner sent or answered
        is not what the protocol says (a refusal, an answer or a file not understood)."""
        self.ensure_one()
        return self.env["logistics.exception"]._raise(
            "schema_invalid",
            [
                {
                    "name": name,
                    "backend_id": self.backend_id.id,
                    "message_id": self.id,
                    "shipment_id": self.shipment_id.id,
                    "description": description,
                    "company_id": self.company_id.id,
                    **grouping,
                }
            ],
        )

    # --- dead letters: replay, edit, discard ---------------------------------------------------
    def replay(self, reason):
        """RPC: replay these dead or rejected messages through the normal pipeline.

        JSON-2: ``POST /json/2/logistics.message/replay`` with ``{"ids": [...], "reason": ...}``;
        XML-RPC / JSON-RPC: ``execute_kw(db, uid, key, "logistics.message", "replay",
        [ids, reason])``. Each message is replayed as a new message linked to it, and audited
        with the caller and the reason.

        :param str reason: why (required, kept in the audit log)
        :return: the new messages' ids, in the order of the messages replayed (list of int)
        :raise UserError: the caller is not a Logistics Manager, the reason is empty, or a
            message is neither dead nor rejected; nothing is replayed then
        """
        return self.action_replay(reason).ids

    def action_replay(self, reason, payload=None):
        """Replay each message as a new message linked to it; returns the new messages."""
        self._check_replay(reason, payload)
        return self._replay(reason, payload)

    def _replay(self, reason, payload=None):
        """Replay without the checks of a person's replay (Odoo itself replays, e.g. an event
        whose shipment is now known)."""
        replays = self.browse()
        for message in self:
            values = {
                "replay_of_id": message.id,
                # The original keeps the partner's event id (a redelivery stays a duplicate).
                "partner_event_id": False,
                "state": "received",
                "attempts": 0,
                "error": False,
                "error_class": False,
                "http_status": False,
                "payload": payload if payload is not None else message.payload,
                # The same request, so the same Idempotency-Key: whatever the partner did
                # under it (a label bought, an order taken, the answer lost), it answers with
                # that rather than doing it again. An edited payload is another request.
                "uuid": str(uuid.uuid4())
                if payload is not None and payload != message.payload
                else message.uuid,
            }
            replay = message.copy(values)
            replays |= replay
            self.env["logistics.audit.log"]._record(
                "edit_replay" if payload is not None else "replay",
                message,
                reason=reason,
                changes=f"Replayed as message #{replay.id}"
                + (
                    f"\nEdited payload: {json.dumps(payload)[:2000]}" if payload is not None else ""
                ),
            )
        replays.filtered(lambda m: m.direction == "outbound")._enqueue_delivery()
        for replay in replays.filtered(lambda m: m.direction == "inbound"):
            replay.backend_id._queue_inbound(replay)
        return replays

    def _check_replay(self, reason, payload=None):
        check_manager(self.env, self.env._("replay messages"))
        if not (reason or "").strip():
            raise UserError(self.env._("Say why: a replay needs a reason."))
        self._check_reason_storable(reason)
        not_dead = self.filtered(lambda m: m.state not in ("dead", "rejected"))
        if not_dead:
            raise UserError(
                self.env._(
                    "Only dead or rejected messages can be replayed (%(names)s is not).",
                    names=", ".join(not_dead.mapped("name")),
                )
            )
        # A refused webhook request kept its body as received, not as a payload to apply: it
        # never passed the checks (an unknown backend, a bad signature, not JSON…).
        refused = self.filtered(
            lambda m: m.state == "rejected" and (not m.backend_id or payload is None)
        )
        if refused:
            raise UserError(
                self.env._(
                    "%(names)s was refused at the door (%(error)s): there is nothing checked "
                    "to replay. Replay it with an edited payload (its backend's events, "
                    "corrected), or ask the partner to send it again.",
                    names=", ".join(refused.mapped("name")),
                    error=refused[0].error or "-",
                )
                if all(message.backend_id for message in refused)
                else self.env._(
                    "%(names)s was sent to no known backend: it can't be replayed.",
                    names=", ".join(refused.mapped("name")),
                )
            )

    def _check_reason_storable(self, reason):
        problem = storable_problem(reason) if isinstance(reason, str) else "it is not text"
        if problem:
            raise UserError(self.env._("The reason can't be kept: %(problem)s.", problem=problem))

    def action_discard(self, reason):
        check_manager(self.env, self.env._("discard messages"))
        if not (reason or "").strip():
            raise UserError(self.env._("Say why: discarding needs a reason."))
        self._check_reason_storable(reason)
        self._set_state("discarded", discard_reason=reason)
        self.env["logistics.audit.log"]._record("discard", self, reason=reason)

    def action_open_replay_wizard(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": "logistics.replay.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"active_model": self._name, "active_ids": self.ids},
        }

    # --- inbound storage and processing -------------------------------------------------------
    @api.model
    def _store_inbound(self, backend, operation, payload, raw, partner_event_id, correlation_id):
        """Store a received message, already queued, in one statement; the webhook hot path.

        :return: (new message id, or None when the partner's event id was already received as
            a message or as an event by any other path; whether a batch processing job of the
            backend is already waiting, which will take the message). The unique index on
            (backend, partner event id) settles concurrent deliveries of the same event.
        """
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                WITH stored AS (
                    INSERT INTO logistics_message
                        (direction, backend_id, operation, payload, partner_event_id,
                         request_body, correlation_id, http_status, http_method, state,
                         state_changed_at, uuid, attempts, company_id, create_uid, create_date,
                         write_uid, write_date)
                    SELECT 'inbound', %(backend)s, %(operation)s, %(payload)s::jsonb,
                           %(event_id)s, %(raw)s, %(correlation)s, 202, 'POST', 'queued',
                           %(now)s, %(uuid)s, 0, %(company)s, %(uid)s, %(now)s, %(uid)s, %(now)s
                     WHERE %(event_id)s::varchar IS NULL OR NOT EXISTS (
                           SELECT 1 FROM logistics_event
                            WHERE backend_id = %(backend)s AND source_event_id = %(event_id)s)
                    ON CONFLICT (backend_id, partner_event_id)
                       WHERE direction = 'inbound' AND state <> 'rejected'
                    DO NOTHING
                    RETURNING id
                )
                SELECT (SELECT id FROM stored),
                       EXISTS (SELECT 1 FROM queue_job WHERE identity_key = %(job_key)s
                                  AND state IN ('pending', 'enqueued', 'wait_dependencies'))
                """,
                backend=backend.id,
                operation=operation,
                payload=json.dumps(payload),
                event_id=partner_event_id,
                raw=raw,
                correlation=correlation_id,
                now=now,
                uuid=str(uuid.uuid4()),
                company=backend.company_id.id,
                uid=self.env.uid,
                job_key=backend._inbound_job_key(),
            )
        )
        message_id, job_pending = self.env.cr.fetchone()
        return message_id, job_pending

    # --- inbound processing -------------------------------------------------------------------
    def _process_inbound_job(self):
        """Job: process this one inbound message (backends that don't batch), with the
        isolation of ``logistics.backend._process_inbound``: an error applying it makes it dead
        with an exception; a database concurrency error retries the job."""
        self.ensure_one()
        if self.state != "queued":
            return f"nothing to do: message is {self.state}"
        return self.backend_id.sudo()._process_inbound(self.sudo())

    # --- retention -----------------------------------------------------------------------------
    @api.model
    def _cron_purge_payloads(self):
        """Remove stored bodies older than the retention period; messages and events stay."""
        days = int(
            self.env["ir.config_parameter"].sudo().get_param("logistics.payload_retention_days", 90)
        )
        limit = fields.Datetime.now() - timedelta(days=days)
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_message
                   SET request_body = NULL, response_body = NULL, payload = NULL,
                       rejected_body = NULL, payload_purged = TRUE
                 WHERE create_date < %s AND NOT COALESCE(payload_purged, FALSE)
                   AND state IN ('done', 'ignored', 'discarded', 'rejected')
                """,
                limit,
            )
        )
        purged = self.env.cr.rowcount
        self.env.cr.execute(
            SQL(
                "UPDATE logistics_event SET payload = NULL"
                " WHERE recorded_at < %s AND payload IS NOT NULL",
                limit,
            )
        )
        self.invalidate_model(["request_body", "response_body", "payload", "payload_purged"])
        self.env["logistics.event"].invalidate_model(["payload"])
        _logger.info("retention: purged the bodies of %s messages older than %s days", purged, days)
        return purged
