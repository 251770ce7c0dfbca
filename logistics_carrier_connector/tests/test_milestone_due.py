from datetime import datetime

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase


class TestCarrierMilestoneDue(LogisticsCase):
    """When the carrier is expected to scan a labelled parcel: the shipment timeline's gap."""

    def test_first_scan_due_after_the_label_by_the_tracking_silence(self):
        self.carrier.carrier_tracking_hours = 6
        self.shipment.sudo().carrier_backend_id = self.carrier
        self.assertEqual(self.shipment._expected_milestone_due().get(self.shipment.id, {}), {})
        self.ingest(
            self.carrier,
            [
                self.event("label_created", "2026-03-01T12:00:00+02:00", "lbl-2"),
                self.event("label_created", "2026-03-01T09:00:00+00:00", "lbl-1"),
            ],
        )
        due = self.shipment.with_user(self.user)._expected_milestone_due()
        # From the first label, in UTC: 09:00 + 6 h.
        self.assertEqual(due[self.shipment.id]["in_transit"], datetime(2026, 3, 1, 15, 0, 0))
        # Earlier rules win when two connectors expect the same milestone.
        merged = self.shipment._merge_milestone_due(
            due, {self.shipment.id: {"in_transit": datetime(2026, 3, 1, 11, 0, 0)}}
        )
        self.assertEqual(merged[self.shipment.id]["in_transit"], datetime(2026, 3, 1, 11, 0, 0))
        self.assertEqual(
            self.shipment._merge_milestone_due(
                merged, {self.shipment.id: {"in_transit": datetime(2026, 3, 2)}}
            )[self.shipment.id]["in_transit"],
            datetime(2026, 3, 1, 11, 0, 0),
        )
