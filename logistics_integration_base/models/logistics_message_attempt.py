from odoo import fields, models

from .logistics_error_rule import ERROR_CLASSES


class LogisticsMessageAttempt(models.Model):
    """One try at delivering an outbound message: the history behind its attempts counter."""

    _name = "logistics.message.attempt"
    _description = "Logistics Message Attempt"
    _order = "message_id, number"

    message_id = fields.Many2one("logistics.message", required=True, ondelete="cascade", index=True)
    # Numbers and codes, not quantities: nothing to add up when attempts are grouped.
    number = fields.Integer(required=True, aggregator="max")
    attempted_at = fields.Datetime(required=True, default=fields.Datetime.now)
    http_status = fields.Integer(string="HTTP Status", aggregator=None)
    error_class = fields.Selection(ERROR_CLASSES)
    error = fields.Char()
    latency_ms = fields.Integer(string="Latency (ms)", aggregator="avg")
    retry_in = fields.Float(
        string="Retry In (s)", aggregator="avg", help="Backoff chosen before the next attempt."
    )
    company_id = fields.Many2one(related="message_id.company_id", store=True)
    # Stored like the company: the monitoring's latency histogram per backend reads a day of
    # attempts without a lookup of each one's message (2,000 lookups cost 36 ms of a scrape).
    backend_id = fields.Many2one(related="message_id.backend_id", store=True)
