import logging

from odoo import api, fields, models
from odoo.tools import SQL

from .logistics_event import json_recordset

_logger = logging.getLogger(__name__)

# The columns a batch of SLA rows travels in (``json_recordset``).
START_COLUMNS = (
    "shipment_id int, policy_id int, started_at timestamp, due_at timestamp, at_risk_at timestamp"
)
TIMES_COLUMNS = "id int, started_at timestamp, due_at timestamp, at_risk_at timestamp"
MET_COLUMNS = "shipment_id int, type_id int, occurred_at timestamp"
# The shipment's fields a policy's scope and due times read.
SCOPE_FIELDS = [
    "company_id",
    "wms_backend_id",
    "carrier_backend_id",
    "warehouse_id",
    "channel_id",
    "promised_date",
]


def _iso(value):
    return value.isoformat() if value else None


# When an event of type ``et`` meets a policy ``p`` whose B is of type ``tt``: it is B, or a
# later step of the execution progression (a WMS that ships without acknowledging has moved
# on: its acknowledgement is no longer awaited). Side branches (returning, returned, an
# exception) and channel or finance milestones meet only themselves. The one place of the
# rule: ingest, the late-A lookup and the cron all use it.
MEETS_B_SQL = SQL(
    "(et.id = tt.id OR (et.category = 'execution' AND tt.category = 'execution'"
    " AND et.rank > tt.rank))"
)


