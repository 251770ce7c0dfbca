from odoo import fields, models

SEVERITIES = [
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
    ("critical", "Critical"),
]


class LogisticsExceptionType(models.Model):
    """A kind of business exception (catalogue as data) with its default handling."""

    _name = "logistics.exception.type"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Exception Type"
    _order = "name"

    code = fields.Char(required=True, index=True)
    name = fields.Char(required=True, translate=True)
    severity = fields.Selection(SEVERITIES, required=True, default="medium")
    team_id = fields.Many2one(
        "logistics.team",
        required=True,
        default=lambda self: self.env.ref(
            "logistics_integration_base.team_operations", raise_if_not_found=False
        ),
        help="The team that owns exceptions of this type: its members are told of each new "
        "exception group and get the team's digest.",
    )
    partner_level = fields.Boolean(
        string="Partner-Level",
        help="A fault of a whole backend (its partner is down, or refuses our credentials): "
        "while an exception of this type is open for a backend, the exceptions the backend's "
        "calls cause are held under it instead of showing on the board, and it closes itself "
        "when the backend's next call succeeds.",
    )
    resolution_hours = fields.Integer(
        string="Resolution SLA (hours)",
        default=24,
        help="An exception's deadline is its creation time plus this many hours.",
    )
    suggested_actions = fields.Text(
        translate=True, help="What the person working the exception should consider doing."
    )
    description = fields.Text(translate=True)
    resolving_event_type_ids = fields.Many2many(
        "logistics.event.type",
        string="Resolved By Events",
        help="An open exception of this type on a shipment closes itself when one of these "
        "events arrives for the shipment (noted in its chatter).",
    )
    resolved_by_replay = fields.Boolean(
        help="An open exception of this type on an inbound message that was not applied closes "
        "itself when a replay of that message is applied (noted in its chatter)."
    )
    active = fields.Boolean(default=True)

    _code_uniq = models.Constraint("unique (code)", "An exception type code must be unique.")
