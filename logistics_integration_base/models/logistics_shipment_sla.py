from odoo import fields, models

SLA_STATES = [
    ("on_time", "On Time"),
    ("at_risk", "At Risk"),
    ("breached", "Breached"),
    ("met", "Met"),
    ("stopped", "Stopped"),
]


class LogisticsShipmentSla(models.Model):
    """Where one shipment stands against one SLA policy: the state (on time, at risk,
    breached, met; stopped when the shipment ended another way: cancelled, returned) and the
    times, computed when the policy's milestone A arrived and stored.

    Written by the flow only (``logistics_sla_evaluation.py``): ingest starts and meets rows,
    the evaluation cron moves them to at risk and breached. ``breached_at`` stays set on a row
    met late: the breach rate counts it.
    """

    _name = "logistics.shipment.sla"
    _description = "Shipment SLA Status"
    _order = "due_at, id"
    _rec_name = "policy_id"

    shipment_id = fields.Many2one(
        "logistics.shipment", required=True, ondelete="cascade", index=True, readonly=True
    )
    policy_id = fields.Many2one(
        "logistics.sla.policy", required=True, ondelete="cascade", readonly=True
    )
    state = fields.Selection(SLA_STATES, required=True, default="on_time", readonly=True)
    started_at = fields.Datetime(
        readonly=True,
        help="When milestone A occurred (for a silence policy: the carrier's last event).",
    )
    at_risk_at = fields.Datetime(string="At Risk From", readonly=True)
    due_at = fields.Datetime(string="Due", readonly=True)
    breached_at = fields.Datetime(
        readonly=True, help="When the promise was broken (the due time); kept once B came late."
    )
    met_at = fields.Datetime(readonly=True, help="When milestone B occurred.")
    exception_id = fields.Many2one(
        "logistics.exception",
        readonly=True,
        ondelete="set null",
        help="The card the breach raised.",
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    # The shipment's scope, for the dashboard's breach rates and the lists behind its tiles.
    carrier_backend_id = fields.Many2one(related="shipment_id.carrier_backend_id")
    warehouse_id = fields.Many2one(related="shipment_id.warehouse_id")
    channel_id = fields.Many2one(related="shipment_id.channel_id")

    _shipment_policy_uniq = models.Constraint(
        "unique (shipment_id, policy_id)", "A shipment has one status per SLA policy."
    )
    # What the evaluation cron scans (one query per policy): the open rows by due time.
    _open_due_idx = models.Index("(policy_id, due_at) WHERE state IN ('on_time', 'at_risk')")
