"""A monitoring history, generated in SQL: shipments with their events, messages, SLA rows and
exceptions, spread over the past days, as the suite's own flow would have left them.

Shared by the monitoring benchmark (``setup/bench monitoring``: 100,000 shipments, 1,000,000
events, in minutes) and by ``setup/run``'s demo (a few thousand shipments over some weeks, in
seconds, on the demo's own backends, warehouses, channels and customers):

    python setup/monitoring_history.py --config .local/odoo.conf --database logistics

Everything is written with ``INSERT ... SELECT generate_series`` (no ORM create per record),
with the columns the ORM needs (create_uid, create_date, write_date, required fields, stored
related and computed fields, correlation ids), so that Odoo reads the rows normally.

The story of a shipment (``gen_plan``, one row of random draws per shipment):

- the main progression order_released → wms_acknowledged → picked → packed → label_created →
  shipped → in_transit → out_for_delivery → delivered, each milestone from its system of record
  (Odoo, the WMS, the carrier), with realistic gaps; only what occurred before ``end`` exists;
- 6 % of acknowledgements come late (past the 30 minutes), 4 % of dispatches take days, 5 % of
  first carrier scans come after 24 h, 4 % of shipments stop midway (stuck);
- carrier checkpoints (extra in_transit scans) top the events up to the requested number; some
  arrive late (recorded after a later milestone: ``arrived_late``), 2 % of hand-offs are
  recorded hours after they occurred;
- a sales channel confirms the dispatch (dispatch_confirmed), mostly within minutes;
- carrier exceptions and failed delivery attempts on some.

SLA rows follow from the events, per active policy (its kind, scope, working calendar and
start-on-publication rule), as the evaluation cron would have left them ``sla_lag_minutes``
ago: met when B occurred (``breached_at`` kept when late), breached or at risk when their time
had come then, on time otherwise; so the next ``_cron_evaluate`` has the rows whose time came
since to move. A breach is an occurrence of its policy's grouped card (open for the rows still
breached; closed, auto-resolved, per week for the rows met late).
"""

import argparse
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg2.extras import Json, execute_values

from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# Exception types raised at random (the SLA policies' types are raised by their breaches), and
# the backend kind they are held against.
RANDOM_EXCEPTION_KINDS = {
    "address_invalid": "carrier",
    "stock_mismatch": "wms",
    "partial_shipment_mismatch": "wms",
    "carrier_rejected": "carrier",
    "label_failed": "carrier",
    "delivery_failed": "carrier",
    "returned_shipment": "carrier",
    "duplicate_message": "any",
    "mapping_missing": "any",
    "schema_invalid": "any",
    "partner_unavailable": "any",
    "processing_failed": "channel",
    "wms_confirmation_unapplied": "wms",
    "wms_confirmation_difference": "wms",
    "order_release_failed": "wms",
    "stock_snapshot_invalid": "wms",
}
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@dataclass
class Scope:
    """Where the history happens: ids of existing records of one company."""

    company_id: int
    wms_ids: list
    carrier_ids: list
    channel_backend_id: int
    warehouse_ids: list
    team_ids: list
    partner_ids: list
    user_ids: list
    prefix: str = "GEN/"


@dataclass
class Sizes:
    shipments: int = 100_000
    events: int = 1_000_000  # at least the main progression's; carrier scans top it up
    messages: int = 300_000
    exceptions: int = 20_000
    days: float = 90
    sla_lag_minutes: int = 60  # the evaluation cron last ran this long before ``end``
    seed: float = 0.42
    timings: dict = field(default_factory=dict)


def _step(sizes, name, started):
    sizes.timings[name] = time.perf_counter() - started
    _logger.info("history: %s in %.1f s", name, sizes.timings[name])
    return time.perf_counter()


def generate(env, scope, sizes, end=None):
    """Write the history into ``env``'s database (not committed: the caller commits).

    :param scope: a ``Scope`` of existing ids (company, 2+ backends of each kind...)
    :param sizes: a ``Sizes``; its ``timings`` get the seconds of each step
    :param datetime end: naive UTC, the history's last moment (default: now)
    :return: dict ``{table: rows written}`` and ``first_shipment_id``, ``last_shipment_id``
    """
    cr = env.cr
    end = end or datetime.utcnow().replace(microsecond=0)
    started = time.perf_counter()
    cr.execute("SELECT setseed(%s)", [sizes.seed])
    # These statements run once: compiling them (JIT) costs more than it saves.
    cr.execute("SET LOCAL jit = off")
    # pick(ids, draw): the element of ``ids`` a random draw in [0, 1) falls on.
    cr.execute(
        "CREATE OR REPLACE FUNCTION pg_temp.pick(ids int[], draw float8) RETURNS int"
        " LANGUAGE sql IMMUTABLE AS 'SELECT ids[1 + floor(draw * cardinality(ids))::int]'"
    )
    cr.execute("SELECT code, id FROM logistics_event_type")
    types = dict(cr.fetchall())
    params = {
        "end": end,
        "days": sizes.days,
        "n": sizes.shipments,
        "prefix": scope.prefix,
        "company": scope.company_id,
        "wms": scope.wms_ids,
        "carriers": scope.carrier_ids,
        "channel": scope.channel_backend_id,
        "warehouses": scope.warehouse_ids,
        "teams": scope.team_ids,
        "partners": scope.partner_ids,
        "users": scope.user_ids,
        "uid": env.uid,
        "eval": end - timedelta(minutes=sizes.sla_lag_minutes),
    }
    params.update({f"t_{code}": type_id for code, type_id in types.items()})
    _plan(cr, params)
    started = _step(sizes, "plan", started)
    first, last = _shipments(cr, params)
    params.update(first=first, last=last)
    started = _step(sizes, "shipments", started)
    events = _events(cr, params, sizes.events)
    # The next steps read what was just written: plan them on its real size.
    analyze(env, ("gen_plan", "logistics_shipment", "logistics_event"))
    started = _step(sizes, "events", started)
    _status(cr, params)
    started = _step(sizes, "status", started)
    messages = _messages(env, params, sizes.messages)
    started = _step(sizes, "messages", started)
    sla = _sla_rows(env, params)
    analyze(env, ("logistics_shipment_sla",))
    started = _step(sizes, "sla rows", started)
    cards = _sla_cards(env, params)
    started = _step(sizes, "sla cards", started)
    exceptions = cards + _exceptions(env, params, max(sizes.exceptions - cards, 0))
    started = _step(sizes, "exceptions", started)
    cr.execute(
        """
        UPDATE logistics_shipment s SET has_exception = true
          FROM logistics_exception x
         WHERE x.shipment_id = s.id AND x.is_closed IS NOT TRUE
           AND s.id BETWEEN %(first)s AND %(last)s
        """,
        params,
    )
    for table in ("logistics_event", "logistics_message", "logistics_message_attempt"):
        cr.execute(
            SQL(
                "SELECT setval(%s, (SELECT max(id) FROM %s))",
                f"{table}_id_seq",
                SQL.identifier(table),
            )
        )
    cr.execute("DROP TABLE gen_plan")
    env.invalidate_all()
    return {
        "shipments": last - first + 1,
        "events": events,
        "messages": messages,
        "sla_rows": sla,
        "exceptions": exceptions,
        "first_shipment_id": first,
        "last_shipment_id": last,
    }


