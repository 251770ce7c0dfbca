from odoo import api, fields, models
from odoo.exceptions import ValidationError

# queue_job's priority of a job that names none (lower runs first).
DEFAULT_JOB_PRIORITY = 10


class LogisticsFlow(models.Model):
    """Synchronisation policy of one flow: how fast, on which job channel and at which priority
    the jobs of one operation run.

    The code is the operation of the flow's outbound messages (``order_release``,
    ``publish_milestone``, ``label_buy``, ``stock_snapshot``…): the policy of an operation
    decides the channel and priority of its delivery jobs, ahead of the backend's own channel
    (see ``_job_options``).
    """

    _name = "logistics.flow"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Flow Policy"
    _order = "priority, name"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(
        required=True,
        index=True,
        help="The operation whose jobs this policy drives, e.g. order_release, "
        "publish_milestone, label_buy.",
    )
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
        default="root.logistics.operational",
        help="queue_job channel of the operation's jobs, whatever the backend's channel: "
        "root.logistics.operational for what moves goods, root.logistics.publication and "
        "root.logistics.reporting for what may wait (their capacity is capped so that they "
        "never hold every worker).",
    )
    priority = fields.Integer(
        default=DEFAULT_JOB_PRIORITY,
        help="queue_job priority of the operation's jobs: lower runs first, within a channel "
        "and where channels meet in their parent.",
    )
    latency_target = fields.Integer(
        string="Latency Target (minutes)", help="Expected time from trigger to completion."
    )
    active = fields.Boolean(default=True)

    _code_uniq = models.Constraint("unique (code)", "A flow code must be unique.")
    _priority_positive = models.Constraint(
        "check (priority >= 0)", "A job priority is zero or more (lower runs first)."
    )

    @api.constrains("channel")
    def _check_channel(self):
        for flow in self:
            if flow.channel != "root" and not flow.channel.startswith("root."):
                raise ValidationError(
                    self.env._(
                        "A job channel is root or a channel under it (root.logistics…), "
                        "not %(channel)r.",
                        channel=flow.channel,
                    )
                )

    @api.model
    def _mode(self, code):
        """The sync mode of a flow; flows without a policy run in real time."""
        flow = self.sudo().search([("code", "=", code)], limit=1)
        return flow.mode if flow else "realtime"

    @api.model
    def _job_options(self, code, backend):
        """Where and how urgently the jobs of operation ``code`` for ``backend`` run.

        The active flow policy of the operation decides (its channel and priority); an
        operation without one runs on the backend's channel at queue_job's default priority.
        The flow wins over the backend because it says what kind of work the job is
        (operational, publication, reporting), which is what channel capacities are reserved
        by; the backend's channel is the default for everything else of the partner
        (operations without a policy, inbound processing).

        :return: {"channel": queue_job channel name, "priority": int, lower runs first}
        """
        flow = self.sudo().search_fetch([("code", "=", code)], ["channel", "priority"], limit=1)
        if flow:
            return {"channel": flow.channel, "priority": flow.priority}
        return {"channel": backend.channel, "priority": DEFAULT_JOB_PRIORITY}
