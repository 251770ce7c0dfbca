import bisect
from datetime import UTC, timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError


def _plan_hours(intervals, stops, start, hours):
    """The time ``hours`` of working time after ``start``, given working ``intervals`` (sorted
    ``[(begin, end)]``, naive UTC) and their ``stops`` (the ends, for bisect); None when the
    intervals end first. The rule of ``resource.calendar.plan_hours``: counting starts at
    ``start`` or at the next working interval."""
    for begin, end in intervals[bisect.bisect_right(stops, start) :]:
        begin = max(begin, start)
        available = (end - begin).total_seconds() / 3600
        if hours <= available:
            return begin + timedelta(hours=hours)
        hours -= available
    return None


POLICY_KINDS = [
    ("within", "B within T after A"),
    ("silence", "An event from the carrier at least every T after A"),
    ("promised", "B by the shipment's promised date"),
]


class LogisticsSlaPolicy(models.Model):
    """A promise the suite keeps watch over (DESIGN §5, SLA policies), as data.

    Three kinds:

    - ``within``: after milestone A (``start_type_id``), milestone B (``target_type_id``) within
      T (``duration_minutes``), in working time when a ``calendar_id`` is set;
    - ``silence``: after A, a new event from the shipment's carrier at least every T, until B
      (missing tracking);
    - ``promised``: after A, B by the shipment's ``promised_date``.

    When A arrives, each policy in scope gets one ``logistics.shipment.sla`` row per shipment
    with its due and at-risk times, computed once and stored (``logistics_sla_evaluation.py``);
    a cron moves the rows whose time has come to *at risk* or *breached* in one query per
    policy, a breach raises ``exception_type_id`` (grouped per policy and backend), and B's
    arrival meets the row and closes what it raised.
    """

    _name = "logistics.sla.policy"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics SLA Policy"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(
        required=True,
        index=True,
        help="Stable identifier: groups the exceptions a breach raises and names the policy in "
        "metrics and alert rules.",
    )
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    kind = fields.Selection(POLICY_KINDS, required=True, default="within")
    start_type_id = fields.Many2one(
        "logistics.event.type",
        string="After (A)",
        required=True,
        ondelete="restrict",
        help="The milestone that starts the clock: its time (when it occurred at the source) "
        "is the start.",
    )
    start_on = fields.Selection(
        [("recorded", "A is recorded"), ("published", "A is published to a sales channel")],
        string="Start When",
        required=True,
        default="recorded",
        help="Published: the clock starts only for milestones a sales channel subscribes to "
        "(it waits for the channel's confirmation).",
    )
    target_type_id = fields.Many2one(
        "logistics.event.type",
        string="Expect (B)",
        ondelete="restrict",
        help="The milestone that meets the promise. For a silence policy, the milestone that "
        "ends the watch (delivered, say).",
    )
    duration_minutes = fields.Integer(
        string="Within (minutes)",
        help="T: B is due this long after A (within), or a carrier event this long after the "
        "last one (silence). In working minutes when a working calendar is set.",
    )
    calendar_id = fields.Many2one(
        "resource.calendar",
        string="Working Time",
        help="Count T in this calendar's working time (and outside its public holidays): an "
        "order released on Friday at 18:00 to a WMS that works weekdays 8-17 is due on Monday. "
        "Empty: around the clock.",
    )
    at_risk_ratio = fields.Float(
        string="At Risk After",
        default=0.8,
        help="Share of the time allowed after which the promise is at risk (0.8: 80 %).",
    )
    backend_id = fields.Many2one(
        "logistics.backend",
        ondelete="cascade",
        help="Only shipments handled by this backend (their WMS or carrier). Empty: all.",
    )
    carrier_backend_id = fields.Many2one(
        "logistics.backend",
        string="Carrier",
        domain=[("kind", "=", "carrier")],
        ondelete="cascade",
        help="Only shipments of this carrier. Empty: all.",
    )
    warehouse_id = fields.Many2one(
        "stock.warehouse",
        ondelete="cascade",
        help="Only shipments from this warehouse. Empty: all.",
    )
    channel_id = fields.Many2one(
        "crm.team",
        string="Sales Channel",
        ondelete="cascade",
        help="Only shipments of orders of this sales channel. Empty: all.",
    )
    company_id = fields.Many2one(
        "res.company", help="Only shipments of this company. Empty: all companies."
    )
    exception_type_id = fields.Many2one(
        "logistics.exception.type",
        string="On Breach, Raise",
        required=True,
        ondelete="restrict",
        help="The exception a breach raises: one card per policy and backend, counting each "
        "late shipment once.",
    )
    status_ids = fields.One2many("logistics.shipment.sla", "policy_id", string="Shipments")
    at_risk_count = fields.Integer(compute="_compute_counts")
    breached_count = fields.Integer(compute="_compute_counts")

    _code_uniq = models.Constraint("unique (code)", "An SLA policy code must be unique.")

    @api.constrains("kind", "target_type_id", "duration_minutes", "at_risk_ratio")
    def _check_kind_fields(self):
        for policy in self:
            if policy.kind in ("within", "silence") and policy.duration_minutes <= 0:
                raise ValidationError(
                    self.env._(
                        "%(policy)s: set the time allowed (T), in minutes above 0.",
                        policy=policy.name,
                    )
                )
            if not 0 < policy.at_risk_ratio <= 1:
                raise ValidationError(
                    self.env._(
                        "%(policy)s: at risk after is a share of the time allowed, above 0 % "
                        "and at most 100 %.",
                        policy=policy.name,
                    )
                )
            if policy.kind in ("within", "promised") and not policy.target_type_id:
                raise ValidationError(
                    self.env._("%(policy)s: set the expected milestone (B).", policy=policy.name)
                )

    def _compute_counts(self):
        counts = {
            (policy.id, state): count
            for policy, state, count in self.env["logistics.shipment.sla"]._read_group(
                [("policy_id", "in", self.ids), ("state", "in", ("at_risk", "breached"))],
                ["policy_id", "state"],
                ["__count"],
            )
        }
        for policy in self:
            policy.at_risk_count = counts.get((policy.id, "at_risk"), 0)
            policy.breached_count = counts.get((policy.id, "breached"), 0)

    def _due_times(self, starts):
        """When the promises started at ``starts`` are due, and when they are at risk.

        :param starts: naive UTC datetimes (Odoo's Datetime): when A (or the carrier's last
            event, for a silence policy) occurred
        :return: ``{start: (due_at, at_risk_at)}``, naive UTC; empty for a promised-date policy
            (the shipment's promised date decides, in ``logistics.shipment.sla._sla_start``)
        :raises ValidationError: the working calendar has no working time left to count in
        """
        self.ensure_one()
        starts = set(starts)
        if self.kind == "promised" or not starts:
            return {}
        minutes = self.duration_minutes
        if not self.calendar_id:
            return {
                start: (
                    start + timedelta(minutes=minutes),
                    start + timedelta(minutes=minutes * self.at_risk_ratio),
                )
                for start in starts
            }
        return self._working_due_times(starts, minutes / 60)

    def _working_due_times(self, starts, hours):
        """``_due_times`` in the policy's working calendar: T counted in its working intervals
        (attendances less public holidays, as ``resource.calendar.plan_hours`` with
        ``compute_leaves``), read once for the whole batch of starts (a thousand events of a
        webhook batch would otherwise read the calendar a thousand times: 3 s instead of a few
        milliseconds)."""
        first, last = min(starts), max(starts)
        horizon = timedelta(days=14) + timedelta(hours=hours * 7)
        while horizon < timedelta(days=1400):
            intervals = [
                (
                    begin.astimezone(UTC).replace(tzinfo=None),
                    end.astimezone(UTC).replace(tzinfo=None),
                )
                for begin, end, _meta in self.calendar_id._work_intervals_batch(
                    first.replace(tzinfo=UTC), (last + horizon).replace(tzinfo=UTC)
                )[False]
            ]
            stops = [end for _begin, end in intervals]
            due_times = {}
            for start in starts:
                due = _plan_hours(intervals, stops, start, hours)
                at_risk = _plan_hours(intervals, stops, start, hours * self.at_risk_ratio)
                if not due:
                    break
                due_times[start] = (due, at_risk)
            else:
                return due_times
            horizon *= 4
        raise ValidationError(
            self.env._(
                "%(calendar)s has no working time to count %(policy)s in.",
                calendar=self.calendar_id.name,
                policy=self.name,
            )
        )

    def _expected_owner_kind(self):
        """The kind of system expected to act: the owner of B (DESIGN §2, ownership), the
        carrier for a silence policy."""
        self.ensure_one()
        if self.kind == "silence":
            return "carrier"
        rule = self.env["logistics.ownership.rule"].search(
            [("event_type_id", "=", self.target_type_id.id)], limit=1
        )
        return rule.owner_kind

    def _expected_backend(self, shipment, kind):
        """The backend a breach is held against: the shipment's WMS or carrier, else the
        policy's own backend (a sales channel's)."""
        if kind == "wms" and shipment.wms_backend_id:
            return shipment.wms_backend_id
        if kind == "carrier" and shipment.carrier_backend_id:
            return shipment.carrier_backend_id
        return self.backend_id

    def _breach_title(self, backend):
        if backend:
            return self.env._(
                "%(policy)s: %(backend)s late", policy=self.name, backend=backend.name
            )
        return self.env._("%(policy)s: late", policy=self.name)

    def _breach_description(self):
        expected = self.target_type_id.name or self.env._("a carrier event")
        if self.kind == "promised":
            return self.env._(
                "After %(start)s, %(target)s was expected by the promised date.",
                start=self.start_type_id.name,
                target=expected,
            )
        return self.env._(
            "After %(start)s, %(target)s was expected within %(minutes)s minutes%(working)s.",
            start=self.start_type_id.name,
            target=expected,
            minutes=self.duration_minutes,
            working=self.env._(" of working time (%s)", self.calendar_id.name)
            if self.calendar_id
            else "",
        )

    def action_view_statuses(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Shipments under %(policy)s", policy=self.name),
            "res_model": "logistics.shipment.sla",
            "view_mode": "list,form",
            "domain": [("policy_id", "=", self.id)],
            "context": {"search_default_open": 1},
        }