HISTORY_TABLES = (
    "logistics_shipment",
    "logistics_event",
    "logistics_message",
    "logistics_message_attempt",
    "logistics_shipment_sla",
    "logistics_exception",
    "logistics_exception_occurrence",
)


def analyze(env, tables=HISTORY_TABLES):
    """ANALYZE the tables the history filled, so that PostgreSQL plans on their real size."""
    for table in tables:
        env.cr.execute(SQL("ANALYZE %s", SQL.identifier(table)))


def _plan(cr, p):
    """One row of draws per shipment, and its milestones' times (NULL: never happens)."""
    cr.execute(
        """
        CREATE TEMP TABLE gen_plan ON COMMIT DROP AS
        WITH r AS (
            SELECT g AS n, random() AS r_t0, random() AS r_fate, random() AS r_stop,
                   random() AS r_ack, random() AS r_late_ack, random() AS r_pick,
                   random() AS r_pack, random() AS r_label, random() AS r_ship,
                   random() AS r_late_ship, random() AS r_scan, random() AS r_late_scan,
                   random() AS r_ofd, random() AS r_deliver, random() AS r_conf,
                   random() AS r_side, random() AS r_wms, random() AS r_car, random() AS r_wh,
                   random() AS r_team, random() AS r_partner, random() AS r_promise
              FROM generate_series(1, %(n)s) g
        ), d AS (
            SELECT n, r_side, r_conf,
                   %(end)s - r_t0 * %(days)s * interval '1 day' AS t0,
                   CASE WHEN r_fate < 0.04 THEN 1 + floor(r_stop * 7)::int ELSE 9 END AS reach,
                   pg_temp.pick(%(wms)s, r_wms) AS wms_id,
                   pg_temp.pick(%(carriers)s, r_car)
                       AS carrier_id,
                   pg_temp.pick(%(warehouses)s, r_wh)
                       AS warehouse_id,
                   pg_temp.pick(%(teams)s, r_team)
                       AS team_id,
                   pg_temp.pick(%(partners)s, r_partner)
                       AS partner_id,
                   interval '1 minute' * CASE WHEN r_late_ack < 0.06 THEN 35 + r_ack * 240
                                              ELSE 1 + r_ack * 24 END AS d_ack,
                   interval '1 minute' * (60 + r_pick * 300) AS d_pick,
                   interval '1 minute' * (10 + r_pack * 50) AS d_pack,
                   interval '1 minute' * (5 + r_label * 25) AS d_label,
                   interval '1 minute' * (30 + r_ship * 150
                       + CASE WHEN r_late_ship < 0.04 THEN 5760 + r_late_ship * 72000 ELSE 0 END)
                       AS d_ship,
                   interval '1 minute' * (120 + r_scan * 1000
                       + CASE WHEN r_late_scan < 0.05 THEN 1500 + r_late_scan * 40000 ELSE 0 END)
                       AS d_scan,
                   interval '1 minute' * (600 + r_ofd * 2400) AS d_ofd,
                   interval '1 minute' * (30 + r_deliver * 400) AS d_deliver,
                   interval '1 minute' * CASE WHEN r_conf < 0.03 THEN 20 + r_conf * 3000
                                              ELSE 1 + r_conf * 9 END AS d_conf,
                   interval '1 hour' * (84 + r_promise * 24) AS d_promise
              FROM r
        )
        SELECT n, reach, wms_id, carrier_id, warehouse_id, team_id, partner_id, r_side, r_conf,
               NULL::int AS id, NULL::varchar AS correlation_id,
               t0, t0 + d_promise AS promised,
               t0 + d_ack AS t2,
               t0 + d_ack + d_pick AS t3,
               t0 + d_ack + d_pick + d_pack AS t4,
               t0 + d_ack + d_pick + d_pack + d_label AS t5,
               t0 + d_ack + d_pick + d_pack + d_label + d_ship AS t6,
               t0 + d_ack + d_pick + d_pack + d_label + d_ship + d_scan AS t7,
               t0 + d_ack + d_pick + d_pack + d_label + d_ship + d_scan + d_ofd AS t8,
               t0 + d_ack + d_pick + d_pack + d_label + d_ship + d_scan + d_ofd + d_deliver
                   AS t9,
               t0 + d_ack + d_pick + d_pack + d_label + d_ship + d_conf AS t_conf
          FROM d;
        CREATE INDEX ON gen_plan (n);
        """,
        p,
    )


