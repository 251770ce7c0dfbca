from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.common import GROUP_MANAGER


@tagged("post_install", "-at_install")
class TestExpectedSuccessIntervalInBrowser(HttpCase):
    """A Logistics Manager sets a production backend's expected success interval on its form
    in a real Chromium; /logistics/health's backends check then holds the backend to it."""

    def test_manager_sets_the_interval_and_health_checks_it(self):
        new_test_user(self.env, "backend_tour_manager", groups=f"base.group_user,{GROUP_MANAGER}")
        backend = self.env["logistics.backend"].create(
            {
                "name": "Tour Production Carrier",
                "code": "tour_prod_carrier",
                "kind": "carrier",
                "environment": "production",
            }
        )
        self.assertEqual(self.url_open("/logistics/health?check=backends").status_code, 200)
        self.start_tour("/odoo", "logistics_backend_expected_success", login="backend_tour_manager")
        self.assertEqual(backend.expected_success_interval, 15)
        # Never succeeded, created an hour ago: past its 15 minutes.
        self.env.cr.execute(
            "UPDATE logistics_backend SET create_date = %s WHERE id = %s",
            [fields.Datetime.now() - timedelta(hours=1), backend.id],
        )
        self.env.invalidate_all()
        self.assertEqual(self.url_open("/logistics/health?check=backends").status_code, 503)
