from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.utils import floatToGoString

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.logistics_integration_base.models.logistics_backend_health import LAST_SUCCESS_SQL

from .logistics_counter_day import ATTEMPT_BUCKETS, COUNTED_DAY, bucket_label_sql
from .logistics_metric import Metric

# The Prometheus names of the registry's metrics (Prometheus naming guide: one application
# prefix, base units, _total on counters).
PREFIX = "logistics_"
CIRCUIT_STATES = ("closed", "open", "half_open", "credentials_refused")
# Before the first refresh of the daily counters, every day is read from the tables.
NEVER = "1970-01-01"


class _Exposition:
    """A prometheus_client collector of metric families computed beforehand: the scrape
    builds its own registry (never the process-wide default one), so that every Odoo worker
    answers from the database alike."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        yield from self.families


class LogisticsMetric(models.AbstractModel):
    _inherit = "logistics.metric"

    _scrape_metrics = (
        Metric(
            "events_total",
            "Events recorded",
            "Canonical events recorded since the beginning, by source backend (empty: "
            "Odoo's own) and event type.",
            labels=("backend", "type"),
            type="counter",
        ),
        Metric(
            "messages",
            "Messages",
            "Inbound and outbound messages now in each state, by backend, direction, state "
            "and error class (empty when none).",
            labels=("backend", "direction", "state", "error_class"),
        ),
        Metric(
            "delivery_attempt_duration_seconds",
            "Delivery attempt latency",
            "Seconds each outbound delivery attempt to a partner took (latency_ms of the "
            "message attempts that have one), by backend.",
            labels=("backend",),
            unit="seconds",
            type="histogram",
        ),
        Metric(
            "alerts_firing",
            "Firing alerts",
            "Alerts firing now, by active alert rule and its severity.",
            labels=("rule", "severity"),
        ),
        Metric(
            "backend_circuit_state",
            "Circuit state",
            "The circuit breaker of each active backend: 1 for its state now, 0 for the "
            "others (closed, open, half_open, credentials_refused).",
            labels=("backend", "kind", "state"),
        ),
        Metric(
            "backend_last_success_timestamp_seconds",
            "Last success",
            "Unix time of each active backend's last delivered outbound message (absent "
            "when it never delivered one).",
            labels=("backend", "kind"),
            unit="seconds",
        ),
    )

    @api.model
    def measure(self, code, scope=None, since=None, until=None):
        """As the registry's ``measure``; a histogram has no single value per label set.

        :raises UserError: for a histogram (read it from ``/logistics/metrics``)
        """
        metric = self._metric_definitions().get(code)
        if metric and metric.type == "histogram":
            raise UserError(
                self.env._(
                    "%(code)s is a histogram: read its buckets from /logistics/metrics.",
                    code=code,
                )
            )
        return super().measure(code, scope=scope, since=since, until=until)

    @api.model
    def _metric_definitions(self):
        definitions = super()._metric_definitions()
        definitions.update({metric.code: metric for metric in self._scrape_metrics})
        return definitions

    # --- the exposition -------------------------------------------------------------------
    @api.model
    def _scrape(self, company_ids=None):
        """The metrics of ``/logistics/metrics``, computed now from the database.

        :param company_ids: the companies the numbers are for (a bearer token's scope), or
            None for every company
        :return: the Prometheus text exposition format 0.0.4 (bytes), produced by
            prometheus_client's ``generate_latest``
        """
        self.env.flush_all()
        scope = self._metric_scope({"company_ids": list(company_ids) if company_ids else None})
        now = fields.Datetime.now()
        families = []
        shared = {}
        for metric in self._metric_definitions().values():
            if metric.windowed and not metric.scrape_window_minutes:
                continue
            name = PREFIX + metric.code
            if metric.type == "histogram":
                families.append(self._histogram_family(metric, name, scope, now))
                continue
            since = now - timedelta(minutes=metric.scrape_window_minutes or 0)
            family_class = CounterMetricFamily if metric.type == "counter" else GaugeMetricFamily
            family = family_class(name, metric.help, labels=metric.labels)
            for row in self._measure(metric, scope, since, now, shared):
                family.add_metric([row["labels"][label] for label in metric.labels], row["value"])
            families.append(family)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Exposition(families))
        return generate_latest(registry)

    def _histogram_family(self, metric, name, scope, now):
        """A HistogramMetricFamily from ``_metric_<code>``'s rows ``(backend, le, count,
        sum)``: counts per bucket, cumulated here as Prometheus's ``le`` buckets are."""
        self.env.cr.execute(getattr(self, f"_metric_{metric.code}")(scope, None, now))
        per_backend = {}
        for backend, le, count, total in self.env.cr.fetchall():
            counts, sums = per_backend.setdefault(backend or "", ({}, [0.0]))
            counts[le] = counts.get(le, 0) + count
            sums[0] += total or 0.0
        family = HistogramMetricFamily(name, metric.help, labels=metric.labels)
        for backend, (counts, (total,)) in sorted(per_backend.items()):
            buckets, running = [], 0
            for bound in (*map(floatToGoString, ATTEMPT_BUCKETS), "+Inf"):
                running += counts.get(bound, 0)
                buckets.append((bound, running))
            family.add_metric([backend], buckets, sum_value=total)
        return family

    def _counted_day(self):
        """The day of the daily counters' last refresh: days before it are read from
        ``logistics.counter.day``, the rest from the tables."""
        return self.env["ir.config_parameter"].sudo().get_param(COUNTED_DAY) or NEVER

    # --- metric queries -------------------------------------------------------------------
    def _metric_events_total(self, scope, since, until):
        companies = scope.get("company_ids")
        return SQL(
            """
            SELECT COALESCE(b.code, ''), t.type, sum(t.count)
              FROM (SELECT c.backend_id, c.key AS type, sum(c.count) AS count
                      FROM logistics_counter_day c
                     -- The events of deleted shipments stay counted (a counter never goes
                     -- down), whatever their day.
                     WHERE (c.counter = 'events' AND c.day < %(day)s
                            OR c.counter = 'events_deleted')
                       AND %(day_companies)s AND %(day_backends)s
                  GROUP BY 1, 2
                 UNION ALL
                    SELECT e.backend_id, ty.code, count(*)
                      FROM logistics_event e
                      JOIN logistics_event_type ty ON ty.id = e.type_id
                     WHERE e.recorded_at >= %(day)s AND %(event_companies)s AND %(backends)s
                  GROUP BY 1, 2) t
         LEFT JOIN logistics_backend b ON b.id = t.backend_id
          GROUP BY 1, 2 ORDER BY 1, 2
            """,
            day=self._counted_day(),
            day_companies=self._scope_filter(scope, "company_ids", SQL("c.company_id")),
            day_backends=self._scope_filter(scope, "backend_ids", SQL("c.backend_id")),
            backends=self._scope_filter(scope, "backend_ids", SQL("e.backend_id")),
            event_companies=SQL("TRUE")
            if companies is None
            else SQL(
                "EXISTS (SELECT 1 FROM logistics_shipment s "
                "WHERE s.id = e.shipment_id AND s.company_id = ANY(%s))",
                list(companies),
            ),
        )

    def _metric_messages(self, scope, since, until):
        # Done messages, most of the table (290,000 of 300,000 in the benchmark data set),
        # come from the daily counters; the other states from a partial index.
        day = self._counted_day()
        return SQL(
            """
            SELECT COALESCE(b.code, ''), t.direction, t.state, t.error_class, sum(t.count)
              FROM (SELECT m.backend_id, m.direction, m.state,
                           COALESCE(m.error_class, '') AS error_class, count(*) AS count
                      FROM logistics_message m
                     WHERE m.state <> 'done' AND %(companies)s AND %(backends)s
                  GROUP BY 1, 2, 3, 4
                 UNION ALL
                    SELECT c.backend_id, c.key, 'done', '', sum(c.count)
                      FROM logistics_counter_day c
                     WHERE c.counter = 'messages_done' AND c.day < %(day)s
                       AND %(day_companies)s AND %(day_backends)s
                  GROUP BY 1, 2
                 UNION ALL
                    SELECT m.backend_id, m.direction, 'done', '', count(*)
                      FROM logistics_message m
                     WHERE m.state = 'done' AND m.state_changed_at >= %(day)s
                       AND %(companies)s AND %(backends)s
                  GROUP BY 1, 2) t
         LEFT JOIN logistics_backend b ON b.id = t.backend_id
          GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            """,
            day=day,
            companies=self._scope_filter(scope, "company_ids", SQL("m.company_id")),
            backends=self._scope_filter(scope, "backend_ids", SQL("m.backend_id")),
            day_companies=self._scope_filter(scope, "company_ids", SQL("c.company_id")),
            day_backends=self._scope_filter(scope, "backend_ids", SQL("c.backend_id")),
        )

    def _metric_delivery_attempt_duration_seconds(self, scope, since, until):
        return SQL(
            """
            SELECT b.code, t.le, sum(t.count), sum(t.total)
              FROM (SELECT c.backend_id, c.key AS le, sum(c.count) AS count,
                           sum(c.total) AS total
                      FROM logistics_counter_day c
                     WHERE c.counter = 'attempts' AND c.day < %(day)s
                       AND %(day_companies)s AND %(day_backends)s
                  GROUP BY 1, 2
                 UNION ALL
                    SELECT a.backend_id, %(bucket)s, count(*), sum(a.latency_ms) / 1000.0
                      FROM logistics_message_attempt a
                     WHERE a.latency_ms IS NOT NULL AND a.attempted_at >= %(day)s
                       AND %(companies)s AND %(backends)s
                  GROUP BY 1, 2) t
         LEFT JOIN logistics_backend b ON b.id = t.backend_id
          GROUP BY 1, 2
            """,
            day=self._counted_day(),
            bucket=bucket_label_sql(SQL("a.latency_ms / 1000.0")),
            companies=self._scope_filter(scope, "company_ids", SQL("a.company_id")),
            backends=self._scope_filter(scope, "backend_ids", SQL("a.backend_id")),
            day_companies=self._scope_filter(scope, "company_ids", SQL("c.company_id")),
            day_backends=self._scope_filter(scope, "backend_ids", SQL("c.backend_id")),
        )

    def _metric_alerts_firing(self, scope, since, until):
        return SQL(
            """
            SELECT r.name->>'en_US', r.severity, count(a.id)
              FROM logistics_alert_rule r
         LEFT JOIN logistics_alert a ON a.rule_id = r.id AND a.state = 'firing'
             WHERE r.active AND %s
          -- Rules of the same name and severity (one per company, say) are one series:
          -- two samples with the same labels are one too many for Prometheus.
          GROUP BY 1, 2 ORDER BY 1, 2
            """,
            self._backend_company_filter(scope, SQL("r.company_id")),
        )

    def _metric_backend_circuit_state(self, scope, since, until):
        return SQL(
            """
            SELECT b.code, b.kind, s.state, (COALESCE(b.circuit_state, 'closed') = s.state)::int
              FROM logistics_backend b
        CROSS JOIN unnest(%s::varchar[]) AS s(state)
             WHERE b.active AND %s AND %s
          ORDER BY 1, 3
            """,
            list(CIRCUIT_STATES),
            self._backend_company_filter(scope, SQL("b.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("b.id")),
        )

    def _metric_backend_last_success_timestamp_seconds(self, scope, since, until):
        # The last success as the base defines it (``LAST_SUCCESS_SQL``: one index probe).
        return SQL(
            """
            SELECT code, kind, EXTRACT(EPOCH FROM at)
              FROM (SELECT b.code, b.kind, %s AS at
                      FROM logistics_backend b
                     WHERE b.active AND %s AND %s) last
             WHERE at IS NOT NULL
          ORDER BY 1
            """,
            LAST_SUCCESS_SQL,
            self._backend_company_filter(scope, SQL("b.company_id")),
            self._scope_filter(scope, "backend_ids", SQL("b.id")),
        )

    @staticmethod
    def _backend_company_filter(scope, column):
        """A configuration record's company in the scope: a record of no company is
        everyone's."""
        companies = scope.get("company_ids")
        if companies is None:
            return SQL("TRUE")
        return SQL("(%s IS NULL OR %s = ANY(%s))", column, column, list(companies))