def _shipments(cr, p):
    """Insert the shipments (status fields come later, from their events)."""
    cr.execute(
        """
        WITH ins AS (
            INSERT INTO logistics_shipment
                   (name, correlation_id, direction, partner_id, warehouse_id, channel_id,
                    wms_backend_id, carrier_backend_id, tracking_number, status_rank,
                    promised_date, currency_id, company_id, wms_released_at,
                    create_uid, create_date, write_uid, write_date)
            SELECT %(prefix)s || lpad(n::text, 6, '0'), md5(%(prefix)s || n), 'outgoing',
                   p.partner_id, p.warehouse_id, p.team_id, p.wms_id, p.carrier_id,
                   CASE WHEN reach >= 5 AND t5 <= %(end)s THEN '1ZGEN' || lpad(n::text, 9, '0') END,
                   0, promised, c.currency_id, %(company)s, t0,
                   %(uid)s, t0, %(uid)s, t0
              FROM gen_plan p, res_company c
             WHERE c.id = %(company)s
             ORDER BY n
         RETURNING id, correlation_id
        )
        UPDATE gen_plan g SET id = ins.id, correlation_id = ins.correlation_id
          FROM ins WHERE ins.correlation_id = md5(%(prefix)s || g.n)
        """,
        p,
    )
    cr.execute("SELECT min(id), max(id) FROM gen_plan")
    first, last = cr.fetchone()
    cr.execute("CREATE INDEX ON gen_plan (id)")
    return first, last


def _events(cr, p, target):
    """The milestones each shipment reached before ``end``, then carrier checkpoints up to
    ``target`` events, written in the order of their recorded_at as ingest writes them (the
    BRIN indexes on recorded_at, and the rollups' refresh, read a table in that order).
    :return: the number of events written"""
    columns = """shipment_id, type_id, occurred_at, recorded_at, backend_id, source_event_id,
                 correlation_id, state, payload"""
    cr.execute(
        SQL(
            "CREATE TEMPORARY TABLE gen_events AS SELECT %s FROM logistics_event WITH NO DATA",
            SQL(columns),
        )
    )
    count = _staged_events(cr, p, target)
    cr.execute(
        SQL(
            "INSERT INTO logistics_event (%s) SELECT %s FROM gen_events ORDER BY recorded_at",
            SQL(columns),
            SQL(columns),
        )
    )
    cr.execute("DROP TABLE gen_events")
    return count


def _staged_events(cr, p, target):
    """The events of ``_events``, into the staging table gen_events. :return: their number"""
    cr.execute(
        """
        INSERT INTO gen_events
               (shipment_id, type_id, occurred_at, recorded_at, backend_id, source_event_id,
                correlation_id, state, payload)
        SELECT p.id, st.type_id, st.at,
               LEAST(%(end)s, st.at + CASE WHEN random() < 0.02
                                           THEN interval '1 hour' * (1 + random() * 5)
                                           ELSE interval '1 second' * (2 + random() * 60) END),
               st.backend_id, %(prefix)s || p.n || '-' || st.step, p.correlation_id, 'applied',
               CASE WHEN st.step >= 7 THEN jsonb_build_object('location', 'Hub ' || (p.n %% 40))
                    ELSE '{}'::jsonb END
          FROM gen_plan p
         CROSS JOIN LATERAL (VALUES
               (1, %(t_order_released)s, p.t0, NULL::int),
               (2, %(t_wms_acknowledged)s, p.t2, p.wms_id),
               (3, %(t_picked)s, p.t3, p.wms_id),
               (4, %(t_packed)s, p.t4, p.wms_id),
               (5, %(t_label_created)s, p.t5, p.carrier_id),
               (6, %(t_shipped)s, p.t6, p.wms_id),
               (7, %(t_in_transit)s, p.t7, p.carrier_id),
               (8, %(t_out_for_delivery)s, p.t8, p.carrier_id),
               (9, %(t_delivered)s, p.t9, p.carrier_id)
         ) st(step, type_id, at, backend_id)
         WHERE st.step <= p.reach AND st.at <= %(end)s
        """,
        p,
    )
    count = cr.rowcount
    # Side events: the channel's confirmation of the dispatch (1 % never comes), a carrier
    # exception between the first scan and the delivery round, a failed attempt before delivery.
    cr.execute(
        """
        INSERT INTO gen_events
               (shipment_id, type_id, occurred_at, recorded_at, backend_id, source_event_id,
                correlation_id, state, payload)
        SELECT p.id, st.type_id, st.at, LEAST(%(end)s, st.at + interval '5 seconds'),
               st.backend_id, %(prefix)s || p.n || '-' || st.tag, p.correlation_id, 'applied',
               st.payload
          FROM gen_plan p
         CROSS JOIN LATERAL (VALUES
               ('c', %(t_dispatch_confirmed)s, p.t_conf, %(channel)s,
                p.reach >= 6 AND p.r_conf < 0.99, '{}'::jsonb),
               ('x', %(t_exception)s, p.t7 + (p.t8 - p.t7) / 2, p.carrier_id,
                p.reach >= 7 AND p.r_side < 0.02, '{"reason": "address_not_found"}'::jsonb),
               ('a', %(t_delivery_attempted)s, p.t8 + (p.t9 - p.t8) / 2, p.carrier_id,
                p.reach >= 9 AND p.r_side >= 0.02 AND p.r_side < 0.05,
                '{"reason": "recipient_unavailable"}'::jsonb)
         ) st(tag, type_id, at, backend_id, happens, payload)
         WHERE st.happens AND st.at <= %(end)s
        """,
        p,
    )
    count += cr.rowcount
    extra = target - count
    if extra <= 0:
        return count
    # Carrier checkpoints between the first scan and the delivery round (for a shipment stuck
    # in transit: in the 40 hours after its first scan, then silence). 4 % reach Odoo after the
    # delivery round: arrived late.
    cr.execute(
        """
        WITH transit AS (
            SELECT p.*, row_number() OVER (ORDER BY p.n) AS rn, count(*) OVER () AS total
              FROM gen_plan p WHERE p.reach >= 7 AND p.t7 <= %(end)s
        ), scans AS (
            SELECT t.*, k,
                   t.t7 + (LEAST(%(end)s, CASE WHEN t.reach >= 8 THEN t.t8
                                               ELSE t.t7 + interval '40 hours' END) - t.t7)
                          * random() AS at,
                   random() < 0.04 AS late
              FROM transit t
             CROSS JOIN LATERAL generate_series(
                   1, %(extra)s / t.total + CASE WHEN t.rn <= %(extra)s %% t.total THEN 1
                                                 ELSE 0 END) k
        ), timed AS (
            SELECT s.*, LEAST(%(end)s, CASE WHEN s.late AND s.reach >= 8
                                            THEN s.t8 + interval '1 hour' * random() * 6
                                            ELSE s.at + interval '30 seconds' END) AS recorded
              FROM scans s
        )
        INSERT INTO gen_events
               (shipment_id, type_id, occurred_at, recorded_at, backend_id, source_event_id,
                correlation_id, state, payload)
        SELECT id, %(t_in_transit)s, at, GREATEST(at, recorded), carrier_id,
               %(prefix)s || n || '-s' || k, correlation_id,
               CASE WHEN reach >= 8 AND recorded > t8 THEN 'arrived_late' ELSE 'applied' END,
               jsonb_build_object('location', 'Hub ' || ((n + k) %% 40))
          FROM timed
        """,
        dict(p, extra=extra),
    )
    return count + cr.rowcount


