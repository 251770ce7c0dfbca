from odoo import fields, models


class LogisticsBackend(models.Model):
    """What ``/logistics/health`` expects of a production backend (its backends check,
    ``logistics.health._check_backends``)."""

    _inherit = "logistics.backend"

    expected_success_interval = fields.Integer(
        string="Expected Success Interval (min)",
        default=0,
        help="For a production backend: the minutes within which a call to the partner is "
        "expected to succeed (an outbound message delivered). /logistics/health fails its "
        "backends check when the last success is older, or, for a backend that never "
        "succeeded, when it was created longer ago. 0: not checked.",
    )

    _expected_success_interval_not_negative = models.Constraint(
        "CHECK (expected_success_interval >= 0)",
        "The expected success interval is a number of minutes, 0 (not checked) or more.",
    )
