"""The carrier connector's screens in a real headless Chromium, as a Logistics Manager uses them
(tours in static/tests/tours/)."""

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.common import GROUP_MANAGER, GROUP_USER

from . import test_unmapped_status as unmapped


@tagged("post_install", "-at_install")
class TestCarrierScreens(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            "tour_manager",
            password="tour_manager",
            groups=f"base.group_user,{GROUP_USER},{GROUP_MANAGER}",
        )
        cls.carrier = cls.env["logistics.backend"].create(
            {"name": "Tour Carrier", "code": "tour_carrier", "kind": "carrier"}
        )

    def test_a_manager_marks_an_unanswered_purchase_failed_then_finds_the_reroute(self):
        shipment = self.env["logistics.shipment"].create({"name": "SHP/TOUR/1"})
        purchase = self.env["logistics.carrier.label"].create(
            {"shipment_id": shipment.id, "backend_id": self.carrier.id, "state": "unconfirmed"}
        )
        self.env["logistics.exception"]._raise(
            "label_failed",
            [
                {
                    "name": "No label for SHP/TOUR/1 from Tour Carrier",
                    "shipment_id": shipment.id,
                    "backend_id": self.carrier.id,
                    "company_id": shipment.company_id.id,
                }
            ],
        )
        self.start_tour(
            f"/odoo/logistics.shipment/{shipment.id}",
            "logistics_carrier_label_purchase",
            login="tour_manager",
        )
        self.assertEqual(purchase.state, "failed")
        self.assertIn("Marked failed by", purchase.failure)

    def test_a_manager_sees_the_messages_waiting_for_a_mapping_row(self):
        self.carrier.write({"adapter": "easypost", "webhook_secret": unmapped.SECRET})
        self.carrier.code = "hook_easypost"
        self.env["logistics.shipment"].create(
            {"name": "SHP/TOUR/2", "tracking_number": unmapped.TRACKING}
        )
        case = unmapped.TestUnmappedStatus
        response = case.post(self, case.tracker_event("evt_tour_1", "in_orbit", "launched"))
        self.assertEqual(response.status_code, 202, response.text)
        unmapped.run_pending_inbound_jobs(self.env)
        exception = self.env["logistics.exception"].search(
            [("type_code", "=", "mapping_missing"), ("backend_id", "=", self.carrier.id)]
        )
        self.assertEqual(len(exception), 1)
        self.start_tour(
            f"/odoo/logistics.exception/{exception.id}",
            "logistics_carrier_unmapped_status",
            login="tour_manager",
        )