def _status(cr, p):
    """Each shipment's status: its latest applied status-setting event (DESIGN §2), the
    highest rank reached, and the delivery time."""
    cr.execute(
        """
        WITH last AS (
            SELECT DISTINCT ON (e.shipment_id) e.shipment_id, e.id, e.type_id, e.occurred_at,
                   t.code
              FROM logistics_event e JOIN logistics_event_type t ON t.id = e.type_id
             WHERE e.shipment_id BETWEEN %(first)s AND %(last)s AND e.state = 'applied'
               AND t.sets_status
             ORDER BY e.shipment_id, e.occurred_at DESC, e.id DESC
        ), reached AS (
            SELECT e.shipment_id, max(t.rank) AS rank,
                   min(e.occurred_at) FILTER (WHERE t.code = 'delivered') AS delivered_at,
                   max(e.occurred_at) AS last_at
              FROM logistics_event e JOIN logistics_event_type t ON t.id = e.type_id
             WHERE e.shipment_id BETWEEN %(first)s AND %(last)s
             GROUP BY e.shipment_id
        )
        UPDATE logistics_shipment s
           SET status_id = last.type_id, status_code = last.code, status_at = last.occurred_at,
               status_event_ref = last.id, status_rank = reached.rank,
               status_owner = o.owner_kind, has_milestone = TRUE,
               delivered_at = reached.delivered_at,
               write_date = reached.last_at
          FROM last
          JOIN reached USING (shipment_id)
          LEFT JOIN logistics_ownership_rule o ON o.event_type_id = last.type_id
         WHERE s.id = last.shipment_id
        """,
        p,
    )


def _messages(env, p, target):
    """``target`` messages: per shipment the order release to its WMS, then webhooks from the
    WMS and the carrier, label purchases and publications to the channel, with their states
    (done, dead, retrying, rejected) and the attempts of the outbound ones.
    :return: the number of messages written"""
    cr = env.cr
    cr.execute(
        """
        WITH m AS (
            SELECT g, p.*, random() AS r_state, random() AS r_at, random() AS r_lat,
                   CASE WHEN g <= %(n)s THEN 0 ELSE (g - 1) %% 4 + 1 END AS kind
              FROM generate_series(1, %(target)s) g
              JOIN gen_plan p ON p.n = (g - 1) %% %(n)s + 1
        ), shaped AS (
            SELECT m.*,
                   CASE kind WHEN 0 THEN 'outbound' WHEN 3 THEN 'outbound' WHEN 4 THEN 'outbound'
                             ELSE 'inbound' END AS direction,
                   CASE kind WHEN 0 THEN 'order_release' WHEN 1 THEN 'webhook'
                             WHEN 2 THEN 'webhook' WHEN 3 THEN 'label_buy'
                             ELSE 'publish_milestone' END AS operation,
                   CASE kind WHEN 0 THEN wms_id WHEN 1 THEN wms_id WHEN 2 THEN carrier_id
                             WHEN 3 THEN carrier_id ELSE %(channel)s END AS backend_id,
                   LEAST(%(end)s, CASE kind WHEN 0 THEN t0
                             ELSE t0 + (COALESCE(t9, t8, t7, t6, t0 + interval '2 days') - t0)
                                       * r_at END) AS at,
                   CASE WHEN r_state < 0.02 THEN 'dead'
                        WHEN r_state < 0.03 AND kind IN (0, 3, 4) THEN 'retrying'
                        WHEN r_state < 0.045 AND kind IN (1, 2) THEN 'rejected'
                        ELSE 'done' END AS state
              FROM m
        )
        INSERT INTO logistics_message
               (uuid, direction, backend_id, operation, http_method, endpoint, payload,
                partner_event_id, state, attempts, next_retry_at, error_class, error,
                http_status, latency_ms, correlation_id, shipment_id, company_id,
                outcome_pending, payload_purged, state_changed_at,
                create_uid, create_date, write_uid, write_date)
        SELECT md5(%(prefix)s || 'm' || g), direction, backend_id, operation, 'POST',
               CASE operation WHEN 'order_release' THEN '/orders'
                              WHEN 'label_buy' THEN '/shipments' WHEN 'publish_milestone'
                              THEN '/milestones' END,
               jsonb_build_object('shipment', %(prefix)s || lpad(n::text, 6, '0')),
               CASE WHEN direction = 'inbound' THEN %(prefix)s || 'wh-' || g END,
               state,
               CASE WHEN direction = 'inbound' THEN 1
                    WHEN state = 'dead' THEN 5 WHEN state = 'retrying' THEN 2
                    WHEN r_lat < 0.05 THEN 2 ELSE 1 END,
               CASE WHEN state = 'retrying' THEN %(end)s + interval '5 minutes' END,
               CASE state WHEN 'dead' THEN CASE WHEN r_lat < 0.5 THEN 'transient'
                                                ELSE 'business' END
                          WHEN 'retrying' THEN 'transient' WHEN 'rejected' THEN 'business' END,
               CASE state WHEN 'dead' THEN 'HTTP 503 Service Unavailable'
                          WHEN 'retrying' THEN 'HTTP 503 Service Unavailable'
                          WHEN 'rejected' THEN 'payload refused: unknown shipment reference' END,
               CASE state WHEN 'done' THEN 200 WHEN 'rejected' THEN 400 ELSE 503 END,
               (40 + r_lat * r_lat * 1500)::int, correlation_id, id, %(company)s,
               false, false, at + interval '1 second',
               %(uid)s, at, %(uid)s, at + interval '1 second'
          FROM shaped
        """,
        dict(p, target=target),
    )
    count = cr.rowcount
    # Planned on the table's real size: the foreign key checks of the attempts below scan
    # the messages by their primary key, not sequentially.
    analyze(env, ("logistics_message",))
    cr.execute(
        """
        INSERT INTO logistics_message_attempt
               (message_id, number, http_status, error_class, error, latency_ms, attempted_at,
                retry_in, company_id, backend_id, create_uid, create_date, write_uid, write_date)
        SELECT m.id, k,
               CASE WHEN k < m.attempts OR m.state != 'done' THEN COALESCE(m.http_status, 503)
                    ELSE m.http_status END,
               CASE WHEN k < m.attempts THEN 'transient' ELSE m.error_class END,
               CASE WHEN k < m.attempts THEN 'HTTP 503 Service Unavailable' ELSE m.error END,
               m.latency_ms, m.create_date + interval '1 minute' * (k - 1) * k,
               CASE WHEN k < m.attempts THEN 60 * k END, m.company_id, m.backend_id,
               m.create_uid, m.create_date, m.write_uid, m.write_date
          FROM logistics_message m
         CROSS JOIN LATERAL generate_series(1, m.attempts) k
         WHERE m.shipment_id BETWEEN %(first)s AND %(last)s AND m.direction = 'outbound'
         -- In the order they happened, as the delivery jobs write them (the BRIN index on
         -- attempted_at).
         ORDER BY 7
        """,
        p,
    )
    return count


