from odoo import fields, models

MESSAGE_STATES = [
    ("received", "Received"),
    ("queued", "Queued"),
    ("processing", "Processing"),
    ("done", "Done"),
    ("retrying", "Retrying"),
    ("dead", "Dead"),
    ("rejected", "Rejected"),
    ("ignored", "Ignored"),
]


class LogisticsMessage(models.Model):
    """One technical message exchanged with a partner (the exchange log)."""

    _name = "logistics.message"
    _description = "Logistics Message"
    _order = "id desc"

    name = fields.Char(compute="_compute_name")
    direction = fields.Selection(
        [("inbound", "Inbound"), ("outbound", "Outbound")], required=True, index=True
    )
    backend_id = fields.Many2one("logistics.backend", index=True, ondelete="restrict")
    operation = fields.Char(required=True, index=True, help="e.g. webhook, order_release")
    state = fields.Selection(MESSAGE_STATES, required=True, default="received", index=True)
    attempts = fields.Integer(readonly=True)
    next_retry_at = fields.Datetime(readonly=True)
    error_class = fields.Selection(
        [("transient", "Transient"), ("business", "Business"), ("security", "Security")],
        index=True,
    )
    error = fields.Text()
    http_status = fields.Integer(string="HTTP Status")
    latency_ms = fields.Integer(string="Latency (ms)")
    request_body = fields.Text(help="Stored with secrets redacted.")
    response_body = fields.Text(help="Stored with secrets redacted.")
    correlation_id = fields.Char(index=True, help="W3C trace id shared by everything of an order.")
    shipment_id = fields.Many2one("logistics.shipment", index=True, ondelete="set null")
    replay_of_id = fields.Many2one("logistics.message", index=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )

    def _compute_name(self):
        for message in self:
            message.name = f"{message.operation or ''} #{message.id or ''}".strip()
