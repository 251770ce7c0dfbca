import logging
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from .logistics_alert import OPEN_STATES, label_key

_logger = logging.getLogger(__name__)

# Labels whose value is a backend's code: the backend an alert is about (inhibition, its card).
BACKEND_LABELS = ("backend", "carrier")


class LogisticsAlertRule(models.Model):
    """Evaluating alert rules: one registry query per rule (``logistics.metric.measure``), then
    the alerts' moves in a handful of queries for all rules together. The loops below run over
    the label sets the metric answered (one per backend, carrier, job channel: a handful), never
    over shipments, events or messages."""

    _inherit = "logistics.alert.rule"

    def write(self, vals):
        """An archived rule's open alerts resolve (their cards close), telling nobody: the rule
        no longer watches anything."""
        result = super().write(vals)
        if vals.get("active") is False:
            alerts = (
                self.env["logistics.alert"]
                .sudo()
                .search([("rule_id", "in", self.ids), ("state", "in", OPEN_STATES)])
            )
            alerts._set_state("resolved", resolved_at=fields.Datetime.now())
            for card in alerts.exception_id.filtered(lambda x: not x.is_closed):
                card._close_automatically(self.env._("Its alert rule was archived."))
        return result

    @api.model
    def _cron_evaluate(self):
        """Cron (every minute): evaluate every active rule of every company.

        :return: ``{"rules": n, "fired": n, "resolved": n, "seconds": float}``
        """
        started = time.monotonic()
        rules = self.sudo().search([("active", "=", True)])
        result = rules._evaluate()
        result["seconds"] = round(time.monotonic() - started, 3)
        _logger.info("alert rules evaluated: %s", result)
        return result

    def _evaluate(self, now=None):
        """Evaluate these rules at ``now`` (naive UTC datetime; default: now): each label set
        where the rule's comparison holds gets its open alert (created pending, firing once the
        condition held ``for_minutes``); open alerts whose label set no longer breaks the rule
        resolve. Then the firing alerts hold their card and tell their recipients
        (``logistics_alert_notification.py``), unless silenced or inhibited.

        :return: ``{"rules": n, "fired": n, "resolved": n}``
        """
        now = now or fields.Datetime.now()
        # The registry's queries are SQL: what this transaction changed must be in the tables.
        self.env.flush_all()
        rules = self.sudo()
        Alert = self.env["logistics.alert"].sudo().with_context(mail_create_nolog=True)
        Metric = self.env["logistics.metric"].sudo()
        open_alerts = Alert.search([("rule_id", "in", rules.ids), ("state", "in", OPEN_STATES)])
        open_by_key = {(alert.rule_id.id, alert.label_key): alert for alert in open_alerts}
        backend_ids = dict(
            self.env["logistics.backend"]
            .sudo()
            .with_context(active_test=False)
            .search_fetch([], ["code"])
            .mapped(lambda b: (b.code, b.id))
        )
        new_vals, seen, measured, unevaluated = [], set(), {}, set()
        # Rules of the same metric, scope and window (a warning and a critical threshold…)
        # share one registry query.
        answers = {}
        for rule in rules:
            window = timedelta(minutes=rule.window_minutes) if rule.window_minutes else None
            since = now - window if window else None
            scope = rule._metric_scope()
            question = (rule.metric_code, repr(sorted(scope.items())), since)
            try:
                if question not in answers:
                    answers[question] = Metric.measure(
                        rule.metric_code, scope, since=since, until=now
                    )
                rows = answers[question]
            except UserError as error:
                # A metric gone with its addon: this rule's alerts stay as they are.
                _logger.warning("alert rule %s not evaluated: %s", rule.id, error)
                unevaluated.add(rule.id)
                continue
            matchers = rule._label_matchers()
            for row in rows:
                labels = row["labels"]
                if any(labels.get(name) != value for name, value in matchers.items()):
                    continue
                key = (rule.id, label_key(labels))
                measured[key] = row["value"]
                if not rule._holds(row["value"]):
                    continue
                seen.add(key)
                if key in open_by_key:
                    continue
                backend_code = next(
                    (labels[name] for name in BACKEND_LABELS if labels.get(name)), None
                )
                new_vals.append(
                    {
                        "rule_id": rule.id,
                        "name": rule.name,
                        "labels": labels,
                        "label_key": key[1],
                        "backend_id": backend_ids.get(backend_code, False),
                        "state": "pending",
                        "severity": rule.severity,
                        "started_at": now,
                        "last_value": row["value"],
                        "last_evaluated_at": now,
                        "company_id": rule.company_id.id,
                    }
                )
        created = Alert.create(new_vals)
        for alert in open_alerts:
            value = measured.get((alert.rule_id.id, alert.label_key), alert.last_value)
            if value != alert.last_value:
                alert.last_value = value
        open_alerts.write({"last_evaluated_at": now})
        still_open = (open_alerts | created).filtered(lambda a: (a.rule_id.id, a.label_key) in seen)
        due = still_open.filtered(
            lambda a: (
                a.state == "pending"
                and a.started_at + timedelta(minutes=a.rule_id.for_minutes) <= now
            )
        )
        due._set_state("firing", fired_at=now)
        # The alerts of a rule whose metric could not be measured stay as they are.
        kept = open_alerts.filtered(lambda a: a.rule_id.id in unevaluated)
        cleared = open_alerts - still_open - kept
        was_firing = cleared.filtered(lambda a: a.state == "firing")
        cleared._set_state("resolved", resolved_at=now)
        rules.write({"last_evaluated_at": now})
        firing = still_open.filtered(lambda a: a.state == "firing")
        (firing | was_firing)._update_muting(now)
        was_firing._on_resolved()
        firing._on_firing(now)
        return {"rules": len(rules), "fired": len(due), "resolved": len(was_firing)}