def _sla_rows(env, p):
    """One row per shipment and active policy whose milestone A occurred, in the policy's
    scope, with the times and state the flow would have given it. :return: rows written"""
    cr = env.cr
    total = 0
    policies = env["logistics.sla.policy"].sudo().search([("active", "=", True)])
    for policy in policies:
        q = dict(
            p,
            policy=policy.id,
            a=policy.start_type_id.id,
            b=policy.target_type_id.id or 0,
            minutes=policy.duration_minutes,
            ratio=policy.at_risk_ratio,
            scope_backend=policy.backend_id.id or None,
            scope_carrier=policy.carrier_backend_id.id or None,
            scope_warehouse=policy.warehouse_id.id or None,
            scope_channel=policy.channel_id.id or None,
            scope_company=policy.company_id.id or None,
            published=policy.start_on == "published",
        )
        cr.execute(
            """
            CREATE TEMP TABLE gen_sla ON COMMIT DROP AS
            SELECT a.shipment_id, s.company_id, a.at AS a_at, b.at AS b_at, s.promised_date,
                   s.carrier_backend_id, NULL::timestamp AS started_at, NULL::timestamp AS due_at,
                   NULL::timestamp AS at_risk_at
              FROM (SELECT shipment_id, min(occurred_at) AS at FROM logistics_event
                     WHERE type_id = %(a)s AND state != 'ignored'
                       AND shipment_id BETWEEN %(first)s AND %(last)s GROUP BY shipment_id) a
              JOIN logistics_shipment s ON s.id = a.shipment_id
              LEFT JOIN (SELECT shipment_id, min(occurred_at) AS at FROM logistics_event
                          WHERE type_id = %(b)s AND state != 'ignored'
                            AND shipment_id BETWEEN %(first)s AND %(last)s
                          GROUP BY shipment_id) b ON b.shipment_id = a.shipment_id
             WHERE (%(scope_backend)s::int IS NULL
                    OR %(scope_backend)s IN (s.wms_backend_id, s.carrier_backend_id))
               AND (%(scope_carrier)s::int IS NULL OR s.carrier_backend_id = %(scope_carrier)s)
               AND (%(scope_warehouse)s::int IS NULL OR s.warehouse_id = %(scope_warehouse)s)
               AND (%(scope_channel)s::int IS NULL OR s.channel_id = %(scope_channel)s)
               AND (%(scope_company)s::int IS NULL OR s.company_id = %(scope_company)s)
               -- Published: only where a sales channel subscribes to A (as _sla_start).
               AND (NOT %(published)s OR EXISTS (
                    SELECT FROM logistics_subscription sub
                      JOIN logistics_event_type_logistics_subscription_rel r
                        ON r.logistics_subscription_id = sub.id
                      JOIN logistics_backend c ON c.id = sub.backend_id
                     WHERE r.logistics_event_type_id = %(a)s AND sub.active
                       AND c.kind = 'channel' AND c.active AND c.company_id = s.company_id))
            """,
            q,
        )
        if policy.kind == "promised":
            cr.execute(
                """
                UPDATE gen_sla SET started_at = a_at, due_at = promised_date,
                       at_risk_at = a_at + GREATEST(promised_date - a_at, interval '0')
                                           * %(ratio)s;
                DELETE FROM gen_sla WHERE due_at IS NULL;
                """,
                q,
            )
        elif policy.kind == "silence":
            # The clock restarts on each of the carrier's events until B: it runs from the
            # last one before B (or the last one so far).
            cr.execute(
                """
                UPDATE gen_sla g SET started_at = COALESCE(
                       (SELECT max(e.occurred_at) FROM logistics_event e
                         WHERE e.shipment_id = g.shipment_id
                           AND e.backend_id = g.carrier_backend_id
                           AND e.occurred_at >= g.a_at
                           AND e.occurred_at < COALESCE(g.b_at, 'infinity')), g.a_at);
                UPDATE gen_sla SET due_at = started_at + interval '1 minute' * %(minutes)s,
                       at_risk_at = started_at + interval '1 minute' * %(minutes)s * %(ratio)s;
                """,
                q,
            )
        elif policy.calendar_id:
            cr.execute("SELECT DISTINCT a_at FROM gen_sla")
            starts = [at for (at,) in cr.fetchall()]
            times = policy._due_times(starts)  # the working calendar, read once
            cr.execute("CREATE TEMP TABLE gen_due (a_at timestamp, due timestamp, risk timestamp)")
            execute_values(
                cr._obj,
                "INSERT INTO gen_due VALUES %s",
                [(start, due, risk) for start, (due, risk) in times.items()],
                page_size=5000,
            )
            cr.execute(
                """
                UPDATE gen_sla g SET started_at = g.a_at, due_at = d.due, at_risk_at = d.risk
                  FROM gen_due d WHERE d.a_at = g.a_at;
                DROP TABLE gen_due;
                """
            )
        else:
            cr.execute(
                """
                UPDATE gen_sla SET started_at = a_at,
                       due_at = a_at + interval '1 minute' * %(minutes)s,
                       at_risk_at = a_at + interval '1 minute' * %(minutes)s * %(ratio)s
                """,
                q,
            )
        cr.execute(
            """
            INSERT INTO logistics_shipment_sla
                   (shipment_id, policy_id, company_id, started_at, at_risk_at, due_at, met_at,
                    state, breached_at, create_uid, create_date, write_uid, write_date)
            SELECT shipment_id, %(policy)s, company_id, started_at, at_risk_at, due_at, b_at,
                   CASE WHEN b_at IS NOT NULL THEN 'met'
                        WHEN due_at <= %(eval)s THEN 'breached'
                        WHEN at_risk_at <= %(eval)s THEN 'at_risk'
                        ELSE 'on_time' END,
                   CASE WHEN b_at > due_at OR (b_at IS NULL AND due_at <= %(eval)s)
                        THEN due_at END,
                   %(uid)s, a_at, %(uid)s, COALESCE(b_at, LEAST(due_at, %(eval)s), a_at)
              FROM gen_sla
             WHERE due_at IS NOT NULL
            """,
            q,
        )
        total += cr.rowcount
        cr.execute("DROP TABLE gen_sla")
    return total


