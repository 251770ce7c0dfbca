"""The timeline in a real headless Chromium, as a Logistics User reads it (tours in
static/tests/tours/logistics_timeline_tours.js)."""

from datetime import timedelta
from unittest.mock import patch

from odoo.tests import HttpCase, tagged

from .common import build_story


@tagged("post_install", "-at_install")
class TestTimelineScreens(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        build_story(cls)

    def setUp(self):
        super().setUp()
        # The connectors' rules are tested with them; here the first scan was due at t0 + 30'.
        due = {self.shipment.id: {"in_transit": self.t0 + timedelta(minutes=30)}}
        patcher = patch.object(
            self.registry["logistics.shipment"], "_expected_milestone_due", lambda s: due
        )
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_a_shipment_shows_its_timeline_with_a_gap(self):
        self.start_tour(
            f"/odoo/logistics.shipment/{self.shipment.id}",
            "logistics_timeline_shipment_form",
            login="timeline_user",
        )

    def test_the_timeline_menu_finds_a_tracking_number(self):
        self.start_tour("/odoo", "logistics_timeline_menu", login="timeline_user")

    def test_a_link_with_an_all_digit_tracking_number_opens_its_timeline(self):
        self.env["logistics.shipment"].create(
            {"name": "SHP/DIGITS/1", "tracking_number": "9400935530969415382369"}
        )
        self.start_tour(
            "/odoo/logistics-timeline?reference=9400935530969415382369",
            "logistics_timeline_digits",
            login="timeline_user",
        )
