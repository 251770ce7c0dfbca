"""Shared setup of the alert rules' tests: a backend with dead letters (the metric
dead_letters breaks a rule "> 0" for it), a recipient, and the demo's own rules out of the way."""

from datetime import timedelta

from odoo import fields
from odoo.tests import new_test_user

from odoo.addons.logistics_integration_base.tests.common import GROUP_USER, LogisticsCase


class AlertCase(LogisticsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The shipped example rules would evaluate the demo data's backends too.
        cls.env["logistics.alert.rule"].search([]).write({"active": False})
        cls.recipient = new_test_user(
            cls.env,
            "alert_recipient",
            email="alert.recipient@example.com",
            groups=f"base.group_user,{GROUP_USER}",
        )
        cls.t0 = fields.Datetime.now().replace(microsecond=0)

    def make_rule(self, **values):
        return self.env["logistics.alert.rule"].create(
            dict(
                {
                    "name": "Dead letters on the WMS",
                    "metric_code": "dead_letters",
                    "operator": ">",
                    "threshold": 0,
                    "backend_ids": [(6, 0, self.wms.ids)],
                    "severity": "high",
                    "user_ids": [(6, 0, self.recipient.ids)],
                    "repeat_minutes": 60,
                },
                **values,
            )
        )

    def dead_letter(self, backend=None, count=1):
        backend = backend or self.wms
        return (
            self.env["logistics.message"]
            .sudo()
            .create(
                [
                    {
                        "direction": "outbound",
                        "backend_id": backend.id,
                        "operation": "order_release",
                        "state": "dead",
                        "company_id": backend.company_id.id,
                    }
                ]
                * count
            )
        )

    def evaluate(self, rules, minutes=0):
        """Evaluate ``rules`` as the cron would, ``minutes`` after t0."""
        return rules._evaluate(now=self.t0 + timedelta(minutes=minutes))

    def alerts(self, rule):
        return self.env["logistics.alert"].search([("rule_id", "=", rule.id)], order="id")

    def told(self, alert, partner=None):
        """The messages on ``alert`` that notified ``partner`` (default: the recipient)."""
        partner = partner or self.recipient.partner_id
        return self.env["mail.message"].search(
            [
                ("model", "=", "logistics.alert"),
                ("res_id", "=", alert.id),
                ("partner_ids", "in", partner.ids),
            ],
            order="id",
        )
