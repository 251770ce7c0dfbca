from dataclasses import dataclass
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL


@dataclass(frozen=True)
class Metric:
    """One number the suite measures, defined once (DESIGN §5): the dashboard's tiles and
    charts, the alert rules and ``/logistics/metrics`` all read it through
    ``logistics.metric.measure``.

    ``code`` names it (Prometheus: ``logistics_<code>``, hence base units in the code:
    ``_seconds``, ``_ratio``); ``labels`` are its low-cardinality label names (backend, kind,
    channel, state, severity, type, policy, carrier, warehouse); ``windowed`` metrics count
    what happened between ``since`` and ``until`` (events, breaches…), the others are the state
    now (open exceptions, queue depth…). Its SQL lives in the registry's method
    ``_metric_<code>``.
    """

    code: str
    name: str
    help: str
    labels: tuple = ()
    unit: str = ""
    windowed: bool = False


# The SLA policies (codes, shipped as data by the base and the connectors) behind the tiles, and
# the states counted. Open: the milestone has not come yet.
OPEN_SLA_STATES = ("on_time", "at_risk", "breached")
TILE_SLA_POLICIES = {
    "released_not_acknowledged": (("wms_acknowledgement",), OPEN_SLA_STATES),
    "pending_confirmation": (("channel_dispatch_confirmed",), OPEN_SLA_STATES),
    "missing_tracking": (("carrier_first_scan", "carrier_tracking_silence"), ("breached",)),
    "delayed_dispatch": (("wms_dispatch",), ("breached",)),
}
# Percentiles of the latency metrics, as their "quantile" label reads.
QUANTILES = (0.5, 0.95, 0.99)
# Format of the "hour" label of the trends: ISO 8601, UTC.
HOUR_FORMAT = 'YYYY-MM-DD"T"HH24:00:00"Z"'

# Scope keys a caller may pass to ``measure``; each metric applies those that make sense for it.
SCOPE_KEYS = ("company_ids", "backend_ids", "carrier_backend_ids", "warehouse_ids", "channel_ids")
# Scope keys only a shipment answers (an exception or an event through its shipment).
SHIPMENT_SCOPE_KEYS = ("carrier_backend_ids", "warehouse_ids", "channel_ids")


