"""Review of issue 16 (the canonical package and per-package status in ingest): tests that show
a bug; they fail on the code under review."""

from datetime import timedelta

from odoo import fields

from .common import LogisticsCase


class TestReview16Packages(LogisticsCase):
    def at(self, minutes):
        return (fields.Datetime.now() + timedelta(minutes=minutes)).isoformat() + "+00:00"

    def carrier_event(self, event_type, minutes, event_id, tracking_number):
        return {
            "type": event_type,
            "occurred_at": self.at(minutes),
            "event_id": event_id,
            "tracking_number": tracking_number,
        }

    def test_a_tracking_number_shared_by_two_packages_moves_both(self):
        """Two packages of one shipment share a tracking number (a multi-piece shipment under
        one master number, given by the WMS in the canonical packages). ``_find_shipments``
        keys its matches by shipment: the second package's row replaces the first, so the
        carrier's events move one package only, the other stays at rank 0, and the shipment,
        held to its slowest package, is never delivered. Expected: the shipment is delivered
        when the carrier says the (master) number is delivered."""
        self.shipment._record_packages(
            [
                {"reference": "P1", "weight": 1.0, "tracking_number": "MASTER-1"},
                {"reference": "P2", "weight": 1.0, "tracking_number": "MASTER-1"},
            ],
            "wms",
        )
        result = self.ingest(
            self.carrier,
            [
                self.carrier_event("in_transit", 1, "c-1", "MASTER-1"),
                self.carrier_event("delivered", 2, "c-2", "MASTER-1"),
            ],
        )
        self.assertEqual(result["accepted"], 2, result)
        self.assertEqual(
            self.shipment.package_ids.mapped("status_code"), ["delivered", "delivered"]
        )
        self.assertEqual(self.shipment.status_code, "delivered")
