from dataclasses import dataclass
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .logistics_handoff_bucket import histogram_percentile


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

    ``type`` is its Prometheus metric type: a ``gauge`` (the default), a ``counter`` (a total
    since the beginning, code ending in ``_total``) or a ``histogram``; alert rules take
    gauges only. ``/logistics/metrics`` exposes every gauge that is not windowed, the
    counters and histograms, and the windowed gauges that give ``scrape_window_minutes``
    (measured over that many minutes before the scrape).
    """

    code: str
    name: str
    help: str
    labels: tuple = ()
    unit: str = ""
    windowed: bool = False
    type: str = "gauge"
    scrape_window_minutes: int = 0


# The SLA policies (codes, shipped as data by the base and the connectors) behind the tiles, and
# the states counted. Open: the milestone has not come yet.
OPEN_SLA_STATES = ("on_time", "at_risk", "breached")
TILE_SLA_POLICIES = {
    "released_not_acknowledged": (("wms_acknowledgement",), OPEN_SLA_STATES),
    "pending_confirmation": (("channel_dispatch_confirmed",), OPEN_SLA_STATES),
    "missing_tracking": (("carrier_first_scan", "carrier_tracking_silence"), ("breached",)),
    "delayed_dispatch": (("wms_dispatch",), ("breached",)),
}
# Metrics measured together by one query (their family method): one scan of a large table
# for several numbers of one load of the dashboard. The method returns ``{code: rows}``.
METRIC_FAMILIES = {
    "released_not_acknowledged": "_family_sla_open",
    "pending_confirmation": "_family_sla_open",
    "missing_tracking": "_family_sla_open",
    "delayed_dispatch": "_family_sla_open",
    "sla_at_risk": "_family_sla_open",
    "sla_breached": "_family_sla_open",
    "handoff_latency_seconds": "_family_handoff_latency",
    "handoff_latency_by_backend_seconds": "_family_handoff_latency",
    "sla_breach_ratio_by_carrier": "_family_sla_breach_ratio",
    "sla_breach_ratio_by_warehouse": "_family_sla_breach_ratio",
    "sla_breach_ratio_by_channel": "_family_sla_breach_ratio",
}
# Above this many hand-offs in a window, its latency percentiles come from the histogram.
EXACT_LATENCY_ROWS = 50000
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
                "Age in seconds of the oldest job due to run (its eta passed, or none) and "
                "not started, by channel; 0 when none is due.",
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
                "Share of SLA rows due on the days of the window (and already due) whose "
                "milestone came after the due time or not at all, by carrier backend. From "
                "the SLA outcomes per day, as of the rollup cron's last run (every 5 minutes).",
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
                "Events recorded per hour (the trend; hour = ISO start of the hour, UTC), "
                "whole hours from the one holding the window's start. From the hourly "
                "rollup: up to the rollup cron's last run (every 5 minutes).",
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
        return {metric.code: metric for metric in (*metrics, *self._alert_rule_metrics)}

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
        :raises AccessError: the user is not a Logistics User, Manager or Auditor
        """
        metric = self._metric_definitions().get(code)
        if not metric:
            raise UserError(self.env._("Unknown metric %(code)s.", code=code))
        scope = self._metric_scope(scope)
        until = fields.Datetime.to_datetime(until) or fields.Datetime.now()
        since = fields.Datetime.to_datetime(since) or until - timedelta(days=1)
        return self._measure(metric, scope, since, until)

    @api.model
    def _measure(self, metric, scope, since, until, families=None):
        """``measure`` for a ``Metric``, a scope already checked by ``_metric_scope`` and
        naive UTC datetimes. A metric of a family (``METRIC_FAMILIES``) comes from its
        family's one query; ``families`` (a dict) keeps those answers for the other metrics of
        the family measured with the same scope and window."""
        family = METRIC_FAMILIES.get(metric.code)
        if family:
            families = {} if families is None else families
            if family not in families:
                families[family] = getattr(self, family)(scope, since, until)
            return families[family].get(metric.code, [])
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
        """The checked scope of ``measure``; the numbers are for those who may read the
        monitoring's rollups (Logistics Users, Managers and Auditors): raw SQL passes by
        Odoo's access rules, so they are checked here.

        :raises AccessError: the user is not of the Logistics groups
        """
        self.env["logistics.handoff"].check_access("read")
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
        # Compared by ids, not by number: ids of no company (a typo in a token's scope, a
        # deleted company) must not widen the scope.
        if companies is not None:
            self.env.cr.execute("SELECT id FROM res_company")
            every = {row[0] for row in self.env.cr.fetchall()}
        if companies is not None and set(companies) >= every:
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

    def _shipment_exists(self, scope, column):
        """The scope's shipment filters as ``EXISTS`` on the shipment ``column`` points to;
        TRUE when the scope restricts no shipment dimension (the company is filtered on the
        row's own company)."""
        shipment_scope = {key: scope.get(key) for key in (*SHIPMENT_SCOPE_KEYS, "backend_ids")}
        if all(value is None for value in shipment_scope.values()):
            return SQL("TRUE")
        return SQL(
            "EXISTS (SELECT 1 FROM logistics_shipment s WHERE s.id = %s AND %s)",
            column,
            self._shipment_filter(shipment_scope, "s"),
        )

    def _family_sla_open(self, scope, since, until):
        """The open SLA rows (milestone not come yet) by policy and state, in one query over
        the rows' partial index; each tile keeps its policies and states (``TILE_SLA_POLICIES``),
        sla_at_risk and sla_breached their state."""
        self.env.cr.execute(
            SQL(
                """
                SELECT p.code, r.state, count(*)
                  FROM logistics_shipment_sla r
                  JOIN logistics_sla_policy p ON p.id = r.policy_id
                 WHERE r.state IN %s AND %s AND %s
              GROUP BY 1, 2 ORDER BY 1, 2
                """,
                OPEN_SLA_STATES,
                self._scope_filter(scope, "company_ids", SQL("r.company_id")),
                self._shipment_exists(scope, SQL("r.shipment_id")),
            )
        )
        open_rows = self.env.cr.fetchall()

        def rows(policies, states, by_state):
            counts = {}
            for policy, state, count in open_rows:
                if policy in policies and state in states:
                    key = state if by_state else policy
                    counts[key] = counts.get(key, 0) + count
            name = "state" if by_state else "policy"
            return [{"labels": {name: key}, "value": float(v)} for key, v in counts.items()]

        every_policy = {policy for policy, _state, _count in open_rows}
        answer = {
            code: rows(
                policies, states, by_state=self._metric_definitions()[code].labels[0] == "state"
            )
            for code, (policies, states) in TILE_SLA_POLICIES.items()
        }
        answer["sla_at_risk"] = rows(every_policy, ("at_risk",), by_state=False)
        answer["sla_breached"] = rows(every_policy, ("breached",), by_state=False)
        return answer

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
        # Of the jobs due to run: a job postponed on purpose (a retry's backoff, an eta) is
        # not late before its eta, which is also when the health check's job_runner counts
        # it. Not below 0: ``until`` is truncated to the second, a job's date_created is not.
        return self._waiting_jobs(
            scope,
            SQL(
                "GREATEST(0, EXTRACT(EPOCH FROM (%(until)s - min(COALESCE(eta, date_created)) "
                "FILTER (WHERE eta IS NULL OR eta <= %(until)s))))",
                until=until,
            ),
        )

    # --- tiles: shipments waiting for a partner ---------------------------------------------
    def _metric_orders_awaiting_release(self, scope, since, until):
        return SQL(
            """
            SELECT COALESCE(w.code, ''), count(*)
              FROM logistics_shipment s
         LEFT JOIN stock_warehouse w ON w.id = s.warehouse_id
             WHERE s.has_milestone IS NOT TRUE AND s.direction = 'outgoing' AND %s
          GROUP BY 1 ORDER BY 1
            """,
            self._shipment_filter(scope, "s"),
        )

    # --- hand-off latency (the rollup logistics.handoff) ------------------------------------
    def _family_handoff_latency(self, scope, since, until):
        """p50 / p95 / p99 of the hand-off latency per hand-off and per reporting backend:
        exact (``_handoff_percentiles_exact``), or from the latency histogram
        (``logistics.handoff.bucket``, within 2.5 %) over whole days when the window holds
        more hand-offs than the system parameter ``logistics_monitoring.latency_exact_rows``
        (50,000 by default) and the scope is only companies."""
        shipment_scoped = any(
            scope.get(key) is not None for key in (*SHIPMENT_SCOPE_KEYS, "backend_ids")
        )
        if not shipment_scoped:
            limit = int(
                self.env["ir.config_parameter"]
                .sudo()
                .get_param("logistics_monitoring.latency_exact_rows", EXACT_LATENCY_ROWS)
            )
            histogram = self._handoff_histogram(scope, since, until)
            if sum(count for *_key, count in histogram) > limit:
                return self._handoff_percentiles_from(histogram)
        return self._handoff_percentiles_exact(scope, since, until)

    def _handoff_histogram(self, scope, since, until):
        """``[(from_type_id, to_type_id, backend_id, bucket, count)]`` of the days of the
        window (the day holding ``since`` to the one holding ``until``)."""
        self.env.cr.execute(
            SQL(
                """
                SELECT from_type_id, to_type_id, backend_id, bucket, sum(count)
                  FROM logistics_handoff_bucket
                 WHERE day >= %s::date AND day <= %s::date AND %s
              GROUP BY 1, 2, 3, 4
                """,
                since,
                until,
                self._scope_filter(scope, "company_ids", SQL("company_id")),
            )
        )
        return self.env.cr.fetchall()

    def _handoff_percentiles_from(self, histogram):
        by_handoff, by_backend = {}, {}
        for from_type, to_type, backend, bucket, count in histogram:
            handoff = by_handoff.setdefault((from_type, to_type), {})
            handoff[bucket] = handoff.get(bucket, 0) + count
            per_backend = by_backend.setdefault(backend, {})
            per_backend[bucket] = per_backend.get(bucket, 0) + count
        result = []
        for (from_type, to_type), buckets in by_handoff.items():
            ordered = sorted(buckets.items())
            for quantile in QUANTILES:
                value = histogram_percentile(ordered, quantile)
                result.append((from_type, to_type, None, str(quantile), value))
        for backend, buckets in by_backend.items():
            ordered = sorted(buckets.items())
            for quantile in QUANTILES:
                value = histogram_percentile(ordered, quantile)
                result.append((None, None, backend, str(quantile), value))
        return self._handoff_latency_rows(result)

    def _handoff_percentiles_exact(self, scope, since, until):
        """The exact percentiles (``percentile_cont``), in one scan of the rollup's window
        (GROUPING SETS) over its covering index."""
        # percentile_cont sorts each group's values: room for the window's sort in memory
        # (30 days of the benchmark's data set: 300,000 rows, 29 MB).
        self.env.cr.execute("SET LOCAL work_mem = '64MB'")
        self.env.cr.execute(
            SQL(
                """
                SELECT g.from_type_id, g.to_type_id, g.backend_id, q.quantile::text, q.value
                  FROM (SELECT h.from_type_id, h.to_type_id, h.backend_id,
                               percentile_cont(%s::float8[])
                                   WITHIN GROUP (ORDER BY h.seconds) AS p
                          FROM logistics_handoff h
                         WHERE h.to_at >= %s AND h.to_at < %s AND %s AND %s
                      GROUP BY GROUPING SETS ((h.from_type_id, h.to_type_id), (h.backend_id))) g,
                       unnest(%s::float8[], g.p) AS q(quantile, value)
                """,
                list(QUANTILES),
                since,
                until,
                self._scope_filter(scope, "company_ids", SQL("h.company_id")),
                # The rollup's own copy of its shipment's dimensions: no join.
                self._shipment_filter(dict(scope, company_ids=None), "h"),
                list(QUANTILES),
            )
        )
        return self._handoff_latency_rows(self.env.cr.fetchall())

    def _handoff_latency_rows(self, result):
        """The latency metrics' rows of ``[(from_type_id, to_type_id, backend_id, quantile,
        seconds)]`` (a hand-off's rows have no backend, a backend's no types)."""
        type_ids = {row[0] for row in result} | {row[1] for row in result}
        codes = {
            t["id"]: t["code"]
            for t in self.env["logistics.event.type"]
            .sudo()
            .search_read([("id", "in", [i for i in type_ids if i])], ["code"])
        }
        backend_ids = [row[2] for row in result if row[2]]
        backends = {
            b["id"]: b["code"]
            for b in self.env["logistics.backend"]
            .sudo()
            .with_context(active_test=False)
            .search_read([("id", "in", backend_ids)], ["code"])
        }
        by_handoff, by_backend = [], []
        for from_type, to_type, backend, quantile, value in result:
            if to_type:
                label = {"handoff": f"{codes[from_type]}>{codes[to_type]}"}
                by_handoff.append({"labels": dict(label, quantile=quantile), "value": value})
            else:
                label = {"backend": backends.get(backend, "")}
                by_backend.append({"labels": dict(label, quantile=quantile), "value": value})
        return {
            "handoff_latency_seconds": by_handoff,
            "handoff_latency_by_backend_seconds": by_backend,
        }

    def _metric_milestone_completeness_ratio(self, scope, since, until):
        # The rollup's row ending at the last main milestone (delivered) counts the milestones
        # the shipment reached up to it (``step``): complete when it reached every rank.
        self.env.cr.execute(
            """
            SELECT max(rank), count(DISTINCT rank)
              FROM logistics_event_type
             WHERE category = 'execution' AND rank > 0
            """
        )
        last_rank, ranks = self.env.cr.fetchone()
        return SQL(
            """
            SELECT COALESCE(c.code, ''), avg((h.step = %s)::int)
              FROM logistics_handoff h
         LEFT JOIN logistics_backend c ON c.id = h.carrier_backend_id
             WHERE h.to_rank = %s AND h.to_at >= %s AND h.to_at < %s AND %s AND %s
          GROUP BY 1 ORDER BY 1
            """,
            ranks or 0,
            last_rank or 0,
            since,
            until,
            self._scope_filter(scope, "company_ids", SQL("h.company_id")),
            self._shipment_filter(dict(scope, company_ids=None), "h"),
        )

    # --- SLA breach rates -------------------------------------------------------------------
    def _family_sla_breach_ratio(self, scope, since, until):
        """The breach rates by carrier, warehouse and channel, in one query (GROUPING SETS)
        over the SLA outcomes per day (``logistics.sla.day``): of the SLA rows due on the days
        of the window (the day holding ``since`` to the one holding ``until``) and already due
        at the rollup's last run, the share late. Late: the milestone came after the due
        time, or has not come; or the evaluator recorded a breach (it keeps the breach of a
        silence whose due time moved on)."""
        self.env.cr.execute(
            SQL(
                """
                SELECT GROUPING(d.carrier_backend_id), GROUPING(d.warehouse_id),
                       d.carrier_backend_id, d.warehouse_id, d.channel_id,
                       sum(d.late)::float / NULLIF(sum(d.decided), 0)
                  FROM logistics_sla_day d
                 WHERE d.day >= %s::date AND d.day <= %s::date AND %s
              GROUP BY GROUPING SETS ((d.carrier_backend_id), (d.warehouse_id), (d.channel_id))
                """,
                since,
                until,
                self._shipment_filter(scope, "d"),
            )
        )
        result = self.env.cr.fetchall()
        sudo = self.env["logistics.backend"].sudo().with_context(active_test=False)
        carriers = {
            b["id"]: b["code"]
            for b in sudo.search_read([("id", "in", [r[2] for r in result if r[2]])], ["code"])
        }
        warehouses = {
            w["id"]: w["code"]
            for w in self.env["stock.warehouse"]
            .sudo()
            .with_context(active_test=False)
            .search_read([("id", "in", [r[3] for r in result if r[3]])], ["code"])
        }
        channels = {
            t.id: t.with_context(lang="en_US").name or ""
            for t in self.env["crm.team"]
            .sudo()
            .with_context(active_test=False)
            .browse([r[4] for r in result if r[4]])
        }
        answer = {
            "sla_breach_ratio_by_carrier": [],
            "sla_breach_ratio_by_warehouse": [],
            "sla_breach_ratio_by_channel": [],
        }
        for carrier_grouped, warehouse_grouped, carrier, warehouse, channel, ratio in result:
            if not carrier_grouped:
                code, label = "carrier", carriers.get(carrier, "")
            elif not warehouse_grouped:
                code, label = "warehouse", warehouses.get(warehouse, "")
            else:
                code, label = "channel", channels.get(channel, "")
            answer[f"sla_breach_ratio_by_{code}"].append(
                {"labels": {code: label}, "value": float(ratio or 0.0)}
            )
        return answer

    # --- trends and success rates -----------------------------------------------------------
    def _metric_events_hourly(self, scope, since, until):
        # From the hourly rollup (logistics.event.hour), whose rows carry the events' source
        # backend and their shipments' dimensions. Summed per hour before the hour is
        # formatted: to_char on each of a month's 64,000 rollup rows cost 66 ms of the
        # benchmark's dashboard load, on the 720 hours 25 ms.
        return SQL(
            """
            SELECT to_char(t.hour, %s), t.count
              FROM (SELECT h.hour, sum(h.count) AS count
                      FROM logistics_event_hour h
                     WHERE h.hour >= date_trunc('hour', %s::timestamp) AND h.hour < %s
                       AND %s AND %s
                  GROUP BY h.hour) t
          ORDER BY t.hour
            """,
            HOUR_FORMAT,
            since,
            until,
            self._scope_filter(scope, "backend_ids", SQL("h.backend_id")),
            self._shipment_filter(dict(scope, backend_ids=None), "h"),
        )

    def _metric_exceptions_hourly(self, scope, since, until):
        return SQL(
            """
            SELECT to_char(t.hour, %s), t.count
              FROM (SELECT date_trunc('hour', x.first_seen_at) AS hour, count(*) AS count
                      FROM logistics_exception x
                     WHERE x.first_seen_at >= %s AND x.first_seen_at < %s AND %s AND %s AND %s
                  GROUP BY 1) t
          ORDER BY t.hour
            """,
            HOUR_FORMAT,
            since,
            until,
            self._scope_filter(scope, "company_ids", SQL("x.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("x.backend_id")),
            self._exception_shipment_filter(scope),
        )

    def _metric_backend_success_ratio(self, scope, since, until):
        # Aggregated by backend id before the join to the codes: grouping the month's 100,000
        # messages by a joined text cost 47 ms in the benchmark data set, by id 31 ms.
        return SQL(
            """
            SELECT b.code, t.ratio
              FROM (SELECT m.backend_id, avg((m.state = 'done')::int) AS ratio
                      FROM logistics_message m
                     WHERE m.state IN ('done', 'dead')
                       AND m.state_changed_at >= %s AND m.state_changed_at < %s AND %s AND %s
                  GROUP BY m.backend_id) t
              JOIN logistics_backend b ON b.id = t.backend_id
          ORDER BY b.code
            """,
            since,
            until,
            self._scope_filter(scope, "company_ids", SQL("m.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("m.backend_id")),
        )

    # --- metrics for alert rules
    _alert_rule_metrics = (
        Metric(
            "backend_event_silence_seconds",
            "Seconds since the last event",
            "Seconds since the newest event recorded from each active backend that ever sent "
            "one, by backend: the no-data rule's metric (no events from a backend for N "
            "minutes).",
            labels=("backend",),
            unit="seconds",
        ),
        Metric(
            "carrier_sla_breach_ratio",
            "Carrier SLA breach rate",
            "Of the SLA statuses of a carrier's shipments that fell due in the window, the "
            "share that was breached (met late included), from 0 to 1, by carrier backend. "
            "On /logistics/metrics: over the 60 minutes before the scrape.",
            labels=("carrier",),
            unit="ratio",
            windowed=True,
            scrape_window_minutes=60,
        ),
    )

    def _metric_backend_event_silence_seconds(self, scope, since, until):
        # One index probe per backend (logistics_event's (backend_id, recorded_at) index, added
        # by the monitoring addon): max() reads the newest entry, not the backend's events.
        return SQL(
            """
            SELECT b.code, GREATEST(0, EXTRACT(EPOCH FROM (%s - newest.recorded_at)))
              FROM logistics_backend b
              CROSS JOIN LATERAL (SELECT max(e.recorded_at) AS recorded_at
                                    FROM logistics_event e WHERE e.backend_id = b.id) newest
             WHERE b.active AND newest.recorded_at IS NOT NULL AND %s AND %s
          ORDER BY b.code
            """,
            until,
            self._scope_filter(scope, "company_ids", SQL("b.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("b.id")),
        )

    def _metric_carrier_sla_breach_ratio(self, scope, since, until):
        return SQL(
            """
            SELECT b.code, avg((r.breached_at IS NOT NULL)::int)
              FROM logistics_shipment_sla r
              JOIN logistics_shipment s ON s.id = r.shipment_id
              JOIN logistics_backend b ON b.id = s.carrier_backend_id
             WHERE r.due_at >= %s AND r.due_at < %s AND %s AND %s AND %s AND %s
          GROUP BY b.code ORDER BY b.code
            """,
            since,
            until,
            self._scope_filter(scope, "company_ids", SQL("r.company_id")),
            self._scope_filter(scope, "carrier_backend_ids", SQL("s.carrier_backend_id")),
            self._scope_filter(scope, "warehouse_ids", SQL("s.warehouse_id")),
            self._scope_filter(scope, "channel_ids", SQL("s.channel_id")),
        )