class LogisticsMetric(models.AbstractModel):
    """The registry of named, documented SQL aggregates (DESIGN §5, "metrics are defined once").

    A metric is a ``Metric`` in ``_metric_definitions`` and a method ``_metric_<code>(scope,
    since, until)`` that returns an ``SQL`` query selecting its labels (in the order of
    ``Metric.labels``) then its value. Numbers come from SQL aggregates, never from looping
    over records in Python (DESIGN §8).
    """

    _name = "logistics.metric"
    _description = "Logistics Metric Registry"

    @api.model
    def _metric_definitions(self):
        """``{code: Metric}``: every metric of the suite, in display order."""
        metrics = [
            Metric(
                "dead_letters",
                "Dead letters",
                "Messages that exhausted their retries or failed permanently, waiting for a "
                "person (state dead), by backend.",
                labels=("backend",),
            ),
            Metric(
                "open_exceptions",
                "Open exceptions",
                "Exceptions on the board not closed, by severity and type.",
                labels=("severity", "type"),
            ),
            Metric(
                "sla_at_risk",
                "SLAs at risk",
                "Shipments past the at-risk time of an SLA policy and not yet due, by policy.",
                labels=("policy",),
            ),
            Metric(
                "sla_breached",
                "SLAs breached",
                "Shipments past the due time of an SLA policy whose milestone has not come, "
                "by policy.",
                labels=("policy",),
            ),
            Metric(
                "queue_depth",
                "Queue depth",
                "queue_job jobs waiting to run (pending, enqueued, or waiting for a "
                "dependency), by channel.",
                labels=("channel",),
            ),
            Metric(
                "queue_oldest_pending_age_seconds",
                "Oldest pending job",
                "Age in seconds of the oldest job waiting to run, by channel.",
                labels=("channel",),
                unit="seconds",
            ),
            Metric(
                "orders_awaiting_release",
                "Orders awaiting release",
                "Outgoing shipments with no milestone yet (not released to the warehouse, not "
                "cancelled), by warehouse.",
                labels=("warehouse",),
            ),
            Metric(
                "released_not_acknowledged",
                "Released, not acknowledged",
                "Shipments released to the WMS whose acknowledgement has not come (open rows "
                "of the wms_acknowledgement SLA policy), by SLA state.",
                labels=("state",),
            ),
            Metric(
                "pending_confirmation",
                "Pending channel confirmation",
                "Shipped shipments the sales channel has not confirmed yet (open rows of the "
                "channel_dispatch_confirmed SLA policy), by SLA state.",
                labels=("state",),
            ),
            Metric(
                "missing_tracking",
                "Missing tracking",
                "Shipments with no carrier scan in time: breached rows of the "
                "carrier_first_scan and carrier_tracking_silence SLA policies, by policy.",
                labels=("policy",),
            ),
            Metric(
                "delayed_dispatch",
                "Delayed dispatch",
                "Shipments the warehouse has not shipped in time: breached rows of the "
                "wms_dispatch SLA policy, by policy.",
                labels=("policy",),
            ),
            Metric(
                "handoff_latency_seconds",
                "Hand-off latency",
                "Seconds between consecutive main milestones of a shipment (the hand-off "
                "rollup, by the later milestone's time): p50, p95 and p99 per hand-off "
                "(from>to event type codes).",
                labels=("handoff", "quantile"),
                unit="seconds",
                windowed=True,
            ),
            Metric(
                "handoff_latency_by_backend_seconds",
                "Hand-off latency by backend",
                "As handoff_latency_seconds, per backend that reported the later milestone.",
                labels=("backend", "quantile"),
                unit="seconds",
                windowed=True,
            ),
            Metric(
                "sla_breach_ratio_by_carrier",
                "SLA breach rate by carrier",
                "Share of SLA rows due in the window (and already due) whose milestone came "
                "after the due time or not at all, by carrier backend.",
                labels=("carrier",),
                unit="ratio",
                windowed=True,
            ),
            Metric(
                "sla_breach_ratio_by_warehouse",
                "SLA breach rate by warehouse",
                "As sla_breach_ratio_by_carrier, by warehouse.",
                labels=("warehouse",),
                unit="ratio",
                windowed=True,
            ),
            Metric(
                "sla_breach_ratio_by_channel",
                "SLA breach rate by channel",
                "As sla_breach_ratio_by_carrier, by sales channel.",
                labels=("channel",),
                unit="ratio",
                windowed=True,
            ),
            Metric(
                "events_hourly",
                "Events per hour",
                "Events recorded per hour (the trend; hour = ISO start of the hour, UTC).",
                labels=("hour",),
                windowed=True,
            ),
            Metric(
                "exceptions_hourly",
                "Exceptions per hour",
                "Exceptions opened per hour (first seen; hour = ISO start of the hour, UTC).",
                labels=("hour",),
                windowed=True,
            ),
            Metric(
                "backend_success_ratio",
                "Success rate per backend",
                "Share of the messages that ended in the window (done or dead) that are done, "
                "by backend.",
                labels=("backend",),
                unit="ratio",
                windowed=True,
            ),
            Metric(
                "milestone_completeness_ratio",
                "Milestone completeness",
                "Share of shipments delivered in the window (with an earlier milestone) that "
                "went through every main milestone (one per rank of the main progression), "
                "by carrier backend.",
                labels=("carrier",),
                unit="ratio",
                windowed=True,
            ),
        ]
        return {metric.code: metric for metric in metrics}

    @api.model
    def measure(self, code, scope=None, since=None, until=None):
        """The value of metric ``code`` now, or over a window, per label set.

        :param str code: a metric code of ``_metric_definitions``
        :param dict scope: optional filters: ``company_ids``, ``backend_ids``,
            ``carrier_backend_ids``, ``warehouse_ids``, ``channel_ids`` (lists of ids); companies
            default to the user's allowed companies (raw SQL bypasses record rules: the
            registry filters by company itself)
        :param since: start of the window of a windowed metric (Odoo Datetime string or
            naive UTC datetime); default: 24 hours before ``until``
        :param until: end of the window; default: now
        :return: ``[{"labels": {name: str}, "value": float}]``, XML-RPC-safe
        :raises UserError: an unknown metric code or scope key
        """
        metric = self._metric_definitions().get(code)
        if not metric:
            raise UserError(self.env._("Unknown metric %(code)s.", code=code))
        scope = self._metric_scope(scope)
        until = fields.Datetime.to_datetime(until) or fields.Datetime.now()
        since = fields.Datetime.to_datetime(since) or until - timedelta(days=1)
        return self._measure(metric, scope, since, until)

    @api.model
    def _measure(self, metric, scope, since, until):
        """``measure`` for a ``Metric``, a scope already checked by ``_metric_scope`` and
        naive UTC datetimes."""
        query = getattr(self, f"_metric_{metric.code}")(scope, since, until)
        self.env.cr.execute(query)
        return [
            {
                "labels": {
                    name: "" if value is None else str(value)
                    for name, value in zip(metric.labels, row[:-1], strict=True)
                },
                "value": float(row[-1] or 0.0),
            }
            for row in self.env.cr.fetchall()
        ]

    @api.model
    def _metric_scope(self, scope):
        scope = dict(scope or {})
        unknown = set(scope) - set(SCOPE_KEYS)
        if unknown:
            raise UserError(
                self.env._("Unknown metric scope: %(keys)s.", keys=", ".join(sorted(unknown)))
            )
        allowed = self.env.companies.ids if not self.env.su else None
        companies = scope.get("company_ids") or allowed
        if allowed is not None:
            companies = [c for c in companies if c in allowed]
        # Every company of the database: no filter, and no join to find an event's company.
        if companies is not None and len(set(companies)) >= self.env[
            "res.company"
        ].sudo().with_context(active_test=False).search_count([]):
            companies = None
        scope["company_ids"] = companies
        return scope

    @staticmethod
    def _scope_filter(scope, key, column):
        """``column = ANY(ids)`` when the scope restricts ``key``, else TRUE."""
        ids = scope.get(key)
        if ids is None:
            return SQL("TRUE")
        return SQL("%s = ANY(%s)", column, list(ids))

    # --- metric queries -----------------------------------------------------------------------
    def _metric_dead_letters(self, scope, since, until):
        return SQL(
            """
            SELECT b.code, count(*)
              FROM logistics_message m
              JOIN logistics_backend b ON b.id = m.backend_id
             WHERE m.state = 'dead' AND %s AND %s
          GROUP BY b.code ORDER BY b.code
            """,
            self._scope_filter(scope, "company_ids", SQL("m.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("m.backend_id")),
        )

    def _metric_open_exceptions(self, scope, since, until):
        return SQL(
            """
            SELECT x.severity, t.code, count(*)
              FROM logistics_exception x
              JOIN logistics_exception_type t ON t.id = x.type_id
             WHERE x.is_closed IS NOT TRUE AND %s AND %s AND %s
          GROUP BY x.severity, t.code ORDER BY x.severity, t.code
            """,
            self._scope_filter(scope, "company_ids", SQL("x.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("x.backend_id")),
            self._exception_shipment_filter(scope),
        )

    def _exception_shipment_filter(self, scope):
        """Warehouse, channel and carrier scopes of an exception: its shipment's (an exception
        without a shipment is outside such a scope)."""
        if not any(scope.get(key) is not None for key in SHIPMENT_SCOPE_KEYS):
            return SQL("TRUE")
        shipment_scope = {key: scope.get(key) for key in SHIPMENT_SCOPE_KEYS}
        return SQL(
            "EXISTS (SELECT 1 FROM logistics_shipment s WHERE s.id = x.shipment_id AND %s)",
            self._shipment_filter(shipment_scope, "s"),
        )

    def _shipment_filter(self, scope, alias):
        """The scope's shipment filters (company, warehouse, channel, carrier; a backend is
        the shipment's WMS or carrier backend) on the shipment table aliased ``alias``."""
        shipment = SQL.identifier(alias)
        backend_ids = scope.get("backend_ids")
        return SQL(
            "%s AND %s AND %s AND %s AND %s",
            self._scope_filter(scope, "company_ids", SQL("%s.company_id", shipment)),
            self._scope_filter(scope, "warehouse_ids", SQL("%s.warehouse_id", shipment)),
            self._scope_filter(scope, "channel_ids", SQL("%s.channel_id", shipment)),
            self._scope_filter(
                scope, "carrier_backend_ids", SQL("%s.carrier_backend_id", shipment)
            ),
            SQL("TRUE")
            if backend_ids is None
            else SQL(
                "(%s.wms_backend_id = ANY(%s) OR %s.carrier_backend_id = ANY(%s))",
                shipment,
                list(backend_ids),
                shipment,
                list(backend_ids),
            ),
        )

    def _sla_rows(self, scope, label, policies=None, states=None):
        """SLA rows (one per shipment and policy) counted by ``label`` (an SQL expression over
        ``p`` the policy and ``r`` the row), of these policy codes and states."""
        return SQL(
            """
            SELECT %s, count(*)
              FROM logistics_shipment_sla r
              JOIN logistics_sla_policy p ON p.id = r.policy_id
              JOIN logistics_shipment s ON s.id = r.shipment_id
             WHERE %s AND %s AND %s
          GROUP BY 1 ORDER BY 1
            """,
            label,
            SQL("TRUE") if policies is None else SQL("p.code = ANY(%s)", list(policies)),
            SQL("TRUE") if states is None else SQL("r.state = ANY(%s)", list(states)),
            self._shipment_filter(scope, "s"),
        )

    def _sla_count(self, scope, state):
        return self._sla_rows(scope, SQL("p.code"), states=[state])

    def _metric_sla_at_risk(self, scope, since, until):
        return self._sla_count(scope, "at_risk")

    def _metric_sla_breached(self, scope, since, until):
        return self._sla_count(scope, "breached")

    def _waiting_jobs(self, scope, aggregate):
        # queue_job's company_id is the company of the user who enqueued the job.
        return SQL(
            """
            SELECT channel, %s
              FROM queue_job
             WHERE state IN ('pending', 'enqueued', 'wait_dependencies') AND %s
          GROUP BY channel ORDER BY channel
            """,
            aggregate,
            self._scope_filter(scope, "company_ids", SQL("company_id")),
        )

    def _metric_queue_depth(self, scope, since, until):
        return self._waiting_jobs(scope, SQL("count(*)"))

    def _metric_queue_oldest_pending_age_seconds(self, scope, since, until):
        return self._waiting_jobs(
            scope,
            SQL(
                "EXTRACT(EPOCH FROM (%s - min(date_created)))",
                until,
            ),
        )

    # --- tiles: shipments waiting for a partner ---------------------------------------------
    def _metric_orders_awaiting_release(self, scope, since, until):
        return SQL(
            """
            SELECT COALESCE(w.code, ''), count(*)
              FROM logistics_shipment s
         LEFT JOIN stock_warehouse w ON w.id = s.warehouse_id
             WHERE s.status_id IS NULL AND s.direction = 'outgoing' AND %s
          GROUP BY 1 ORDER BY 1
            """,
            self._shipment_filter(scope, "s"),
        )

    def _tile_sla_rows(self, scope, tile, label):
        policies, states = TILE_SLA_POLICIES[tile]
        return self._sla_rows(scope, label, policies=policies, states=states)

    def _metric_released_not_acknowledged(self, scope, since, until):
        return self._tile_sla_rows(scope, "released_not_acknowledged", SQL("r.state"))

    def _metric_pending_confirmation(self, scope, since, until):
        return self._tile_sla_rows(scope, "pending_confirmation", SQL("r.state"))

    def _metric_missing_tracking(self, scope, since, until):
        return self._tile_sla_rows(scope, "missing_tracking", SQL("p.code"))

    def _metric_delayed_dispatch(self, scope, since, until):
        return self._tile_sla_rows(scope, "delayed_dispatch", SQL("p.code"))

    # --- hand-off latency (the rollup logistics.handoff) ------------------------------------
    def _handoff_percentiles(self, scope, since, until, label):
        # percentile_cont over an array gives the three quantiles in one sort per group.
        return SQL(
            """
            SELECT g.label, q.quantile::text, q.value
              FROM (SELECT %s AS label,
                           percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY h.seconds) AS p
                      FROM logistics_handoff h
                 LEFT JOIN logistics_backend b ON b.id = h.backend_id
                     WHERE h.to_at >= %s AND h.to_at < %s AND %s
                  GROUP BY 1) g,
                   unnest(%s::float8[], g.p) AS q(quantile, value)
          ORDER BY 1, 2
            """,
            label,
            list(QUANTILES),
            since,
            until,
            self._shipment_filter(scope, "h"),
            list(QUANTILES),
        )

    def _metric_handoff_latency_seconds(self, scope, since, until):
        return self._handoff_percentiles(scope, since, until, SQL("h.handoff"))

    def _metric_handoff_latency_by_backend_seconds(self, scope, since, until):
        return self._handoff_percentiles(scope, since, until, SQL("COALESCE(b.code, '')"))

    def _metric_milestone_completeness_ratio(self, scope, since, until):
        # The rollup's row ending at the last main milestone (delivered) counts the milestones
        # the shipment reached up to it (``step``): complete when it reached every rank.
        return SQL(
            """
            WITH main AS (
                SELECT max(t.rank) AS last_rank, count(DISTINCT t.rank) AS ranks
                  FROM logistics_event_type t
                 WHERE t.category = 'execution' AND t.rank > 0
            )
            SELECT COALESCE(c.code, ''), avg((h.step = main.ranks)::int)
              FROM logistics_handoff h
              CROSS JOIN main
         LEFT JOIN logistics_backend c ON c.id = h.carrier_backend_id
             WHERE h.to_rank = main.last_rank AND h.to_at >= %s AND h.to_at < %s AND %s
          GROUP BY 1 ORDER BY 1
            """,
            since,
            until,
            self._shipment_filter(scope, "h"),
        )

    # --- SLA breach rates -------------------------------------------------------------------
    def _sla_breach_ratio(self, scope, since, until, label, join):
        # Rows due in the window and already due: decided. Late if the milestone came after
        # the due time, or has not come; the evaluator's breached_at says so too (it keeps
        # the breach of a silence whose due time moved on).
        now = fields.Datetime.now()
        return SQL(
            """
            SELECT %s, avg((r.breached_at IS NOT NULL OR COALESCE(r.met_at, %s) > r.due_at)::int)
              FROM logistics_shipment_sla r
              JOIN logistics_shipment s ON s.id = r.shipment_id
              %s
             WHERE r.due_at >= %s AND r.due_at < %s AND %s
          GROUP BY 1 ORDER BY 1
            """,
            label,
            now,
            join,
            since,
            min(until, now),
            self._shipment_filter(scope, "s"),
        )

    def _metric_sla_breach_ratio_by_carrier(self, scope, since, until):
        return self._sla_breach_ratio(
            scope,
            since,
            until,
            SQL("COALESCE(c.code, '')"),
            SQL("LEFT JOIN logistics_backend c ON c.id = s.carrier_backend_id"),
        )

    def _metric_sla_breach_ratio_by_warehouse(self, scope, since, until):
        return self._sla_breach_ratio(
            scope,
            since,
            until,
            SQL("COALESCE(w.code, '')"),
            SQL("LEFT JOIN stock_warehouse w ON w.id = s.warehouse_id"),
        )

    def _metric_sla_breach_ratio_by_channel(self, scope, since, until):
        return self._sla_breach_ratio(
            scope,
            since,
            until,
            SQL("COALESCE(t.name->>'en_US', '')"),
            SQL("LEFT JOIN crm_team t ON t.id = s.channel_id"),
        )

    # --- trends and success rates -----------------------------------------------------------
    def _metric_events_hourly(self, scope, since, until):
        # An event's company, warehouse, channel and carrier are its shipment's: joined only
        # when the scope restricts one of them.
        shipment_scoped = any(
            scope.get(key) is not None for key in (*SHIPMENT_SCOPE_KEYS, "company_ids")
        )
        return SQL(
            """
            SELECT to_char(date_trunc('hour', e.recorded_at), %s), count(*)
              FROM logistics_event e
             WHERE e.recorded_at >= %s AND e.recorded_at < %s AND %s AND %s
          GROUP BY 1 ORDER BY 1
            """,
            HOUR_FORMAT,
            since,
            until,
            self._scope_filter(scope, "backend_ids", SQL("e.backend_id")),
            SQL(
                "EXISTS (SELECT 1 FROM logistics_shipment s WHERE s.id = e.shipment_id AND %s)",
                self._shipment_filter(dict(scope, backend_ids=None), "s"),
            )
            if shipment_scoped
            else SQL("TRUE"),
        )

    def _metric_exceptions_hourly(self, scope, since, until):
        return SQL(
            """
            SELECT to_char(date_trunc('hour', x.first_seen_at), %s), count(*)
              FROM logistics_exception x
             WHERE x.first_seen_at >= %s AND x.first_seen_at < %s AND %s AND %s AND %s
          GROUP BY 1 ORDER BY 1
            """,
            HOUR_FORMAT,
            since,
            until,
            self._scope_filter(scope, "company_ids", SQL("x.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("x.backend_id")),
            self._exception_shipment_filter(scope),
        )

    def _metric_backend_success_ratio(self, scope, since, until):
        return SQL(
            """
            SELECT b.code, avg((m.state = 'done')::int)
              FROM logistics_message m
              JOIN logistics_backend b ON b.id = m.backend_id
             WHERE m.state IN ('done', 'dead')
               AND m.state_changed_at >= %s AND m.state_changed_at < %s AND %s AND %s
          GROUP BY 1 ORDER BY 1
            """,
            since,
            until,
            self._scope_filter(scope, "company_ids", SQL("m.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("m.backend_id")),
        )
