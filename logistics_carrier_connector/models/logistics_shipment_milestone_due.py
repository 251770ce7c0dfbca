from datetime import timedelta

from odoo import models


class LogisticsShipment(models.Model):
    """When the carrier is expected to scan a labelled parcel (until SLA policies compute it)."""

    _inherit = "logistics.shipment"

    def _expected_milestone_due(self):
        """The carrier's first scan (``in_transit``) is due the backend's *Tracking Silence*
        (``carrier_tracking_hours``) after the label was bought (the time of the shipment's
        first label_created milestone): after that long without tracking, the missing_tracking
        cron raises its exception (``logistics.backend._cron_check_missing_tracking``). One
        query for the whole recordset. See the base hook for the shape."""
        due = super()._expected_milestone_due()
        carried = self.filtered("carrier_backend_id")
        if not carried:
            return due
        labelled = self.env["logistics.event"]._read_group(
            [
                ("shipment_id", "in", carried.ids),
                ("type_id.code", "=", "label_created"),
                ("state", "!=", "ignored"),
            ],
            ["shipment_id"],
            ["occurred_at:min"],
        )
        return self._merge_milestone_due(
            due,
            {
                shipment.id: {
                    "in_transit": label_at
                    + timedelta(hours=shipment.carrier_backend_id.carrier_tracking_hours)
                }
                for shipment, label_at in labelled
            },
        )
