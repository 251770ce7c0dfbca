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

    @api.model_create_multi
    def create(self, vals_list):
        rows = super().create(vals_list)
        rows._apply_waiting_messages()
        return rows

    def write(self, vals):
        result = super().write(vals)
        self._apply_waiting_messages()
        return result

    def _apply_waiting_messages(self):
        """The webhook messages that waited, dead, for a row of these adapters' statuses: those
        whose status a row maps now are processed again through the normal pipeline (a replay,
        audited), and their mapping_missing exceptions close as resolved by Odoo."""
        adapters = set(self.mapped("adapter"))
        if not adapters:
            return
        exceptions = (
            self.env["logistics.exception"]
            .sudo()
            .search(
                [
                    ("unmapped_status", "!=", False),
                    ("is_closed", "=", False),
                    ("backend_id.adapter", "in", list(adapters)),
                ]
            )
        )
        for exception in exceptions:
            row = self._map(
                exception.backend_id.adapter,
                exception.unmapped_status,
                exception.unmapped_status_detail,
            )
            if not row:
                continue
            mapped_as = row.event_type_id.code or self.env._("no milestone")
            waiting = exception.waiting_message_ids.filtered(lambda m: m.state == "dead")
            waiting._replay(
                self.env._(
                    "The tracking status is now mapped (%(event)s) by %(user)s.",
                    event=mapped_as,
                    user=self.env.user.name,
                )
            )
            note = self.env._(
                "Resolved automatically: the status is mapped to %(event)s by %(user)s; "
                "%(count)s waiting message(s) processed again.",
                event=mapped_as,
                user=self.env.user.name,
                count=len(waiting),
            )
            exception._close_automatically(note)

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
