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


# Scope keys a caller may pass to ``measure``; each metric applies those that make sense for it.
SCOPE_KEYS = ("company_ids", "backend_ids", "carrier_backend_ids", "warehouse_ids", "channel_ids")


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
        """
        metric = self._metric_definitions().get(code)
        if not metric:
            raise UserError(self.env._("Unknown metric %(code)s.", code=code))
        scope = self._metric_scope(scope)
        until = fields.Datetime.to_datetime(until) or fields.Datetime.now()
        since = fields.Datetime.to_datetime(since) or until - timedelta(days=1)
        query = getattr(self, f"_metric_{code}")(scope, since, until)
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
             WHERE x.is_closed IS NOT TRUE AND %s AND %s
          GROUP BY x.severity, t.code ORDER BY x.severity, t.code
            """,
            self._scope_filter(scope, "company_ids", SQL("x.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("x.backend_id")),
        )

    def _sla_count(self, scope, state):
        return SQL(
            """
            SELECT p.code, count(*)
              FROM logistics_shipment_sla r
              JOIN logistics_sla_policy p ON p.id = r.policy_id
              JOIN logistics_shipment s ON s.id = r.shipment_id
             WHERE r.state = %s AND %s AND %s AND %s AND %s
          GROUP BY p.code ORDER BY p.code
            """,
            state,
            self._scope_filter(scope, "company_ids", SQL("r.company_id")),
            self._scope_filter(scope, "carrier_backend_ids", SQL("s.carrier_backend_id")),
            self._scope_filter(scope, "warehouse_ids", SQL("s.warehouse_id")),
            self._scope_filter(scope, "channel_ids", SQL("s.channel_id")),
        )

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
            "share that was breached (met late included), from 0 to 1, by carrier backend.",
            labels=("carrier",),
            unit="ratio",
            windowed=True,
        ),
    )

    def _metric_backend_event_silence_seconds(self, scope, since, until):
        # One index probe per backend (logistics_event's (backend_id, recorded_at) index, added
        # by the monitoring addon): max() reads the newest entry, not the backend's events.
        return SQL(
            """
            SELECT b.code, EXTRACT(EPOCH FROM (%s - newest.recorded_at))
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
