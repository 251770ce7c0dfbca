from typing import NamedTuple

from odoo import fields, models
from odoo.tools import SQL


class ShipmentStatus(NamedTuple):
    """Where a shipment's status stands, as the status rule reads it.

    ``rank``: the highest rank reached on the main progression (``logistics.shipment
    .status_rank``, 0 before the first ranked milestone); ``at``: when the event that set the
    status occurred (UTC, naive; None before any status); ``final``: whether the status's type is
    final (``is_final``)."""

    rank: int
    at: object
    final: bool


def moves_status(rank, occurred_at, status):
    """Whether an event of a status-setting type moves a shipment's status: the status rule of
    DESIGN §2 ("Status rule, in one place"). ``STATUS_GUARD_SQL`` below is the same rule for
    ``_apply_status``'s UPDATE; a test checks that both agree on every case.

    :param rank: the event type's ``rank``; 0 for a side branch that keeps the rank reached
    :param occurred_at: the event's time (UTC, naive datetime)
    :param status: the shipment's ``ShipmentStatus`` before the event
    :return: True when the event becomes the status; False when it arrived late (recorded on
        the timeline, status unchanged)

    The rule, with the ranks of the data file (logistics_event_type_data.xml):

    - A final status (returned, cancelled) is never left.
    - A ranked event (rank > 0) moves the status forward only: to a higher rank than the one
      reached, whatever its time, or to the same rank with a time not older than the status.
      A lower rank is late whatever its time: a label bought again after shipping (label_created,
      50) leaves a shipment at shipped (70).
    - Main progression: order_released 10, wms_acknowledged 20, picked 30, packed 40,
      label_created and carrier_booked 50, tracking_published 60, shipped 70, in_transit 80,
      out_for_delivery 90, delivered 100.
    - ready_for_pickup and delivery_attempted are at out_for_delivery's rank (90): they follow
      and alternate with it by time; delivered ends them, an in_transit after them is late.
    - returning (110) follows any status but a final one, delivered included (a parcel refused
      or sent back); then only returning, returned or a side branch move it.
    - returned (120) is final.
    - exception and cancelled (rank 0) are side branches entered from any status that is not
      final by an event not older than the status. They keep the rank reached under them, so
      an exception is left by the next ranked event of a higher rank, whatever its time (an
      in_transit scan stamped before the exception leaves an exception reached at shipped),
      or of the same rank and not older; a milestone of the same rank and older than the
      exception, or of a lower rank, stays late. cancelled is final.
    """
    if status.final:
        return False
    if status.at is None:
        return True
    if rank == 0:
        return occurred_at >= status.at
    return rank > status.rank or (rank == status.rank and occurred_at >= status.at)


# The last rank of the main progression (delivered). A shipment of several packages follows
# its slowest package up to it: an event of one package of rank 1 to MAIN_PROGRESSION_TOP
# moves the shipment only when every package has reached that rank (a shipment is delivered
# when all its packages are); side branches (rank 0) and returns (above) of any package move
# it as the status rule says (``logistics.event._decide``).
MAIN_PROGRESSION_TOP = 100

# Whether the status of shipment ``s`` is final, in SQL: read by ``_find_shipments`` for
# ``moves_status`` and by ``STATUS_GUARD_SQL``.
STATUS_FINAL_SQL = SQL(
    "EXISTS (SELECT FROM logistics_event_type t WHERE t.id = s.status_id AND t.is_final)"
)

# ``moves_status`` in SQL, for the UPDATE of shipment ``s`` by event ``v`` (columns ``rank``
# and ``occurred_at``). It keeps the status monotonic whatever the Python side decided on: a
# concurrent batch that moved the shipment after the decision (at READ COMMITTED; under Odoo's
# REPEATABLE READ the UPDATE fails with a serialization error and Odoo replays the transaction).
STATUS_GUARD_SQL = SQL(
    """(NOT %(final)s AND (
           s.status_at IS NULL
           OR (v.rank = 0 AND v.occurred_at >= s.status_at)
           OR (v.rank > 0 AND (v.rank > s.status_rank
                               OR (v.rank = s.status_rank AND v.occurred_at >= s.status_at)))))""",
    final=STATUS_FINAL_SQL,
)


class LogisticsEventType(models.Model):
    """One canonical milestone type of the taxonomy (order_released … delivered, finance and
    channel milestones). Partner codes are mapped to these by the adapters' mapping tables."""

    _name = "logistics.event.type"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Event Type"
    _order = "sequence, id"

    code = fields.Char(required=True, index=True, help="Canonical code used in events and APIs.")
    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10, help="Position in the shipment's life cycle.")
    category = fields.Selection(
        [
            ("execution", "Execution"),
            ("side", "Side branch"),
            ("finance", "Finance"),
            ("channel", "Channel"),
        ],
        required=True,
        default="execution",
    )
    sets_status = fields.Boolean(
        default=True,
        help="Whether an event of this type becomes the shipment's status. Finance and channel "
        "milestones are recorded on the timeline without changing the delivery status.",
    )
    rank = fields.Integer(
        required=True,
        default=0,
        help="Position on the main progression (order_released 10 … delivered 100): a status "
        "moves only to a higher rank, or to the same rank and a time not older; an event of a "
        "lower rank is recorded as arrived late. 0: a side branch (exception, cancelled) "
        "entered by time, which keeps the rank reached under it.",
    )
    is_final = fields.Boolean(
        string="Final",
        help="No later event moves the status from this one (returned, cancelled). Delivered "
        "is not final: a parcel can still be sent back (returning).",
    )
    description = fields.Text(translate=True)
    active = fields.Boolean(default=True)

    _code_uniq = models.Constraint("unique (code)", "An event type code must be unique.")
    _rank_positive = models.Constraint(
        "CHECK (rank >= 0)", "An event type's rank is 0 (side branch) or positive."
    )
