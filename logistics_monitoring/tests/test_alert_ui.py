from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.common import GROUP_USER


@tagged("post_install", "-at_install")
class TestFiredAlertInBrowser(HttpCase):
    """A fired alert in a real Chromium: its card on the exception board and its row in the
    alerts list (issue 14 §5). The alert is fired in the test's setup: tests run without crons
    or a job runner."""

    def test_fired_alert_shows_on_the_board_and_in_the_alerts_list(self):
        user = new_test_user(self.env, "alert_tour_user", groups=f"base.group_user,{GROUP_USER}")
        self.env["logistics.alert.rule"].search([]).write({"active": False})
        backend = self.env["logistics.backend"].create(
            {"name": "Tour WMS", "code": "tour_alert_wms", "kind": "wms"}
        )
        self.env["logistics.message"].sudo().create(
            {
                "direction": "outbound",
                "backend_id": backend.id,
                "operation": "order_release",
                "state": "dead",
                "company_id": backend.company_id.id,
            }
        )
        rule = self.env["logistics.alert.rule"].create(
            {
                "name": "Tour dead letters",
                "metric_code": "dead_letters",
                "operator": ">",
                "threshold": 0,
                "backend_ids": [(6, 0, backend.ids)],
                "severity": "critical",
            }
        )
        rule._evaluate()
        alert = rule.alert_ids
        self.assertEqual(alert.state, "firing")
        self.assertEqual(alert.exception_id.type_code, "alert_firing")
        self.start_tour("/odoo", "logistics_alert_fired", login=user.login)
