import operator

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.logistics_integration_base.models.logistics_exception_type import SEVERITIES

# The comparison of a rule: the metric's value (left) against the threshold (right).
OPERATORS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
OPERATOR_LABELS = [
    (">", "> (above)"),
    (">=", "≥ (at least)"),
    ("<", "< (below)"),
    ("<=", "≤ (at most)"),
    ("==", "= (equal to)"),
    ("!=", "≠ (not equal to)"),
]


class LogisticsAlertRule(models.Model):
    """An alert rule (DESIGN §5, "Alert rules"; the semantics of Prometheus' alerting rules and
    Alertmanager's notifications): a metric of the registry (``logistics.metric``), a scope,
    a comparison with a threshold over an evaluation window, held for a "for" duration.

    Each label set the metric answers (one backend, one carrier, one job channel…) is
    evaluated on its own: where the comparison holds, an alert (``logistics.alert``) of the
    rule and that label set is *pending*, then *firing* once it held for ``for_minutes``, and
    *resolved* when it no longer holds (or the label set is no longer in the metric's answer,
    as a Prometheus series that disappears). A firing alert opens or updates one grouped
    exception on the board and tells the recipients once, then again every
    ``repeat_minutes`` while it fires; its resolution is told when ``send_resolved``.
    Evaluation: ``logistics_alert_rule_evaluation.py``; notifications:
    ``logistics_alert_notification.py``.
    """

    _name = "logistics.alert.rule"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Alert Rule"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    metric_code = fields.Selection(
        selection="_selection_metric_code",
        string="Metric",
        required=True,
        help="A metric of the registry: the same number as the dashboard's tiles and "
        "/logistics/metrics.",
    )
    metric_help = fields.Text(compute="_compute_metric_help")
    metric_windowed = fields.Boolean(compute="_compute_metric_help")
    # Scope: what the metric is measured over (empty: everything of the rule's company).
    backend_ids = fields.Many2many(
        "logistics.backend",
        "logistics_alert_rule_backend_rel",
        string="Backends",
        help="Only these backends (metrics by backend: dead letters, silence…); empty: all.",
    )
    carrier_backend_ids = fields.Many2many(
        "logistics.backend",
        "logistics_alert_rule_carrier_rel",
        string="Carriers",
        domain=[("kind", "=", "carrier")],
        help="Only shipments of these carriers (metrics over shipments); empty: all.",
    )
    channel_ids = fields.Many2many(
        "crm.team",
        string="Sales Channels",
        help="Only shipments of these sales channels (metrics over shipments); empty: all.",
    )
    label_filter = fields.Char(
        help="Only the label sets with these label values, as label=value pairs separated by "
        "commas (e.g. channel=root.logistics.operational, or policy=wms_ack); empty: all.",
    )
    operator = fields.Selection(OPERATOR_LABELS, required=True, default=">")
    threshold = fields.Float(
        required=True,
        default=0.0,
        help="Compared with the metric's value, in the metric's unit (seconds, a ratio from 0 "
        "to 1, a count).",
    )
    window_minutes = fields.Integer(
        string="Window (minutes)",
        default=60,
        help="For a windowed metric (events, breach rate…): what happened in the last this "
        "many minutes. Metrics of the state now ignore it.",
    )
    for_minutes = fields.Integer(
        string="For (minutes)",
        default=0,
        help="The condition must hold this long (pending meanwhile) before the alert fires; "
        "0: it fires at the first evaluation that sees it.",
    )
    severity = fields.Selection(SEVERITIES, required=True, default="high")
    # Recipients.
    user_ids = fields.Many2many(
        "res.users",
        string="Users",
        domain=[("share", "=", False)],
        help="Told in Odoo and by email.",
    )
    group_ids = fields.Many2many(
        "res.groups", string="Groups", help="Every user of these groups is told, as a user above."
    )
    discuss_channel_id = fields.Many2one(
        "discuss.channel", help="A message is posted in this channel."
    )
    webhook_backend_id = fields.Many2one(
        "logistics.backend",
        string="Alert Webhook",
        domain=[("kind", "=", "alerting")],
        help="An alerting backend (PagerDuty Events v2): a trigger event when the alert fires "
        "(and repeats), a resolve event when it resolves, through the outbound pipeline.",
    )
    repeat_minutes = fields.Integer(
        string="Repeat Every (minutes)",
        default=240,
        help="While the alert fires, the recipients are told again after this long; 0: once.",
    )
    send_resolved = fields.Boolean(
        default=True,
        help="Tell the recipients when the alert resolves (if they were told it fired).",
    )
    marks_partner_unavailable = fields.Boolean(
        string="Partner Unavailable",
        help="A firing alert of this rule says its backend is down: like an open "
        "partner-unavailable exception, it mutes (inhibits) the other alerts of that backend.",
    )
    alert_ids = fields.One2many("logistics.alert", "rule_id", string="Alerts")
    firing_count = fields.Integer(compute="_compute_firing_count")
    last_evaluated_at = fields.Datetime(readonly=True)

    _audit_ignored_fields = ("last_evaluated_at",)
    _threshold_durations_positive = models.Constraint(
        "check (window_minutes >= 0 AND for_minutes >= 0 AND repeat_minutes >= 0)",
        "Window, for and repeat durations are zero or more minutes.",
    )

    @api.model
    def _selection_metric_code(self):
        return [
            (code, metric.name)
            for code, metric in self.env["logistics.metric"]._metric_definitions().items()
            # A counter or a histogram only grows: a threshold on it says nothing.
            if metric.type == "gauge"
        ]

    @api.depends("metric_code")
    def _compute_metric_help(self):
        definitions = self.env["logistics.metric"]._metric_definitions()
        for rule in self:
            metric = definitions.get(rule.metric_code)
            rule.metric_help = metric.help if metric else False
            rule.metric_windowed = bool(metric and metric.windowed)

    def _compute_firing_count(self):
        counts = dict(
            self.env["logistics.alert"]._read_group(
                [("rule_id", "in", self.ids), ("state", "=", "firing")], ["rule_id"], ["__count"]
            )
        )
        for rule in self:
            rule.firing_count = counts.get(rule, 0)

    @api.constrains("label_filter")
    def _check_label_filter(self):
        for rule in self:
            rule._label_matchers()

    def _label_matchers(self):
        """``label_filter`` parsed: ``{label: value}``.

        :raises ValidationError: a pair without ``=``
        """
        self.ensure_one()
        matchers = {}
        for pair in (self.label_filter or "").split(","):
            if not pair.strip():
                continue
            label, sep, value = pair.partition("=")
            if not sep or not label.strip():
                raise ValidationError(
                    self.env._(
                        "Write the label filter as label=value pairs, not %(pair)r.", pair=pair
                    )
                )
            matchers[label.strip()] = value.strip()
        return matchers

    def _metric_scope(self):
        """The rule's scope as ``logistics.metric.measure`` takes it."""
        self.ensure_one()
        scope = {"company_ids": self.company_id.ids}
        if self.backend_ids:
            scope["backend_ids"] = self.backend_ids.ids
        if self.carrier_backend_ids:
            scope["carrier_backend_ids"] = self.carrier_backend_ids.ids
        if self.channel_ids:
            scope["channel_ids"] = self.channel_ids.ids
        return scope

    def _holds(self, value):
        """Whether ``value`` (float) breaks this rule: ``value <operator> threshold``."""
        self.ensure_one()
        return OPERATORS[self.operator](value, self.threshold)

    def _recipient_users(self):
        """The users the rule tells: its users and the users of its groups, active, internal,
        of the rule's company."""
        self.ensure_one()
        users = self.user_ids | self.group_ids.all_user_ids
        return users.filtered(
            lambda u: u.active and not u.share and self.company_id in u.company_ids
        )

    def action_view_alerts(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "logistics_monitoring.logistics_alert_action"
        )
        action["domain"] = [("rule_id", "=", self.id)]
        action["context"] = {"search_default_open": 1}
        return action
