from odoo import fields, models

OWNER_KINDS = [
    ("odoo", "Odoo"),
    ("wms", "WMS / 3PL"),
    ("carrier", "Carrier"),
    ("finance", "Finance"),
    ("channel", "Sales Channel"),
    ("visibility", "Visibility Platform"),
]


class LogisticsOwnershipRule(models.Model):
    """System of record per event type: an event from a backend of another kind is stored and
    marked "not owner", and changes no status."""

    _name = "logistics.ownership.rule"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Ownership Rule"
    _order = "event_type_id"
    _rec_name = "event_type_id"

    event_type_id = fields.Many2one(
        "logistics.event.type", required=True, ondelete="cascade", index=True
    )
    owner_kind = fields.Selection(
        OWNER_KINDS, required=True, help="The kind of system whose events of this type count."
    )
    note = fields.Char()
    active = fields.Boolean(default=True)

    _event_type_uniq = models.Constraint("unique (event_type_id)", "An event type has one owner.")
