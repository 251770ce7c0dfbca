from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_exception_type import SEVERITIES

ALERT_STATES = [("pending", "Pending"), ("firing", "Firing"), ("resolved", "Resolved")]
# The one place the states' moves are written (as logistics.message's TRANSITIONS): pending
# fires after the rule's "for" duration, or resolves (clears) before it; a resolved alert is
# history: the next breach of its label set is a new alert.
TRANSITIONS = {
    "pending": {"firing", "resolved"},
    "firing": {"resolved"},
    "resolved": set(),
}
OPEN_STATES = ("pending", "firing")


def label_key(labels):
    """The canonical text of a label set (``{name: value}``): ``name=value`` pairs sorted by
    name, separated by commas; identifies an alert of a rule and groups its exception."""
    return ",".join(f"{name}={labels[name]}" for name in sorted(labels))


class LogisticsAlert(models.Model):
    """One alert: a rule (``logistics.alert.rule``) breached by one label set, from pending to
    firing to resolved, with its history (``logistics.alert.history``).

    Written by the evaluation (``logistics_alert_rule_evaluation.py``) only. While it fires it holds
    one grouped exception on the board (``exception_id``); ``silence_id`` and ``inhibited``
    say why its recipients are not told.
    """

    _name = "logistics.alert"
    _inherit = ["mail.thread"]
    _description = "Logistics Alert"
    _order = "state_rank, started_at desc, id desc"

    rule_id = fields.Many2one(
        "logistics.alert.rule", required=True, ondelete="cascade", index=True, readonly=True
    )
    name = fields.Char(required=True, readonly=True)
    labels = fields.Json(
        string="Label Values", readonly=True, help="The label set of the metric: {label: value}."
    )
    label_key = fields.Char(
        string="Labels", required=True, readonly=True, help="The label set, as label=value pairs."
    )
    backend_id = fields.Many2one(
        "logistics.backend",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The backend the labels name (its backend or carrier label): a partner-unavailable "
        "exception or alert of this backend inhibits the alert.",
    )
    state = fields.Selection(
        ALERT_STATES, required=True, default="pending", readonly=True, index=True
    )
    state_rank = fields.Integer(compute="_compute_state_rank", store=True)
    severity = fields.Selection(SEVERITIES, readonly=True)
    metric_code = fields.Selection(related="rule_id.metric_code")
    started_at = fields.Datetime(
        string="Pending Since", readonly=True, help="When the condition was first seen."
    )
    fired_at = fields.Datetime(string="Firing Since", readonly=True)
    resolved_at = fields.Datetime(readonly=True)
    last_value = fields.Float(readonly=True, help="The metric's value at the last evaluation.")
    last_evaluated_at = fields.Datetime(readonly=True)
    last_notified_at = fields.Datetime(
        readonly=True, help="When the recipients were last told it fires (repeat interval)."
    )
    notified_count = fields.Integer(string="Notifications", readonly=True)
    silence_id = fields.Many2one(
        "logistics.alert.silence",
        string="Silenced By",
        readonly=True,
        ondelete="set null",
        help="The silence that matched it at the last evaluation: nobody is told.",
    )
    inhibited = fields.Boolean(
        readonly=True,
        help="Its backend is unavailable (an open partner-unavailable exception, or a firing "
        "partner-unavailable alert): nobody is told, and its card is held under the partner's.",
    )
    exception_id = fields.Many2one(
        "logistics.exception",
        readonly=True,
        ondelete="set null",
        help="The grouped card this alert opened or updated on the exception board.",
    )
    history_ids = fields.One2many("logistics.alert.history", "alert_id")
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)

    # One open alert per rule and label set.
    _open_uniq = models.UniqueIndex("(rule_id, label_key) WHERE state IN ('pending', 'firing')")

    @api.depends("state")
    def _compute_state_rank(self):
        ranks = {"firing": 0, "pending": 1, "resolved": 2}
        for alert in self:
            alert.state_rank = ranks.get(alert.state, 3)

    @api.model_create_multi
    def create(self, vals_list):
        alerts = super().create(vals_list)
        self.env["logistics.alert.history"].create(
            [
                {
                    "alert_id": alert.id,
                    "state": alert.state,
                    "value": alert.last_value,
                    "changed_at": alert.started_at,
                }
                for alert in alerts
            ]
        )
        return alerts

    def _set_state(self, state, **values):
        """Move these alerts to ``state`` (TRANSITIONS), writing ``values``, and record the
        move in their history with their value.

        :raises UserError: a move TRANSITIONS does not allow
        """
        for alert in self:
            if state != alert.state and state not in TRANSITIONS[alert.state]:
                raise UserError(
                    self.env._(
                        "Alert %(name)s can't go from %(old)s to %(new)s.",
                        name=alert.name,
                        old=alert.state,
                        new=state,
                    )
                )
        now = fields.Datetime.now()
        self.write(dict(values, state=state))
        self.env["logistics.alert.history"].create(
            [
                {"alert_id": alert.id, "state": state, "value": alert.last_value, "changed_at": now}
                for alert in self
            ]
        )

    def _labels_text(self):
        self.ensure_one()
        return ", ".join(f"{k} = {v}" for k, v in sorted((self.labels or {}).items())) or "-"

    def _summary(self):
        """One line for people and PagerDuty: rule, labels, value against the threshold."""
        self.ensure_one()
        rule = self.rule_id
        return self.env._(
            "%(rule)s [%(labels)s]: %(value)s %(operator)s %(threshold)s",
            rule=rule.name,
            labels=self._labels_text(),
            value=f"{self.last_value:g}",
            operator=rule.operator,
            threshold=f"{rule.threshold:g}",
        )

    def _dedup_key(self):
        """The alert's PagerDuty dedup key: one incident per rule and label set, whatever
        alert instance of that pair triggers or resolves it."""
        self.ensure_one()
        return f"logistics-alert-{self.rule_id.id}-{self.label_key}"[:255]

    def action_silence(self):
        """Open a new silence for this alert's rule and labels (one hour by default), for a
        Manager to give its end and comment.

        :return: an ``ir.actions.act_window`` dict
        """
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Silence %(alert)s", alert=self.name),
            "res_model": "logistics.alert.silence",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_rule_id": self.rule_id.id,
                "default_label_filter": self.label_key,
                "default_ends_at": fields.Datetime.to_string(
                    fields.Datetime.now() + timedelta(hours=1)
                ),
                "default_company_id": self.company_id.id,
            },
        }