def _sla_cards(env, p):
    """The breaches' grouped cards: per policy, company and backend held to account, one open
    card for the rows still breached and one closed (auto-resolved) card per week for the rows
    met late; each breach one occurrence. :return: the number of cards written"""
    cr = env.cr
    total = 0
    policies = env["logistics.sla.policy"].sudo().search([("active", "=", True)])
    backends = env["logistics.backend"].sudo().search([])
    resolved = env.ref("logistics_integration_base.exception_stage_resolved").id
    in_progress = env.ref("logistics_integration_base.exception_stage_in_progress").id
    for policy in policies:
        titles = {str(b.id): policy._breach_title(b) for b in backends}
        titles["0"] = policy._breach_title(policy.backend_id)
        exception_type = policy.exception_type_id
        q = dict(
            p,
            policy=policy.id,
            policy_backend=policy.backend_id.id or None,
            kind=policy._expected_owner_kind() or "",
            titles=Json(titles),
            type=exception_type.id,
            type_code=exception_type.code,
            severity=exception_type.severity,
            rank=SEVERITY_RANK.get(exception_type.severity, 0),
            team=exception_type.team_id.id or None,
            hours=exception_type.resolution_hours or 0,
            cause=f"sla:{policy.code}",
            description=policy._breach_description(),
            resolved=resolved,
            in_progress=in_progress,
        )
        cr.execute(
            """
            CREATE TEMP TABLE gen_breach ON COMMIT DROP AS
            SELECT r.id, r.shipment_id, r.company_id, r.due_at, r.met_at, r.state,
                   COALESCE(CASE %(kind)s WHEN 'wms' THEN s.wms_backend_id
                                          WHEN 'carrier' THEN s.carrier_backend_id END,
                            %(policy_backend)s::int) AS backend_id,
                   CASE WHEN r.state = 'breached' THEN NULL
                        ELSE date_trunc('week', r.due_at) END AS week,
                   s.name AS shipment_name
              FROM logistics_shipment_sla r JOIN logistics_shipment s ON s.id = r.shipment_id
             WHERE r.policy_id = %(policy)s AND r.breached_at IS NOT NULL
               AND r.shipment_id BETWEEN %(first)s AND %(last)s;
            CREATE TEMP TABLE gen_card ON COMMIT DROP AS
            SELECT company_id, backend_id, week, count(*) AS n, min(due_at) AS first_at,
                   max(due_at) AS last_at, max(met_at) AS closed_at, NULL::int AS id,
                   concat_ws('|', %(type_code)s, company_id, COALESCE(backend_id::text, ''),
                             %(cause)s || CASE WHEN week IS NULL THEN ''
                                               ELSE '@' || week::date END) AS key
              FROM gen_breach GROUP BY company_id, backend_id, week;
            -- The open card of a breach already raised (by the cron) counts the new ones.
            UPDATE gen_card c SET id = x.id FROM logistics_exception x
             WHERE c.week IS NULL AND x.grouping_key = c.key AND x.is_closed IS NOT TRUE;
            UPDATE logistics_exception x
               SET occurrence_count = x.occurrence_count + c.n,
                   affected_shipment_count = x.affected_shipment_count + c.n,
                   last_seen_at = GREATEST(x.last_seen_at, c.last_at)
              FROM gen_card c WHERE x.id = c.id;
            WITH ins AS (
                INSERT INTO logistics_exception
                       (name, type_id, type_code, severity, priority_rank, team_id, stage_id,
                        is_closed, user_id, backend_id, company_id, grouping_key, description,
                        occurrence_count, affected_shipment_count, first_seen_at, last_seen_at,
                        deadline, resolved_at, auto_resolved, resolution_note,
                        create_uid, create_date, write_uid, write_date)
                SELECT %(titles)s::jsonb ->> COALESCE(backend_id, 0)::text, %(type)s,
                       %(type_code)s, %(severity)s, %(rank)s, %(team)s,
                       CASE WHEN week IS NULL THEN %(in_progress)s ELSE %(resolved)s END,
                       week IS NOT NULL,
                       CASE WHEN week IS NULL THEN (%(users)s::int[])[1] END,
                       backend_id, company_id, key, %(description)s, n, n, first_at, last_at,
                       first_at + interval '1 hour' * NULLIF(%(hours)s, 0),
                       CASE WHEN week IS NOT NULL THEN closed_at END, week IS NOT NULL,
                       CASE WHEN week IS NOT NULL
                            THEN 'Every late shipment reached its milestone.' END,
                       %(uid)s, first_at, %(uid)s, COALESCE(closed_at, last_at)
                  FROM gen_card WHERE id IS NULL
             RETURNING id, grouping_key
            )
            UPDATE gen_card c SET id = ins.id FROM ins WHERE ins.grouping_key = c.key;
            INSERT INTO logistics_exception_occurrence
                   (exception_id, occurred_at, shipment_id, description, company_id,
                    create_uid, create_date, write_uid, write_date)
            SELECT c.id, b.due_at, b.shipment_id, b.shipment_name || ': due ' || b.due_at,
                   b.company_id, %(uid)s, b.due_at, %(uid)s, b.due_at
              FROM gen_breach b JOIN gen_card c
                ON c.company_id = b.company_id
               AND c.backend_id IS NOT DISTINCT FROM b.backend_id
               AND c.week IS NOT DISTINCT FROM b.week;
            UPDATE logistics_shipment_sla r SET exception_id = c.id
              FROM gen_breach b JOIN gen_card c
                ON c.company_id = b.company_id
               AND c.backend_id IS NOT DISTINCT FROM b.backend_id
               AND c.week IS NOT DISTINCT FROM b.week
             WHERE r.id = b.id;
            """,
            q,
        )
        cr.execute("SELECT count(*) FROM gen_card")
        total += cr.fetchone()[0]
        cr.execute("DROP TABLE gen_breach; DROP TABLE gen_card")
    return total


