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
    team = fields.Selection(
        [
            ("operations", "Operations"),
            ("warehouse", "Warehouse"),
            ("transport", "Transport"),
            ("customer_service", "Customer Service"),
            ("finance", "Finance"),
            ("integration", "Integration"),
        ],
        required=True,
        default="operations",
        help="The team that owns exceptions of this type by default.",
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
