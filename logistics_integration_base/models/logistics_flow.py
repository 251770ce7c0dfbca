from odoo import api, fields, models


class LogisticsFlow(models.Model):
    """Synchronisation policy of one flow: how fast and on which job channel it runs."""

    _name = "logistics.flow"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Flow Policy"
    _order = "priority, name"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(required=True, index=True, help="Operation code, e.g. order_release.")
    event_type_id = fields.Many2one(
        "logistics.event.type", help="The milestone this flow produces or reacts to."
    )
    mode = fields.Selection(
        [("realtime", "Real time"), ("near_realtime", "Near real time"), ("batch", "Batch")],
        required=True,
        default="near_realtime",
    )
    channel = fields.Char(
        required=True,
        default="root.logistics",
        help="queue_job channel the flow's jobs run on.",
    )
    priority = fields.Integer(default=10, help="queue_job priority: lower runs first.")
    latency_target = fields.Integer(
        string="Latency Target (minutes)", help="Expected time from trigger to completion."
    )
    active = fields.Boolean(default=True)

    _code_uniq = models.Constraint("unique (code)", "A flow code must be unique.")

    @api.model
    def _mode(self, code):
        """The sync mode of a flow; flows without a policy run in real time."""
        flow = self.sudo().search([("code", "=", code)], limit=1)
        return flow.mode if flow else "realtime"
