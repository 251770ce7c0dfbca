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
    username = fields.Char(help="User name for Basic authentication.")
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