def _exceptions(env, p, count):
    """``count`` exceptions of the other catalogue types on random shipments: most closed
    (resolved or dismissed, by a person or by Odoo), the open ones mostly recent, some
    assigned, a quarter grouped by root cause with several occurrences, a few snoozed.
    :return: the number of exceptions written"""
    if count <= 0:
        return 0
    cr = env.cr
    types = (
        env["logistics.exception.type"]
        .sudo()
        .search([("code", "in", list(RANDOM_EXCEPTION_KINDS))])
    )
    stage = {
        name: env.ref(f"logistics_integration_base.exception_stage_{name}").id
        for name in ("new", "in_progress", "waiting", "resolved", "dismissed")
    }
    q = dict(
        p,
        count=count,
        type_ids=types.ids,
        kinds=Json({str(t.id): RANDOM_EXCEPTION_KINDS[t.code] for t in types}),
        ranks=Json(SEVERITY_RANK),
        backends=p["wms"] + p["carriers"] + [p["channel"]],
        **{f"stage_{name}": stage_id for name, stage_id in stage.items()},
    )
    cr.execute(
        """
        CREATE TEMP TABLE gen_exc ON COMMIT DROP AS
        WITH x AS (
            SELECT g, random() AS r_open, random() AS r_stage, random() AS r_user,
                   random() AS r_group, random() AS r_occ, random() AS r_at,
                   pg_temp.pick(%(type_ids)s, random())
                       AS type_id,
                   1 + floor(random() * %(n)s)::int AS n,
                   pg_temp.pick(%(backends)s, random())
                       AS any_backend
              FROM generate_series(1, %(count)s) g
        ), y AS (
            SELECT x.*, t.code, t.severity, t.team_id, t.resolution_hours,
                   COALESCE(t.partner_level, false) AS partner_level,
                   t.name ->> 'en_US' AS type_name, p.id AS shipment_id, p.correlation_id,
                   p.warehouse_id, p.carrier_id, p.team_id AS channel_id,
                   CASE %(kinds)s::jsonb ->> x.type_id::text
                        WHEN 'wms' THEN p.wms_id WHEN 'carrier' THEN p.carrier_id
                        WHEN 'channel' THEN %(channel)s ELSE x.any_backend END AS backend_id,
                   LEAST(%(end)s, p.t0 + interval '1 hour' * (1 + r_at * 48)) AS created,
                   CASE WHEN r_group < 0.25 THEN 2 + floor(r_occ * r_occ * 40)::int ELSE 1 END
                       AS occurrences
              FROM x JOIN logistics_exception_type t ON t.id = x.type_id
              JOIN gen_plan p ON p.n = x.n
        )
        SELECT y.*, NULL::int AS exception_id,
               (r_open < 0.6 AND created > %(end)s - interval '7 days') OR r_open < 0.02
                   AS is_open,
               created + interval '1 minute' * occurrences * (5 + r_occ * 120) AS last_seen
          FROM y;
        """,
        q,
    )
    cr.execute(
        """
        WITH ins AS (
            INSERT INTO logistics_exception
                   (name, type_id, type_code, severity, priority_rank, team_id, stage_id,
                    is_closed, user_id, shipment_id, backend_id, company_id, grouping_key,
                    description, occurrence_count, affected_shipment_count, first_seen_at,
                    last_seen_at, deadline, snoozed_until, resolved_at, resolved_by_id,
                    auto_resolved, resolution_note, warehouse_id, carrier_backend_id,
                    sales_team_id, source_event_id, create_uid, create_date, write_uid,
                    write_date)
            SELECT type_name || ': ' || %(prefix)s || lpad(n::text, 6, '0'), type_id, code,
                   severity, (%(ranks)s::jsonb ->> severity)::int, team_id,
                   CASE WHEN is_open THEN CASE WHEN r_stage < 0.5 THEN %(stage_new)s
                                               WHEN r_stage < 0.85 THEN %(stage_in_progress)s
                                               ELSE %(stage_waiting)s END
                        WHEN r_stage < 0.85 THEN %(stage_resolved)s
                        ELSE %(stage_dismissed)s END,
                   NOT is_open,
                   CASE WHEN NOT is_open OR r_stage >= 0.5 OR r_user < 0.3
                        THEN pg_temp.pick(%(users)s, r_user)
                   END,
                   CASE WHEN partner_level THEN NULL ELSE shipment_id END, backend_id,
                   %(company)s,
                   CASE WHEN occurrences > 1 THEN concat_ws('|', code, %(company)s,
                        COALESCE(backend_id::text, ''), %(prefix)s || 'cause-' || g) END,
                   'Generated history: ' || type_name || '.', occurrences,
                   CASE WHEN partner_level THEN occurrences
                        ELSE GREATEST(1, (occurrences * r_occ)::int) END,
                   created, last_seen,
                   created + interval '1 hour' * NULLIF(resolution_hours, 0),
                   CASE WHEN is_open AND r_user > 0.97 THEN %(end)s + interval '1 day' END,
                   CASE WHEN NOT is_open THEN last_seen + interval '1 hour' * (1 + r_user * 30) END,
                   CASE WHEN NOT is_open AND r_user >= 0.4
                        THEN pg_temp.pick(%(users)s, r_user)
                   END,
                   NOT is_open AND r_user < 0.4,
                   CASE WHEN NOT is_open THEN CASE WHEN r_user < 0.4
                        THEN 'Cleared by a later event.' ELSE 'Fixed with the partner.' END END,
                   CASE WHEN NOT partner_level THEN warehouse_id END,
                   CASE WHEN NOT partner_level THEN carrier_id END,
                   CASE WHEN NOT partner_level THEN channel_id END,
                   %(prefix)s || 'x-' || g,
                   %(uid)s, created, %(uid)s, last_seen
              FROM gen_exc
             ORDER BY g
         RETURNING id, source_event_id
        )
        UPDATE gen_exc x SET exception_id = ins.id
          FROM ins WHERE ins.source_event_id = %(prefix)s || 'x-' || x.g
        """,
        q,
    )
    # Planned on the table's real size: with the statistics of an empty table, each foreign
    # key check of the occurrences below scanned the 20,000 exceptions (minutes, not seconds).
    analyze(env, ("logistics_exception",))
    # One occurrence per sighting, the first on the
    # card's shipment, the others on shipments of the same period.
    cr.execute(
        """
        INSERT INTO logistics_exception_occurrence
               (exception_id, occurred_at, shipment_id, description, company_id,
                create_uid, create_date, write_uid, write_date)
        SELECT x.exception_id, x.created + (x.last_seen - x.created) * (k - 1) / x.occurrences,
               CASE WHEN k = 1 AND NOT x.partner_level THEN x.shipment_id
                    ELSE LEAST(%(last)s, x.shipment_id + k) END,
               x.type_name || ' (' || k || ')', %(company)s,
               %(uid)s, x.created, %(uid)s, x.created
          FROM gen_exc x CROSS JOIN LATERAL generate_series(1, x.occurrences) k
        """,
        q,
    )
    cr.execute("DROP TABLE gen_exc")
    return count


