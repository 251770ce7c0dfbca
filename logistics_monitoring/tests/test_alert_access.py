from datetime import timedelta

from odoo.exceptions import AccessError

from .alert_common import AlertCase


class TestAlertAccess(AlertCase):
    """Logistics Users read alerts, rules and silences; Managers configure rules and silences;
    each company sees its own."""

    def test_user_reads_alerts_but_configures_nothing(self):
        rule = self.make_rule()
        self.dead_letter()
        self.evaluate(rule)
        as_user = self.env(user=self.user)
        alert = as_user["logistics.alert"].search([("rule_id", "=", rule.id)])
        self.assertEqual(alert.state, "firing")
        self.assertEqual(alert.history_ids.mapped("state")[:2], ["pending", "firing"])
        with self.assertRaises(AccessError):
            as_user["logistics.alert.rule"].create({"name": "x", "metric_code": "dead_letters"})
        with self.assertRaises(AccessError):
            rule.with_user(self.user).threshold = 5
        with self.assertRaises(AccessError):
            alert.with_user(self.user).write({"state": "resolved"})
        with self.assertRaises(AccessError):
            as_user["logistics.alert.silence"].create(
                {"ends_at": self.t0 + timedelta(hours=1), "comment": "no"}
            )

    def test_manager_configures_rules_and_silences_and_is_recorded(self):
        as_manager = self.env(user=self.manager)
        rule = as_manager["logistics.alert.rule"].create(
            {"name": "Manager's rule", "metric_code": "queue_depth", "threshold": 100}
        )
        self.assertEqual(rule.company_id, self.env.company)
        silence = as_manager["logistics.alert.silence"].create(
            {
                "rule_id": rule.id,
                "ends_at": self.t0 + timedelta(hours=1),
                "comment": "deploy",
                "created_by_id": self.user.id,
            }
        )
        self.assertEqual(silence.created_by_id, self.manager, "not what the caller says")
        log = self.env["logistics.audit.log"].search(
            [("model", "=", "logistics.alert.rule"), ("res_id", "=", rule.id)]
        )
        self.assertEqual(log.user_id, self.manager, "rule changes are audited")

    def test_rule_measures_its_company_only(self):
        other_company = self.env["res.company"].create({"name": "Other Logistics Co"})
        other_backend = self.env["logistics.backend"].create(
            {"name": "Other WMS", "code": "o_wms", "kind": "wms", "company_id": other_company.id}
        )
        self.dead_letter(other_backend)
        self.dead_letter()
        rule = self.make_rule(backend_ids=[(5, 0, 0)])
        self.evaluate(rule)
        self.assertEqual(self.alerts(rule).mapped("label_key"), ["backend=t_wms"])
        as_user = self.env(user=self.user)
        other_rule = self.make_rule(
            name="Other's rule", backend_ids=[(5, 0, 0)], company_id=other_company.id, user_ids=[]
        )
        self.evaluate(other_rule)
        self.assertEqual(self.alerts(other_rule).mapped("label_key"), ["backend=o_wms"])
        self.assertFalse(
            as_user["logistics.alert"].search([("rule_id", "=", other_rule.id)]),
            "another company's alerts are not the user's to see",
        )

    def test_silence_button_prefills_the_alert_rule_and_labels(self):
        rule = self.make_rule()
        self.dead_letter()
        self.evaluate(rule)
        alert = self.alerts(rule)
        action = alert.with_user(self.manager).action_silence()
        form = self.env(user=self.manager, context=action["context"])["logistics.alert.silence"]
        silence = form.create({"comment": "looking into it"})
        self.assertEqual(silence.rule_id, rule)
        self.assertEqual(silence.label_filter, "backend=t_wms")
        self.assertEqual(silence._matching(rule, alert.labels, alert.company_id), silence)
