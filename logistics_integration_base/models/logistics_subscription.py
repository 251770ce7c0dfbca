from odoo import fields, models


class LogisticsSubscription(models.Model):
    """A backend that is told about some milestones (publication fan-out)."""

    _name = "logistics.subscription"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Milestone Subscription"
    _order = "backend_id"
    _rec_name = "backend_id"

    backend_id = fields.Many2one("logistics.backend", required=True, ondelete="cascade", index=True)
    event_type_ids = fields.Many2many("logistics.event.type", string="Milestones", required=True)
    company_id = fields.Many2one(related="backend_id.company_id", store=True, index=True)
    active = fields.Boolean(default=True)
