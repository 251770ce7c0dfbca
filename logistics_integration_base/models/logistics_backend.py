import requests

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from . import secret_cipher
from .json_text import storable_problem
from .logistics_access import check_company_member, check_manager
from .logistics_error_rule import ERROR_CLASSES

# Secret name -> label. Each secret is a write-only field on the backend; its ciphertext lives in
# a column that is not an ORM field (like res.users' password hash), so no read, search_read or
# export can return it, for any user.
SECRETS = {
    "api_key": "API Key",
    "password": "Password",
    "webhook_secret": "Webhook Signing Secret",
}
# The secrets sent to the partner (the webhook signing secret only checks what it sends us), and
# what decides where and how they are sent: change one of the latter and the former are cleared.
OUTBOUND_SECRETS = ("api_key", "password")
DESTINATION_FIELDS = ("base_url", "auth_type")

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
    # The circuit breaker's state, kept up to date by the calls themselves: not configuration.
    _audit_ignored_fields = (
        "circuit_state",
        "consecutive_failures",
        "circuit_opened_at",
        "last_failure_at",
        "last_error",
        "last_error_class",
        "failing_since",
    )

    name = fields.Char(required=True)
    code = fields.Char(
        required=True,
        index=True,
        help="Identifies the backend in URLs and API calls (webhooks, ingest_events); "
        "unique across companies.",
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
    base_url = fields.Char(
        string="Base URL",
        help="Root URL of the partner's API. Changing it clears the stored API key and password "
        "(unless they are set in the same save): a key never follows a new URL.",
    )
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
        default=5,
        help="Attempts for a transient failure before an outbound message goes dead; also the "
        "tries of an inbound processing job before its messages go dead.",
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
        [
            ("closed", "Closed"),
            ("open", "Open"),
            ("half_open", "Half-open"),
            ("credentials_refused", "Credentials refused"),
        ],
        default="closed",
        required=True,
        readonly=True,
        help="Closed: calls go. Open: too many transient failures; calls wait until a probe "
        "after the cool-down. Credentials refused: the partner answered 401 / 403; every call "
        "waits until a new secret is set or the backend is resumed.",
    )
    consecutive_failures = fields.Integer(
        readonly=True, help="Calls failed in a row, whatever the error class."
    )
    last_error = fields.Char(readonly=True, help="The error of the last failed call.")
    last_error_class = fields.Selection(ERROR_CLASSES, readonly=True)
    failing_since = fields.Datetime(
        readonly=True, help="When the current run of failed calls began (empty when healthy)."
    )
    circuit_opened_at = fields.Datetime(readonly=True)
    last_success_at = fields.Datetime(
        compute="_compute_last_success_at",
        help="When the last outbound message to this backend was delivered (from the messages: "
        "the backend row is not written on every successful call).",
    )
    last_failure_at = fields.Datetime(readonly=True)
    health = fields.Selection(
        [
            ("ok", "Healthy"),
            ("degraded", "Degraded"),
            ("down", "Down"),
            ("credentials_refused", "Credentials refused"),
            ("paused", "Paused"),
        ],
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
        string="API Key",
        compute="_compute_secrets",
        inverse="_inverse_api_key",
        search="_search_secret",
        copy=False,
    )
    password = fields.Char(
        compute="_compute_secrets",
        inverse="_inverse_password",
        search="_search_secret",
        copy=False,
    )
    webhook_secret = fields.Char(
        string="Webhook Signing Secret",
        compute="_compute_secrets",
        inverse="_inverse_webhook_secret",
        search="_search_secret",
        copy=False,
    )
    api_key_is_set = fields.Boolean(string="API Key Set", compute="_compute_secrets_set")
    password_is_set = fields.Boolean(string="Password Set", compute="_compute_secrets_set")
    webhook_secret_is_set = fields.Boolean(
        string="Webhook Secret Set", compute="_compute_secrets_set"
    )

    # Unique across companies: the code is in the webhook URL, which must name one backend
    # whatever another company creates (a second company's backend with the same code made
    # the first one's signed webhooks fail).
    _code_uniq = models.Constraint(
        "unique (code)",
        "A backend code must be unique, across companies too: it is in the webhook URL.",
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

    @api.model_create_multi
    def create(self, vals_list):
        check_company_member(self.env, vals_list)
        return super().create(vals_list)

    def write(self, vals):
        """Change backends; a new base URL or authentication type clears the API key and
        password that were stored for the old ones, unless the same write sets them again:
        otherwise the next call would send a key to a URL it was never meant for (issue 11,
        item 11). Each cleared secret is audited, with the reason.

        :raises AccessError: a move into a company the user doesn't belong to
        """
        check_company_member(self.env, [vals])
        moved = self.filtered(
            lambda backend: any(
                name in vals and (vals[name] or False) != (backend[name] or False)
                for name in DESTINATION_FIELDS
            )
        )
        result = super().write(vals)
        for name in OUTBOUND_SECRETS:
            stale = moved.filtered(f"{name}_is_set") if not vals.get(name) else moved.browse()
            if stale:
                stale._set_secret(
                    name,
                    False,
                    reason=self.env._(
                        "The base URL or authentication type changed: the secret is entered "
                        "again for the new destination."
                    ),
                )
        return result

    # --- secrets -------------------------------------------------------------------------------
    def _compute_secrets(self):
        # Write-only: the value is never given back.
        for backend in self:
            for name in SECRETS:
                backend[name] = False

    def _search_secret(self, operator, value):
        # Write-only: a search would tell a secret by trial (and Odoo answers a search on a
        # field without a search method with a server error).
        raise UserError(self.env._("Backend secrets are write-only: they can't be searched."))

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

    def _set_secret(self, name, value, reason=None):
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
        if value and name != "webhook_secret":
            # A new credential: the calls waiting on a refused one go (the next is the probe).
            self.filtered(lambda b: b.circuit_state == "credentials_refused")._probe_credentials()
        self.env["logistics.audit.log"]._record(
            "secret_set" if value else "secret_cleared",
            self,
            summary=f"{SECRETS[name]} {'set' if value else 'cleared'}",
            reason=reason,
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
        check_manager(self.env, self.env._("rotate the secret key"))
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
        # A code PostgreSQL can't compare (a NUL, say) is no backend's.
        backends = self.browse() if storable_problem(code) else self.search([("code", "=", code)])
        if len(backends) > 1:
            backends = backends.filtered(lambda b: b.company_id == self.env.company)[:1]
        if not backends:
            raise UserError(self.env._("No logistics backend with code %(code)r.", code=code))
        return backends

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

    def _already_done(self, message, status, response_text):
        """Whether the partner's refusal of ``message`` says that it already has what the
        message asks for (a create it took on an earlier call whose answer was lost, a replay,
        a call cut by a crash): the message is then delivered, with the refusal kept as its
        answer (status and body), instead of dead.

        The rule is the adapter's: ``_already_done_<adapter>(message, status, response)``
        with the parsed JSON answer (or None), e.g. the WMS REST adapter's 409 ORDER_EXISTS on
        an order release. An adapter without such a method has no such answer (False).

        :param message: the outbound ``logistics.message`` that was sent again
        :param int status: the HTTP status of the refusal (None without an answer)
        :param str response_text: the answer's body as received
        :rtype: bool
        """
        self.ensure_one()
        rule = getattr(self, f"_already_done_{self.adapter}", None)
        return bool(rule and rule(message, status, message._parse_response(response_text)))

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
