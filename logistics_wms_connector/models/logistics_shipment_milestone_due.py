from datetime import timedelta

from odoo import models


class LogisticsShipment(models.Model):
    """When the WMS is expected to answer a release (until SLA policies compute it)."""

    _inherit = "logistics.shipment"

    def _expected_milestone_due(self):
        """``wms_acknowledged`` is due the backend's *Acknowledgement Delay*
        (``wms_ack_minutes``) after the order was released to the WMS (``wms_released_at``):
        the rule the delayed_ack cron applies (``logistics.backend._cron_check_wms_ack``).
        See the base hook for the shape."""
        due = super()._expected_milestone_due()
        released = self.filtered(lambda s: s.wms_released_at and s.wms_backend_id)
        return self._merge_milestone_due(
            due,
            {
                shipment.id: {
                    "wms_acknowledged": shipment.wms_released_at
                    + timedelta(minutes=shipment.wms_backend_id.wms_ack_minutes)
                }
                for shipment in released
            },
        )
