"""The SLA dashboard in a real headless Chromium (tours in
static/tests/tours/logistics_dashboard_tours.js), on the data of common_dashboard.py."""

from odoo.tests import HttpCase, tagged

from .common_dashboard import build_dashboard_data


@tagged("post_install", "-at_install")
class TestDashboardScreens(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        build_dashboard_data(cls)

    def test_the_app_opens_on_the_dashboard_and_a_tile_opens_its_list(self):
        # /odoo/logistics-dashboard is also where the Logistics app's menu leads (menus.xml).
        self.start_tour("/odoo/logistics-dashboard", "logistics_dashboard_tiles", login="dash_user")

    def test_the_period_and_filters_change_the_numbers(self):
        self.start_tour(
            "/odoo/logistics-dashboard", "logistics_dashboard_period", login="dash_manager"
        )

    def test_the_root_menu_leads_to_the_dashboard(self):
        root = self.env.ref("logistics_integration_base.menu_logistics_root")
        self.assertEqual(
            root.action, self.env.ref("logistics_monitoring.logistics_dashboard_action")
        )
