from odoo import api, fields, models


class LogisticsCarrierStatusMap(models.Model):
    """How a carrier aggregator's tracking statuses read as canonical milestones: data, not
    code, so an operations manager can map a new status detail without a release."""

    _name = "logistics.carrier.status.map"
    _inherit = ["logistics.audited.mixin"]
    _description = "Carrier Tracking Status Mapping"
    _order = "adapter, status, sequence, id"

    adapter = fields.Selection(
        selection=lambda self: self.env["logistics.backend"]._fields["adapter"].selection,
        required=True,
        default="easypost",
    )
    sequence = fields.Integer(default=10)
    status = fields.Char(required=True, help="The carrier's status, e.g. in_transit.")
    status_detail = fields.Char(
        help="The carrier's status detail, e.g. arrived_at_facility; empty: any detail."
    )
    event_type_id = fields.Many2one(
        "logistics.event.type",
        string="Canonical Event",
        help="Empty: the status is recorded nowhere (e.g. unknown).",
    )
    reason = fields.Char(help="Reason code kept with the event, e.g. address_invalid.")
    action_required = fields.Boolean(help="Someone has to act when this status arrives.")
    active = fields.Boolean(default=True)

    _status_uniq = models.UniqueIndex("(adapter, status, COALESCE(status_detail, ''))")

    @api.model
    def _map(self, adapter, status, status_detail):
        """The row for a status and detail: the exact detail first, then the status alone;
        None when the status is not mapped at all."""
        rows = self.search_fetch(
            [("adapter", "=", adapter), ("status", "=", status)],
            ["status_detail", "event_type_id", "reason", "action_required"],
        )
        exact = rows.filtered(lambda r: r.status_detail and r.status_detail == status_detail)
        return (exact or rows.filtered(lambda r: not r.status_detail))[:1] or None
