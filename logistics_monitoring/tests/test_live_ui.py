"""Live updates in a real headless Chromium: an event ingested while the exception board, then
the shipment list, is open shows there without a reload (tour in static/tests/tours/).

Odoo's test browser sends each bus notification at once and lets the test server open
websockets (``HttpCase.browser_js``): this proves the web client's side, from the bus to the
views; tests/test_live_updates.py proves the server's, against a server started like
setup/run's."""

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.common import GROUP_USER


@tagged("post_install", "-at_install")
class TestLiveScreens(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        new_test_user(
            cls.env,
            "tour_live_user",
            password="tour_live_user",
            groups=f"base.group_user,{GROUP_USER}",
        )
        cls.env["logistics.backend"].create(
            {"name": "Tour Live WMS", "code": "tour_live_wms", "kind": "wms"}
        )
        cls.shipment = cls.env["logistics.shipment"].create({"name": "SHP/LIVE/1"})

    def test_an_event_ingested_during_the_test_appears_without_a_reload(self):
        self.start_tour(
            "/odoo/action-logistics_integration_base.logistics_exception_action",
            "logistics_live_updates",
            login="tour_live_user",
        )
        exception = self.env["logistics.exception"].search(
            [("name", "ilike", "SHP/LIVE/NOPE"), ("is_closed", "=", False)]
        )
        self.assertEqual(len(exception), 1)
        self.assertEqual(self.shipment.status_code, "picked")