# --- the demo's history (setup/run) ----------------------------------------------------------
DEMO_MARKER = "logistics.demo_history"


def demo_scope(env):
    """The demo's own backends, warehouses, sales channels, customers and users."""
    company = env.ref("base.main_company")
    Backend = env["logistics.backend"].sudo()
    in_company = [("company_id", "in", (company.id, False))]
    backends = {
        kind: Backend.search([("kind", "=", kind), *in_company], order="id").ids
        for kind in ("wms", "carrier", "channel")
    }
    partners = env["res.partner"].search(
        [("customer_rank", ">", 0), *in_company], order="id", limit=50
    ) or env["res.partner"].search([("is_company", "=", True), *in_company], limit=20)
    return Scope(
        company_id=company.id,
        wms_ids=backends["wms"],
        carrier_ids=backends["carrier"],
        channel_backend_id=backends["channel"][0],
        warehouse_ids=env["stock.warehouse"].search([("company_id", "=", company.id)]).ids,
        team_ids=env["crm.team"].search(in_company, order="id", limit=3).ids,
        partner_ids=partners.ids,
        user_ids=env["res.users"].search([("share", "=", False), *in_company], limit=4).ids,
        prefix="HIST/",
    )


def load_demo_history(env, sizes):
    """The demo database's history, once: a marker parameter says it is there. Then the hook
    ``logistics.demo._load_history_extras`` adds what other addons show of it.

    :return: the counts written, or None when the database already has its history
    """
    parameters = env["ir.config_parameter"].sudo()
    if parameters.get_param(DEMO_MARKER):
        return None
    end = datetime.utcnow().replace(microsecond=0)
    counts = generate(env, demo_scope(env), sizes, end=end)
    analyze(env)
    env["logistics.demo"]._load_history_extras(end - timedelta(days=sizes.days), end)
    # The dashboard's charts read rollups that a cron keeps every 5 minutes: fill them now,
    # so that a new user's first look at the dashboard is not empty charts.
    if "logistics.handoff" in env:
        env["logistics.handoff"]._cron_refresh()
    parameters.set_param(DEMO_MARKER, end.isoformat())
    return counts


def main():
    parser = argparse.ArgumentParser(
        description="The demo database's history (setup/run), once per database."
    )
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--shipments", type=int, default=3000)
    parser.add_argument("--days", type=float, default=28)
    args = parser.parse_args()

    from odoo import SUPERUSER_ID, api  # noqa: PLC0415 - after the path is known
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(["-c", args.config, "-d", args.database, "--log-level", "warn"])
    sizes = Sizes(
        shipments=args.shipments,
        events=args.shipments * 10,
        messages=args.shipments * 3,
        exceptions=args.shipments // 5,
        days=args.days,
    )
    started = time.perf_counter()
    with Registry(args.database).cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        counts = load_demo_history(env, sizes)
    if counts is None:
        print(f"[logistics] {args.database} already has its demo history")
    else:
        print(
            f"[logistics] demo history in {args.database}: {counts['shipments']} shipments, "
            f"{counts['events']} events, {counts['messages']} messages, {counts['sla_rows']} "
            f"SLA rows, {counts['exceptions']} exceptions over {args.days:g} days "
            f"({time.perf_counter() - started:.1f} s)"
        )


if __name__ == "__main__":
    main()
