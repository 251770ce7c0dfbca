import hashlib
import hmac
import random
import time
from datetime import timedelta

import requests

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from . import secret_cipher

# Secret name -> label. Each secret is a write-only field on the backend; its ciphertext lives in
# a column that is not an ORM field (like res.users' password hash), so no read, search_read or
# export can return it, for any user.
SECRETS = {
    "api_key": "API Key",
    "password": "Password",
    "webhook_secret": "Webhook Signing Secret",
}

# Per-cursor cache of webhook signing secrets' ciphertexts read by the webhook lookup.
WEBHOOK_TOKENS_KEY = "logistics.webhook_secret_tokens"
# What a webhook request reads of its backend, in the one lookup query.
WEBHOOK_FIELDS = (
    "code",
    "company_id",
    "adapter",
    "webhook_max_bytes",
    "inbound_batch",
    "inbound_batch_window",
    "paused",
    "channel",
)

BACKEND_KINDS = [
    ("wms", "WMS / 3PL"),
    ("carrier", "Carrier"),
    ("finance", "Finance"),
    ("channel", "Sales Channel"),
    ("visibility", "Visibility Platform"),
]


class LogisticsBackend(models.Model):
    _name = "logistics.backend"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Partner Backend"
    _order = "sequence, name"

    name = fields.Char(required=True)
    code = fields.Char(
        required=True,
        index=True,
        help="Identifies the backend in URLs and API calls (webhooks, ingest_events); "
        "unique per company.",
    )
    sequence = fields.Integer(default=10, help="Priority among backends of the same kind.")
    active = fields.Boolean(default=True)
    kind = fields.Selection(
        BACKEND_KINDS,
        required=True,
        help="The role the partner plays; event ownership rules refer to it.",
    )
    adapter = fields.Selection(
        [("generic", "Generic (canonical events)")],
        required=True,
        default="generic",
        help="How the partner's messages are translated. Generic takes canonical events as they "
        "are; connector addons add partner-specific adapters.",
    )
    protocol = fields.Selection(
        [("rest", "REST API"), ("webhook", "Webhooks only"), ("file", "File drop")],
        required=True,
        default="rest",
    )
    base_url = fields.Char(string="Base URL", help="Root URL of the partner's API.")
    auth_type = fields.Selection(
        [
            ("none", "None"),
            ("api_key", "API Key"),
            ("basic", "Basic (user / password)"),
            ("bearer", "Bearer Token"),
            ("hmac", "HMAC Signature"),
        ],
        string="Authentication",
        required=True,
        default="api_key",
    )
    username = fields.Char(
        help="User name for Basic authentication; empty: the API key is sent as the user name "
        "with an empty password (API-key services such as EasyPost)."
    )
    environment = fields.Selection(
        [("test", "Test / Sandbox"), ("production", "Production")],
        required=True,
        default="test",
    )
    connect_timeout = fields.Float(default=5.0, help="Seconds to wait for a connection.")
    read_timeout = fields.Float(default=30.0, help="Seconds to wait for a response.")
    max_attempts = fields.Integer(
        default=5, help="Attempts for a transient failure before the message goes dead."
    )
    rate_limit = fields.Integer(
        string="Rate Limit (per minute)", default=0, help="Outbound calls per minute; 0: no limit."
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    note = fields.Text()

    # --- reliability ---------------------------------------------------------------------------
    channel = fields.Char(
        string="Job Channel",
        required=True,
        default="root.logistics.operational",
        help="queue_job channel of this backend's jobs (declared in the job channels).",
    )
    backoff_base = fields.Float(
        string="Backoff Base (s)",
        default=2.0,
        help="Transient failures wait base * 2^(attempt - 1) seconds, with ±25% jitter, "
        "unless the partner says Retry-After.",
    )
    backoff_max = fields.Float(string="Backoff Cap (s)", default=600.0)
    paused = fields.Boolean(
        readonly=True, help="Paused by a person: jobs wait without consuming attempts."
    )
    circuit_threshold = fields.Integer(
        default=5, help="Consecutive transient failures that open the circuit."
    )
    circuit_cooldown = fields.Integer(
        string="Circuit Cool-down (s)",
        default=60,
        help="How long an open circuit waits before one probe call (half-open).",
    )
    circuit_state = fields.Selection(
        [("closed", "Closed"), ("open", "Open"), ("half_open", "Half-open")],
        default="closed",
        required=True,
        readonly=True,
    )
    consecutive_failures = fields.Integer(readonly=True)
    circuit_opened_at = fields.Datetime(readonly=True)
    last_success_at = fields.Datetime(readonly=True)
    last_failure_at = fields.Datetime(readonly=True)
    health = fields.Selection(
        [("ok", "Healthy"), ("degraded", "Degraded"), ("down", "Down"), ("paused", "Paused")],
        compute="_compute_health",
    )
    inbound_batch = fields.Boolean(
        string="Batch Inbound Processing",
        default=True,
        help="Process queued inbound messages of this backend in batches (one job for many "
        "messages) rather than one job per message.",
    )
    inbound_batch_window = fields.Float(
        string="Batch Window (s)",
        default=1.0,
        help="A batch processing job starts this many seconds after the message that queued "
        "it, and takes the messages received meanwhile with it: fewer, larger jobs under load, "
        "at the cost of this much latency.",
    )
    webhook_max_bytes = fields.Integer(
        string="Webhook Size Limit (bytes)",
        default=1_048_576,
        help="Larger webhook bodies are refused (HTTP 413) and not stored.",
    )

    api_key = fields.Char(
        string="API Key", compute="_compute_secrets", inverse="_inverse_api_key", copy=False
    )
    password = fields.Char(compute="_compute_secrets", inverse="_inverse_password", copy=False)
    webhook_secret = fields.Char(
        string="Webhook Signing Secret",
        compute="_compute_secrets",
        inverse="_inverse_webhook_secret",
        copy=False,
    )
    api_key_is_set = fields.Boolean(string="API Key Set", compute="_compute_secrets_set")
    password_is_set = fields.Boolean(string="Password Set", compute="_compute_secrets_set")
    webhook_secret_is_set = fields.Boolean(
        string="Webhook Secret Set", compute="_compute_secrets_set"
    )

    _code_company_uniq = models.Constraint(
        "unique (code, company_id)", "A backend code must be unique per company."
    )
    _timeouts_positive = models.Constraint(
        "check (connect_timeout > 0 and read_timeout > 0)", "Timeouts must be positive."
    )
    _max_attempts_positive = models.Constraint(
        "check (max_attempts >= 1)", "A backend needs at least one attempt."
    )
    _circuit_threshold_positive = models.Constraint(
        "check (circuit_threshold >= 1)", "The circuit threshold must be at least 1."
    )

    def init(self):
        for name in SECRETS:
            self.env.cr.execute(
                SQL(
                    "ALTER TABLE logistics_backend ADD COLUMN IF NOT EXISTS %s varchar",
                    SQL.identifier(f"{name}_token"),
                )
            )

    # --- secrets -------------------------------------------------------------------------------
    def _compute_secrets(self):
        # Write-only: the value is never given back.
        for backend in self:
            for name in SECRETS:
                backend[name] = False

    def _secret_tokens(self, name):
        if not self.ids:
            return {}
        # Tokens already read in this transaction by _webhook_lookup (the cursor's cache is
        # emptied at commit and rollback).
        read = self.env.cr.cache.get(WEBHOOK_TOKENS_KEY, {})
        if name == "webhook_secret" and all(id_ in read for id_ in self.ids):
            return {id_: read[id_] for id_ in self.ids}
        self.env.cr.execute(
            SQL(
                "SELECT id, %s FROM logistics_backend WHERE id IN %s",
                SQL.identifier(f"{name}_token"),
                tuple(self.ids),
            )
        )
        return dict(self.env.cr.fetchall())

    @api.depends()
    def _compute_secrets_set(self):
        tokens = {name: self._secret_tokens(name) for name in SECRETS}
        for backend in self:
            for name in SECRETS:
                backend[f"{name}_is_set"] = bool(tokens[name].get(backend.id))

    def _set_secret(self, name, value):
        token = secret_cipher.encrypt(self.env, value) if value else None
        self.env.cr.cache.pop(WEBHOOK_TOKENS_KEY, None)
        for backend in self:
            self.env.cr.execute(
                SQL(
                    "UPDATE logistics_backend SET %s = %s WHERE id = %s",
                    SQL.identifier(f"{name}_token"),
                    token,
                    backend.id,
                )
            )
        self.invalidate_recordset([f"{name}_is_set"])
        self.env["logistics.audit.log"]._record(
            "secret_set" if value else "secret_cleared",
            self,
            summary=f"{SECRETS[name]} {'set' if value else 'cleared'}",
        )

    def _inverse_api_key(self):
        for backend in self:
            if backend.api_key:
                backend._set_secret("api_key", backend.api_key)

    def _inverse_password(self):
        for backend in self:
            if backend.password:
                backend._set_secret("password", backend.password)

    def _inverse_webhook_secret(self):
        for backend in self:
            if backend.webhook_secret:
                backend._set_secret("webhook_secret", backend.webhook_secret)

    def _get_secret(self, name):
        """The decrypted secret, for the suite's own code (adapters, signatures); never exposed."""
        self.ensure_one()
        token = self._secret_tokens(name).get(self.id)
        return secret_cipher.decrypt(self.env, token) if token else False

    def action_clear_secret(self):
        name = self.env.context.get("secret_name")
        if name not in SECRETS:
            raise UserError(self.env._("Unknown secret."))
        self.check_access("write")
        self._set_secret(name, False)

    @api.model
    def action_rotate_secret_key(self):
        """Re-encrypt every backend secret (all companies) under the first configured key."""
        if not self.env.user.has_group("logistics_integration_base.group_logistics_manager"):
            raise UserError(self.env._("Only Logistics Managers can rotate the secret key."))
        rotated = self.browse()
        for name in SECRETS:
            column = SQL.identifier(f"{name}_token")
            self.env.cr.execute(
                SQL("SELECT id, %s FROM logistics_backend WHERE %s IS NOT NULL", column, column)
            )
            for backend_id, token in self.env.cr.fetchall():
                self.env.cr.execute(
                    SQL(
                        "UPDATE logistics_backend SET %s = %s WHERE id = %s",
                        column,
                        secret_cipher.rotate(self.env, token),
                        backend_id,
                    )
                )
                rotated |= self.browse(backend_id)
        self.env["logistics.audit.log"]._record(
            "key_rotated", rotated.sudo(), summary="Secrets re-encrypted with the current key"
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "%(count)s backend(s) re-encrypted with the current key.", count=len(rotated)
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    # --- lookup --------------------------------------------------------------------------------
    @api.model
    def _webhook_lookup(self, code):
        """The active backends with this code (any company), with what a webhook request needs
        of them already in the ORM cache, in one query: the webhook hot path."""
        columns = SQL(", ").join(SQL.identifier(name) for name in WEBHOOK_FIELDS)
        self.env.cr.execute(
            SQL(
                "SELECT id, %s, webhook_secret_token FROM logistics_backend"
                " WHERE code = %s AND active ORDER BY sequence, id",
                columns,
                code,
            )
        )
        rows = self.env.cr.fetchall()
        backends = self.browse([row[0] for row in rows])
        for index, name in enumerate(WEBHOOK_FIELDS, start=1):
            field = self._fields[name]
            field._insert_cache(
                backends,
                [
                    field.convert_to_cache(row[index], backend)
                    for row, backend in zip(rows, backends, strict=True)
                ],
            )
        tokens = self.env.cr.cache.setdefault(WEBHOOK_TOKENS_KEY, {})
        tokens.update((row[0], row[-1]) for row in rows)
        return backends

    @api.model
    def _find_by_code(self, code):
        """The backend with this code among the user's companies (the current company first)."""
        if not isinstance(code, str) or not code:
            raise UserError(self.env._("A backend code is required."))
        backends = self.search([("code", "=", code)])
        if len(backends) > 1:
            backends = backends.filtered(lambda b: b.company_id == self.env.company)[:1]
        if not backends:
            raise UserError(self.env._("No logistics backend with code %(code)r.", code=code))
        return backends

    # --- health: pause, circuit breaker, rate limit --------------------------------------------
    @api.depends("paused", "circuit_state", "consecutive_failures")
    def _compute_health(self):
        for backend in self:
            if backend.paused:
                backend.health = "paused"
            elif backend.circuit_state != "closed":
                backend.health = "down"
            elif backend.consecutive_failures:
                backend.health = "degraded"
            else:
                backend.health = "ok"

    def action_pause(self):
        self.write({"paused": True})
        return True

    def action_resume(self):
        self.write({"paused": False})
        held = self.env["logistics.message"].search(
            [
                ("backend_id", "in", self.ids),
                ("direction", "=", "inbound"),
                ("state", "=", "queued"),
            ]
        )
        for backend in self:
            backend._enqueue_inbound_processing(
                held.filtered_domain([("backend_id", "=", backend.id)])
            )
        return True

    def action_reset_circuit(self):
        self.write({"circuit_state": "closed", "consecutive_failures": 0})
        return True

    def _wait_before_call(self):
        """Seconds a call must wait (paused, circuit open, rate limit), or 0 to go ahead.
        Moves an open circuit whose cool-down is over to half-open: the next call is the probe."""
        self.ensure_one()
        if self.paused:
            return 60
        now = fields.Datetime.now()
        if self.circuit_state == "open":
            reopen_at = self.circuit_opened_at + timedelta(seconds=self.circuit_cooldown)
            if now < reopen_at:
                return max((reopen_at - now).total_seconds(), 1)
            self.sudo().circuit_state = "half_open"
        if self.rate_limit:
            self.env["logistics.message.attempt"].flush_model(["attempted_at", "message_id"])
            self.env.cr.execute(
                SQL(
                    "SELECT count(*) FROM logistics_message_attempt a"
                    " JOIN logistics_message m ON m.id = a.message_id"
                    " WHERE m.backend_id = %s AND a.attempted_at > %s",
                    self.id,
                    now - timedelta(seconds=60),
                )
            )
            if self.env.cr.fetchone()[0] >= self.rate_limit:
                return 60 / self.rate_limit
        return 0

    def _record_call(self, error_class):
        """Feed the circuit breaker with the outcome of one call."""
        self.ensure_one()
        now = fields.Datetime.now()
        backend = self.sudo()
        if error_class != "transient":
            # A partner that answers (even 4xx) is up.
            backend.write(
                {"consecutive_failures": 0, "circuit_state": "closed", "last_success_at": now}
            )
            return
        failures = backend.consecutive_failures + 1
        values = {"consecutive_failures": failures, "last_failure_at": now}
        if backend.circuit_state == "half_open" or failures >= backend.circuit_threshold:
            values.update(circuit_state="open", circuit_opened_at=now)
        backend.write(values)

    def _backoff(self, attempt, retry_after=None):
        """Seconds before the next attempt: Retry-After when the partner sets one, else
        exponential with jitter."""
        self.ensure_one()
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        delay = min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max)
        # Jitter spreads the retries of many messages that failed together.
        return delay * random.uniform(0.75, 1.25)  # noqa: S311 - not for security

    # --- transport (dispatched to the protocol, then to the adapter for files) -----------------
    def _send(self, message, body, headers):
        """One call to the partner for ``message``.

        :return: (HTTP status or None, response text, Retry-After seconds or None,
            failure kind ("http", "timeout", "connection") or None, error text or None)
        """
        self.ensure_one()
        if self.protocol == "file":
            return getattr(self, f"_send_file_{self.adapter}")(message, body)
        return self._send_http(message, body, headers)

    def _basic_auth(self):
        # Without a user name, the API key is the user name and the password is empty: the
        # scheme of API-key services such as EasyPost.
        if self.username:
            return self.username, self._get_secret("password") or ""
        return self._get_secret("api_key") or "", ""

    def _send_http(self, message, body, headers):
        url = (self.base_url or "").rstrip("/") + "/" + (message.endpoint or "").lstrip("/")
        try:
            response = requests.request(
                message.http_method or "POST",
                url,
                data=body,
                headers=headers,
                timeout=(self.connect_timeout, self.read_timeout),
                auth=self._basic_auth() if self.auth_type == "basic" else None,
            )
        except requests.Timeout as exc:
            return None, "", None, "timeout", f"timeout: {exc.__class__.__name__}"
        except requests.ConnectionError as exc:
            return None, "", None, "connection", f"connection error: {exc.__class__.__name__}"
        retry_after = message._parse_retry_after(response.headers.get("Retry-After"))
        if response.ok:
            return response.status_code, response.text, retry_after, None, None
        return (
            response.status_code,
            response.text,
            retry_after,
            "http",
            f"HTTP {response.status_code}",
        )

    # --- webhook authentication (dispatched to the adapter) ------------------------------------
    def _verify_webhook_signature(self, headers, raw_body):
        """Raise ValueError with the reason when the request is not signed by the partner."""
        self.ensure_one()
        return getattr(self, f"_verify_webhook_signature_{self.adapter}")(headers, raw_body)

    def _verify_webhook_signature_generic(self, headers, raw_body):
        """Stripe-like: X-Logistics-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>,
        within 300 seconds of now."""
        secret = self._get_secret("webhook_secret")
        if not secret:
            raise ValueError("the backend has no webhook signing secret")
        header = headers.get("X-Logistics-Signature", "")
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        if "t" not in parts or "v1" not in parts:
            raise ValueError("missing or malformed X-Logistics-Signature header")
        try:
            timestamp = int(parts["t"])
        except ValueError:
            raise ValueError("the signature timestamp is not a number") from None
        if abs(time.time() - timestamp) > 300:
            raise ValueError("the signature timestamp is outside the 300 s tolerance")
        expected = hmac.new(
            secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, parts["v1"]):
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
