from odoo import fields, models

from .logistics_alert import ALERT_STATES


class LogisticsAlertHistory(models.Model):
    """One state an alert took: when, and the metric's value then."""

    _name = "logistics.alert.history"
    _description = "Logistics Alert State History"
    _order = "changed_at, id"

    alert_id = fields.Many2one("logistics.alert", required=True, ondelete="cascade", index=True)
    state = fields.Selection(ALERT_STATES, required=True)
    changed_at = fields.Datetime(required=True, default=fields.Datetime.now)
    value = fields.Float()
    note = fields.Char()