class LogisticsShipmentSla(models.Model):
    """Evaluation of the SLA policies (DESIGN §5): when A arrives, each policy in scope starts
    a row with its due times; B's arrival meets it; a carrier event restarts a silence clock;
    the cron (``_cron_evaluate``) moves rows whose time has come, one query per policy, and
    raises the policy's exception on a breach."""

    _inherit = "logistics.shipment.sla"

    # --- on ingest ----------------------------------------------------------------------------
    @api.model
    def _track_events(self, source_kind, events):
        """Start, restart and meet SLA rows for a batch of stored events (``logistics.event
        ._ingest``, after the status moved).

        :param str source_kind: the kind of system that reported them (``wms``, ``carrier``,
            ``channel``, ``odoo``…): a silence clock restarts on a carrier's events only
        :param list events: ``[{"shipment_id": int, "type_id": int, "occurred_at": datetime}]``
            (naive UTC), the events stored and not ignored as a non-owner's
        """
        if not events:
            return
        self = self.sudo()  # the flow's rows; any user's ingest moves them
        # The scope is read in SQL: what the ORM wrote before in this transaction counts.
        self.env["logistics.shipment"].flush_model(SCOPE_FIELDS)
        self._sla_start(events)
        if source_kind == "carrier":
            self._sla_restart_silence(events)
        self._sla_meet(events)
        self._sla_stop(events)

    @api.model
    def _sla_start(self, events):
        """Start one row per shipment and policy whose milestone A is in ``events`` and whose
        scope the shipment is in; the first A starts it (a later copy of A changes nothing). A
        row whose B has already occurred (a late A) starts met.

        Python computes the due times of each distinct start (working time needs the
        calendar); the scope, the promised date and the channel subscriptions are joined in
        the INSERT itself: in the ingest benchmark, reading the batch's shipments to test their
        scope in Python cost 50 ms per batch of 1,000 events, a fifth of the batch."""
        type_ids = {event["type_id"] for event in events}
        policies = self.env["logistics.sla.policy"].search(
            [("start_type_id", "in", list(type_ids))]
        )
        if not policies:
            return
        first = {}  # (shipment id, type id) -> earliest occurred_at of the batch
        for event in events:
            key = (event["shipment_id"], event["type_id"])
            if key not in first or event["occurred_at"] < first[key]:
                first[key] = event["occurred_at"]
        # Most milestones A of a batch repeat a start (a copy, a re-send): skip those before
        # building rows (one probe of the unique index per shipment).
        self.env.cr.execute(
            SQL(
                "SELECT shipment_id, policy_id, started_at FROM logistics_shipment_sla"
                " WHERE shipment_id = ANY(%s) AND policy_id = ANY(%s)",
                list({shipment_id for shipment_id, _t in first}),
                policies.ids,
            )
        )
        started = {(s, p): at for s, p, at in self.env.cr.fetchall()}
        rows = []
        for policy in policies:
            if policy.start_on == "published" and not self.env[
                "logistics.subscription"
            ].search_count(
                [
                    ("event_type_ids", "=", policy.start_type_id.id),
                    ("backend_id.kind", "=", "channel"),
                ],
                limit=1,
            ):
                continue  # no channel to publish A to: nothing to confirm
            # Read once: a field read costs microseconds, a thousand times per policy.
            policy_id, start_type_id = policy.id, policy.start_type_id.id
            starts = [
                (shipment_id, at)
                for (shipment_id, type_id), at in first.items()
                if type_id == start_type_id
                # An earlier copy of A arriving later moves the start back; a later one
                # changes nothing.
                and (
                    (shipment_id, policy_id) not in started or at < started[shipment_id, policy_id]
                )
            ]
            if not starts:
                continue
            due_times = policy._due_times(at for _s, at in starts)
            for shipment_id, started_at in starts:
                due_at, at_risk_at = due_times.get(started_at, (None, None))
                rows.append(
                    {
                        "shipment_id": shipment_id,
                        "policy_id": policy_id,
                        "started_at": _iso(started_at),
                        "due_at": _iso(due_at),
                        "at_risk_at": _iso(at_risk_at),
                    }
                )
        if not rows:
            return
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO logistics_shipment_sla
                       (shipment_id, policy_id, company_id, started_at, due_at, at_risk_at,
                        state, met_at, breached_at, create_uid, create_date, write_uid, write_date)
                SELECT v.shipment_id, v.policy_id, s.company_id, v.started_at, d.due_at,
                       d.at_risk_at,
                       CASE WHEN b.met_at IS NULL THEN 'on_time' ELSE 'met' END,
                       b.met_at,
                       CASE WHEN b.met_at > d.due_at THEN d.due_at END,
                       %(uid)s, now() AT TIME ZONE 'UTC', %(uid)s, now() AT TIME ZONE 'UTC'
                  FROM %(values)s
                  JOIN logistics_shipment s ON s.id = v.shipment_id
                  JOIN logistics_sla_policy p ON p.id = v.policy_id
                 CROSS JOIN LATERAL (
                        SELECT CASE WHEN p.kind = 'promised' THEN s.promised_date
                                    ELSE v.due_at END AS due_at,
                               CASE WHEN p.kind = 'promised'
                                    THEN v.started_at + GREATEST(
                                        s.promised_date - v.started_at, interval '0'
                                    ) * p.at_risk_ratio
                                    ELSE v.at_risk_at END AS at_risk_at
                  ) d
                  LEFT JOIN LATERAL (
                        SELECT min(e.occurred_at) AS met_at
                          FROM logistics_event e
                          JOIN logistics_event_type et ON et.id = e.type_id
                          JOIN logistics_event_type tt ON tt.id = p.target_type_id
                         WHERE e.shipment_id = v.shipment_id AND e.state != 'ignored'
                           AND %(meets_b)s
                  ) b ON true
                 WHERE d.due_at IS NOT NULL
                   AND (p.company_id IS NULL OR p.company_id = s.company_id)
                   AND (p.backend_id IS NULL
                        OR p.backend_id IN (s.wms_backend_id, s.carrier_backend_id))
                   AND (p.carrier_backend_id IS NULL
                        OR p.carrier_backend_id = s.carrier_backend_id)
                   AND (p.warehouse_id IS NULL OR p.warehouse_id = s.warehouse_id)
                   AND (p.channel_id IS NULL OR p.channel_id = s.channel_id)
                   AND (p.start_on = 'recorded' OR EXISTS (
                        SELECT FROM logistics_subscription sub
                          JOIN logistics_event_type_logistics_subscription_rel r
                            ON r.logistics_subscription_id = sub.id
                          JOIN logistics_backend c ON c.id = sub.backend_id
                         WHERE r.logistics_event_type_id = p.start_type_id AND sub.active
                           AND c.kind = 'channel' AND c.active AND c.company_id = s.company_id
                   ))
                    ON CONFLICT (shipment_id, policy_id) DO UPDATE
                   SET started_at = EXCLUDED.started_at, due_at = EXCLUDED.due_at,
                       at_risk_at = EXCLUDED.at_risk_at,
                       write_date = now() AT TIME ZONE 'UTC'
                 WHERE logistics_shipment_sla.state IN ('on_time', 'at_risk')
                   AND EXCLUDED.started_at < logistics_shipment_sla.started_at
                """,
                uid=self.env.uid,
                meets_b=MEETS_B_SQL,
                values=json_recordset(START_COLUMNS, rows),
            )
        )
        self.invalidate_model()

    @api.model
    def _sla_restart_silence(self, events):
        """A carrier's event restarts the open silence clocks of its shipment: due T after it.
        A breached clock the event restarts is back on time, and its card closes when no
        other shipment keeps it open."""
        latest = {}
        for event in events:
            shipment_id = event["shipment_id"]
            if shipment_id not in latest or event["occurred_at"] > latest[shipment_id]:
                latest[shipment_id] = event["occurred_at"]
        open_rows = self.search_fetch(
            [
                ("shipment_id", "in", list(latest)),
                ("policy_id.kind", "=", "silence"),
                ("state", "!=", "met"),
            ],
            ["shipment_id", "policy_id", "started_at", "exception_id", "state"],
        )
        open_rows = open_rows.filtered(
            lambda r: not r.started_at or latest[r.shipment_id.id] > r.started_at
        )
        now = fields.Datetime.now()
        due_times = {
            policy: policy._due_times(
                latest[r.shipment_id.id] for r in open_rows if r.policy_id == policy
            )
            for policy in open_rows.policy_id
        }
        restarted = []
        for row in open_rows:
            occurred_at = latest[row.shipment_id.id]
            due_at, at_risk_at = due_times[row.policy_id][occurred_at]
            if due_at <= now:
                # A scan of long ago arriving late (a carrier's backlog): the parcel has
                # still been silent for longer than allowed.
                continue
            restarted.append(
                {
                    "id": row.id,
                    "started_at": _iso(occurred_at),
                    "due_at": _iso(due_at),
                    "at_risk_at": _iso(at_risk_at),
                }
            )
        if not restarted:
            return
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_shipment_sla r
                   SET started_at = v.started_at, due_at = v.due_at, at_risk_at = v.at_risk_at,
                       state = 'on_time', write_date = now() AT TIME ZONE 'UTC'
                  FROM %s
                 WHERE r.id = v.id
             RETURNING r.exception_id
                """,
                json_recordset(TIMES_COLUMNS, restarted),
            )
        )
        cleared = {exception_id for (exception_id,) in self.env.cr.fetchall() if exception_id}
        self.invalidate_model()
        self._close_cleared(cleared, self.env._("The carrier's tracking came back."))

    @api.model
    def _sla_meet(self, events):
        """B's arrival meets the open rows of its shipment whose policy expects it, in one
        statement; a row met after its due time keeps the breach (``breached_at``)."""
        earliest = {}
        for event in events:
            key = (event["shipment_id"], event["type_id"])
            if key not in earliest or event["occurred_at"] < earliest[key]:
                earliest[key] = event["occurred_at"]
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_shipment_sla r
                   SET state = 'met', met_at = m.occurred_at,
                       breached_at = COALESCE(
                           r.breached_at, CASE WHEN m.occurred_at > r.due_at THEN r.due_at END),
                       write_date = now() AT TIME ZONE 'UTC'
                  FROM (
                        SELECT o.id, min(v.occurred_at) AS occurred_at
                          FROM %(values)s
                          JOIN logistics_event_type et ON et.id = v.type_id
                          JOIN logistics_shipment_sla o ON o.shipment_id = v.shipment_id
                          JOIN logistics_sla_policy p ON p.id = o.policy_id
                          JOIN logistics_event_type tt ON tt.id = p.target_type_id
                         WHERE o.state IN ('on_time', 'at_risk', 'breached') AND %(meets_b)s
                      GROUP BY o.id
                  ) m
                 WHERE r.id = m.id
             RETURNING r.exception_id
                """,
                meets_b=MEETS_B_SQL,
                values=json_recordset(
                    MET_COLUMNS,
                    [
                        {"shipment_id": s, "type_id": t, "occurred_at": _iso(at)}
                        for (s, t), at in earliest.items()
                    ],
                ),
            )
        )
        cleared = {exception_id for (exception_id,) in self.env.cr.fetchall() if exception_id}
        self.invalidate_model()
        self._close_cleared(cleared, self.env._("Every late shipment reached its milestone."))

    @api.model
    def _sla_stop(self, events):
        """A shipment that ends another way (a final status: cancelled, returned) stops its
        open clocks: nothing it still waited for can come. Their cards close when no other
        shipment keeps them open."""
        final_types = self.env["logistics.event.type"].search([("is_final", "=", True)]).ids
        ended = list({e["shipment_id"] for e in events if e["type_id"] in final_types})
        if not ended:
            return
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_shipment_sla
                   SET state = 'stopped', write_date = now() AT TIME ZONE 'UTC'
                 WHERE shipment_id = ANY(%s) AND state IN ('on_time', 'at_risk', 'breached')
             RETURNING exception_id
                """,
                ended,
            )
        )
        cleared = {exception_id for (exception_id,) in self.env.cr.fetchall() if exception_id}
        self.invalidate_model()
        self._close_cleared(cleared, self.env._("The shipment ended (cancelled or returned)."))

    @api.model
    def _close_cleared(self, exception_ids, note):
        """Close the open cards among ``exception_ids`` that no breached row holds open any
        more (a card counts every late shipment of its policy and backend)."""
        if not exception_ids:
            return
        still_breached = self.search(
            [("exception_id", "in", list(exception_ids)), ("state", "=", "breached")]
        ).exception_id
        cleared = (
            self.env["logistics.exception"]
            .browse(exception_ids)
            .filtered(lambda e: not e.is_closed)
            - still_breached
        )
        if cleared:
            cleared._close_automatically(note)

    # --- the evaluation cron ------------------------------------------------------------------
    @api.model
    def _cron_evaluate(self):
        """Move every policy's rows whose time has come (one query per policy) and raise the
        breaches. :return: the number of rows breached by this run."""
        breached = 0
        policies = self.env["logistics.sla.policy"].sudo().search([("active", "=", True)])
        for policy in policies:
            breached += self.sudo()._evaluate_policy(policy)
        return breached

    @api.model
    def _evaluate_policy(self, policy, now=None):
        """One policy's open rows past their at-risk time become *at risk*, past their due time
        *breached*, in one UPDATE; each breach is one occurrence on the policy's card for the
        shipment's backend (``logistics.exception._raise`` with the policy as its cause).

        :return: the number of rows breached"""
        now = now or fields.Datetime.now()
        # The rows whose time has come, with their B if it is in after all (a late A whose
        # transaction could not see a concurrent B): those are met, the others at risk or
        # breached.
        self.env.cr.execute(
            SQL(
                """
                WITH due AS (
                    SELECT r.id, r.due_at,
                           (SELECT min(e.occurred_at)
                              FROM logistics_event e
                              JOIN logistics_event_type et ON et.id = e.type_id
                              JOIN logistics_event_type tt ON tt.id = %(target)s
                             WHERE e.shipment_id = r.shipment_id AND e.state != 'ignored'
                               AND e.occurred_at >= r.started_at AND %(meets_b)s) AS met_at
                      FROM logistics_shipment_sla r
                     WHERE r.policy_id = %(policy)s AND r.state IN ('on_time', 'at_risk')
                       AND (r.due_at <= %(now)s
                            OR (r.state = 'on_time' AND r.at_risk_at <= %(now)s))
                )
                UPDATE logistics_shipment_sla r
                   SET state = CASE WHEN due.met_at IS NOT NULL THEN 'met'
                                    WHEN r.due_at <= %(now)s THEN 'breached'
                                    ELSE 'at_risk' END,
                       met_at = COALESCE(due.met_at, r.met_at),
                       breached_at = CASE WHEN due.met_at > r.due_at THEN r.due_at
                                          WHEN due.met_at IS NULL AND r.due_at <= %(now)s
                                          THEN r.due_at
                                          ELSE r.breached_at END,
                       write_date = %(now)s
                  FROM due
                 WHERE r.id = due.id
             RETURNING r.id, r.shipment_id, r.state
                """,
                now=now,
                policy=policy.id,
                target=policy.target_type_id.id or None,
                meets_b=MEETS_B_SQL,
            )
        )
        breaches = [
            (row_id, shipment_id)
            for row_id, shipment_id, state in self.env.cr.fetchall()
            if state == "breached"
        ]
        self.invalidate_model()
        if breaches:
            self._raise_breaches(policy, breaches)
        return len(breaches)

    @api.model
    def _raise_breaches(self, policy, breaches):
        """Raise the policy's exception for the shipments of ``breaches`` (``[(row id,
        shipment id)]``) and link each row to its card."""
        rows = self.browse([row_id for row_id, _s in breaches])
        rows.fetch(["shipment_id", "due_at", "started_at"])
        # A shipment that has this exception open already (a channel publication gone dead
        # raises dispatch_confirmation_failed of its own) is not told twice: its row points to
        # that exception.
        already = {
            exception.shipment_id.id: exception
            for exception in self.env["logistics.exception"].search(
                [
                    ("shipment_id", "in", rows.shipment_id.ids),
                    ("type_id", "=", policy.exception_type_id.id),
                    ("grouping_key", "=", False),
                    ("is_closed", "=", False),
                ]
            )
        }
        links = [
            {"id": row.id, "exception_id": already[row.shipment_id.id].id}
            for row in rows
            if row.shipment_id.id in already
        ]
        rows = rows.filtered(lambda r: r.shipment_id.id not in already)
        kind = policy._expected_owner_kind()
        vals_list = []
        for row in rows:
            shipment = row.shipment_id
            backend = policy._expected_backend(shipment, kind)
            vals_list.append(
                {
                    "name": policy._breach_title(backend),
                    "shipment_id": shipment.id,
                    "backend_id": backend.id or False,
                    "company_id": shipment.company_id.id,
                    "cause": f"sla:{policy.code}",
                    "occurrence": self.env._(
                        "%(shipment)s: due %(due)s",
                        shipment=shipment.picking_id.name or shipment.name,
                        due=row.due_at,
                    ),
                    "description": policy._breach_description(),
                }
            )
        # One card per company and backend (the grouping key's): ``_raise`` gives back the
        # card each occurrence joined.
        by_card = {}
        for row, vals in zip(rows, vals_list, strict=True):
            by_card.setdefault((vals["company_id"], vals["backend_id"]), []).append((row, vals))
        Exception_ = self.env["logistics.exception"]
        for group in by_card.values():
            card = Exception_._raise(policy.exception_type_id.code, [v for _r, v in group])
            links += [{"id": row.id, "exception_id": card.id} for row, _v in group]
        if links:
            self.env.cr.execute(
                SQL(
                    "UPDATE logistics_shipment_sla r SET exception_id = v.exception_id FROM %s"
                    " WHERE r.id = v.id",
                    json_recordset("id int, exception_id int", links),
                )
            )
        self.invalidate_model(["exception_id"])
        _logger.info("SLA %s: %s shipments breached", policy.code, len(links))

    @api.model
    def _start_for_history(self, policies):
        """Start ``policies`` for the shipments already under way (an upgrade, a policy
        created or re-activated): their milestones A recorded so far, for shipments not in a
        final status, go through ``_sla_start`` as if they had just arrived (by batches of
        1,000), so that nothing in flight goes unwatched. :return: the number of A events
        read."""
        if not policies:
            return 0
        self.env.cr.execute(
            SQL(
                """
                SELECT e.shipment_id, e.type_id, e.occurred_at
                  FROM logistics_event e
                  JOIN logistics_shipment s ON s.id = e.shipment_id
                  LEFT JOIN logistics_event_type st ON st.id = s.status_id
                 WHERE e.type_id = ANY(%s) AND e.state != 'ignored'
                   AND st.is_final IS NOT TRUE
              ORDER BY e.id
                """,
                policies.start_type_id.ids,
            )
        )
        events = [
            {"shipment_id": s, "type_id": t, "occurred_at": at}
            for s, t, at in self.env.cr.fetchall()
        ]
        for start in range(0, len(events), 1000):
            self.sudo()._sla_start(events[start : start + 1000])
        return len(events)
