from datetime import datetime, timedelta

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase


class TestWmsMilestoneDue(LogisticsCase):
    """When the WMS is expected to acknowledge a release: the shipment timeline's gap."""

    def test_acknowledgement_due_after_the_release_by_the_backends_delay(self):
        self.wms.wms_ack_minutes = 25
        released_at = datetime(2026, 3, 1, 10, 0, 0)
        self.shipment.sudo().write({"wms_backend_id": self.wms.id, "wms_released_at": released_at})
        other = self.env["logistics.shipment"].create(
            {"name": "SHP/DUE/NOT-RELEASED", "wms_backend_id": self.wms.id}
        )
        due = (self.shipment | other).with_user(self.user)._expected_milestone_due()
        self.assertEqual(
            due.get(self.shipment.id, {}).get("wms_acknowledged"),
            released_at + timedelta(minutes=25),
        )
        self.assertNotIn("wms_acknowledged", due.get(other.id, {}))
