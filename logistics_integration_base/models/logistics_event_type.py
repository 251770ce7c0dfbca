from odoo import fields, models


class LogisticsEventType(models.Model):
    """One canonical milestone type of the taxonomy (order_released … delivered, finance and
    channel milestones). Partner codes are mapped to these by the adapters' mapping tables."""

    _name = "logistics.event.type"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Event Type"
    _order = "sequence, id"

    code = fields.Char(required=True, index=True, help="Canonical code used in events and APIs.")
    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10, help="Position in the shipment's life cycle.")
    category = fields.Selection(
        [
            ("execution", "Execution"),
            ("side", "Side branch"),
            ("finance", "Finance"),
            ("channel", "Channel"),
        ],
        required=True,
        default="execution",
    )
    sets_status = fields.Boolean(
        default=True,
        help="Whether an event of this type becomes the shipment's status. Finance and channel "
        "milestones are recorded on the timeline without changing the delivery status.",
    )
    is_final = fields.Boolean(help="The shipment's journey ends with this milestone.")
    description = fields.Text(translate=True)
    active = fields.Boolean(default=True)

    _code_uniq = models.Constraint("unique (code)", "An event type code must be unique.")
