from odoo import api, fields, models

ERROR_CLASSES = [
    ("transient", "Transient"),
    ("business", "Business"),
    ("security", "Security"),
]


class LogisticsErrorRule(models.Model):
    """How a failed partner call is classified, as data: a transport failure or an HTTP status
    range maps to an error class, which decides retry, dead letter and who is told."""

    _name = "logistics.error.rule"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Error Classification Rule"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10, help="The first matching rule wins.")
    failure = fields.Selection(
        [("http", "HTTP status"), ("timeout", "Timeout"), ("connection", "Connection error")],
        required=True,
        default="http",
    )
    status_from = fields.Integer(help="First HTTP status of the range (HTTP rules).")
    status_to = fields.Integer(help="Last HTTP status of the range (HTTP rules).")
    error_class = fields.Selection(ERROR_CLASSES, required=True)
    active = fields.Boolean(default=True)

    @api.model
    def _classify(self, failure, status=None):
        """The error class for a failure ('http' with a status, 'timeout', 'connection')."""
        for rule in self.search([("failure", "=", failure)]):
            if failure != "http" or rule.status_from <= (status or 0) <= rule.status_to:
                return rule.error_class
        # No rule: retrying an unknown failure is safer than losing the message.
        return "transient"
