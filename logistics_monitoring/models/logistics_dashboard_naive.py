"""The dashboard computed the naive way, for the benchmark only (issue 14: the real one must be
at least 20 times faster): ORM searches and Python loops over records, and hand-offs paired from
the events on every call instead of read from the rollup. Never called by the client."""

import itertools
import statistics
from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models

from .logistics_dashboard import DASHBOARD_METRICS, WAITING_JOB_STATES
from .logistics_metric import QUANTILES, TILE_SLA_POLICIES


def rows(counter, labels):
    """``measure``'s rows from ``{label values tuple: value}``."""
    return [
        {"labels": dict(zip(labels, key, strict=True)), "value": float(value)}
        for key, value in counter.items()
    ]


def averages(flags):
    """``{key: [0/1 or number]}`` -> ``{key: mean}``."""
    return {key: statistics.fmean(values) for key, values in flags.items()}


def percentile_cont(values, fraction):
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


class LogisticsDashboard(models.AbstractModel):
    _inherit = "logistics.dashboard"

    @api.model
    def _get_dashboard_naive(self, period="30d", filters=None):
        """``get_dashboard``'s answer computed with ORM searches and Python loops (the
        benchmark's baseline; same arguments, same answer)."""
        since, until, period_info = self._dashboard_period(period)
        scope = self.env["logistics.metric"]._metric_scope(self._dashboard_scope(filters))
        pairs = self._naive_handoffs(scope)
        numbers = {}
        for code in DASHBOARD_METRICS:
            if code in TILE_SLA_POLICIES:
                numbers[code] = self._naive_tile(code, scope)
            elif code.startswith("handoff_latency") or code == "milestone_completeness_ratio":
                numbers[code] = getattr(self, f"_naive_{code}")(pairs, since, until)
            else:
                numbers[code] = getattr(self, f"_naive_{code}")(scope, since, until)
        return self._dashboard_answer(numbers, scope, since, until, period_info, filters)

    def _naive_orders_awaiting_release(self, scope, since, until):
        counter = defaultdict(int)
        shipments = self.env["logistics.shipment"].search(
            [("status_id", "=", False), ("direction", "=", "outgoing"), *self._scope_domain(scope)]
        )
        for shipment in shipments:
            counter[(shipment.warehouse_id.code or "",)] += 1
        return rows(counter, ("warehouse",))

    def _naive_sla_rows(self, scope, domain, label):
        counter = defaultdict(int)
        slas = self.env["logistics.shipment.sla"].search(
            domain + self._scope_domain(scope, "shipment_id.")
        )
        for sla in slas:
            counter[(sla.state if label == "state" else sla.policy_id.code,)] += 1
        return rows(counter, (label,))

    def _naive_tile(self, code, scope):
        policies, states = TILE_SLA_POLICIES[code]
        label = self.env["logistics.metric"]._metric_definitions()[code].labels[0]
        domain = [("policy_id.code", "in", list(policies)), ("state", "in", list(states))]
        return self._naive_sla_rows(scope, domain, label)

    def _naive_sla_at_risk(self, scope, since, until):
        return self._naive_sla_rows(scope, [("state", "=", "at_risk")], "policy")

    def _naive_sla_breached(self, scope, since, until):
        return self._naive_sla_rows(scope, [("state", "=", "breached")], "policy")

    def _naive_messages_domain(self, scope):
        domain = []
        if scope.get("company_ids") is not None:
            domain.append(("company_id", "in", scope["company_ids"]))
        if scope.get("backend_ids") is not None:
            domain.append(("backend_id", "in", scope["backend_ids"]))
        return domain

    def _naive_dead_letters(self, scope, since, until):
        counter = defaultdict(int)
        messages = self.env["logistics.message"].search(
            [
                ("state", "=", "dead"),
                ("backend_id", "!=", False),
                *self._naive_messages_domain(scope),
            ]
        )
        for message in messages:
            counter[(message.backend_id.code,)] += 1
        return rows(counter, ("backend",))

    def _naive_open_exceptions(self, scope, since, until):
        counter = defaultdict(int)
        for exception in self.env["logistics.exception"].search(self._exception_domain(scope)):
            counter[(exception.severity or "", exception.type_id.code)] += 1
        return rows(counter, ("severity", "type"))

    def _naive_waiting_jobs(self, scope):
        domain = [("state", "in", WAITING_JOB_STATES)]
        if scope.get("company_ids") is not None:
            domain.append(("company_id", "in", scope["company_ids"]))
        jobs = defaultdict(list)
        for job in self.env["queue.job"].sudo().search(domain):
            jobs[job.channel].append(job)
        return jobs

    def _naive_queue_depth(self, scope, since, until):
        jobs = self._naive_waiting_jobs(scope)
        return rows({(channel,): len(dates) for channel, dates in jobs.items()}, ("channel",))

    def _naive_queue_oldest_pending_age_seconds(self, scope, since, until):
        jobs = self._naive_waiting_jobs(scope)
        ages = {}
        for channel, channel_jobs in jobs.items():
            due = [
                job.eta or job.date_created
                for job in channel_jobs
                if not job.eta or job.eta <= until
            ]
            ages[(channel,)] = max((until - min(due)).total_seconds(), 0) if due else 0.0
        return rows(ages, ("channel",))

    # --- hand-offs paired from the events, every call ----------------------------------------
    def _naive_handoffs(self, scope):
        """``[(handoff code, backend code, carrier code, to_rank, step, to_at, seconds)]``."""
        shipments = self.env["logistics.shipment"].search(self._scope_domain(scope))
        events = self.env["logistics.event"].search(
            [("shipment_id", "in", shipments.ids)], order="occurred_at, id"
        )
        first = defaultdict(dict)
        for event in events:
            event_type = event.type_id
            if event_type.category != "execution" or event_type.rank <= 0:
                continue
            if event.state == "ignored":
                continue
            first[event.shipment_id].setdefault(event_type.rank, event)
        pairs = []
        for shipment, by_rank in first.items():
            reached = [by_rank[rank] for rank in sorted(by_rank)]
            for step, (before, after) in enumerate(itertools.pairwise(reached), start=2):
                pairs.append(
                    (
                        f"{before.type_id.code}>{after.type_id.code}",
                        after.backend_id.code or "",
                        shipment.carrier_backend_id.code or "",
                        after.type_id.rank,
                        step,
                        after.occurred_at,
                        (after.occurred_at - before.occurred_at).total_seconds(),
                    )
                )
        return pairs

    def _naive_percentiles(self, pairs, since, until, index, label):
        values = defaultdict(list)
        for pair in pairs:
            if since <= pair[5] < until:
                values[pair[index]].append(pair[6])
        counter = {}
        for key, seconds in values.items():
            for quantile in QUANTILES:
                counter[(key, str(quantile))] = percentile_cont(seconds, quantile)
        return rows(counter, (label, "quantile"))

    def _naive_handoff_latency_seconds(self, pairs, since, until):
        return self._naive_percentiles(pairs, since, until, 0, "handoff")

    def _naive_handoff_latency_by_backend_seconds(self, pairs, since, until):
        return self._naive_percentiles(pairs, since, until, 1, "backend")

    def _naive_milestone_completeness_ratio(self, pairs, since, until):
        main = self.env["logistics.event.type"].search(
            [("category", "=", "execution"), ("rank", ">", 0)]
        )
        ranks = set(main.mapped("rank"))
        flags = defaultdict(list)
        for _handoff, _backend, carrier, to_rank, step, to_at, _seconds in pairs:
            if to_rank == max(ranks) and since <= to_at < until:
                flags[(carrier,)].append(1 if step == len(ranks) else 0)
        return rows(averages(flags), ("carrier",))

    # --- breach rates, trends, success -------------------------------------------------------
    def _naive_breach_ratio(self, scope, since, until, label_of, label):
        now = fields.Datetime.now()
        flags = defaultdict(list)
        # Whole days, as the SLA outcomes per day count them.
        first_day = since.replace(hour=0, minute=0, second=0, microsecond=0)
        after_last_day = until.replace(hour=0, minute=0, second=0) + timedelta(days=1)
        slas = self.env["logistics.shipment.sla"].search(
            [
                ("due_at", ">=", first_day),
                ("due_at", "<", min(after_last_day, now)),
                *self._scope_domain(scope, "shipment_id."),
            ]
        )
        for sla in slas:
            late = bool(sla.breached_at) or (sla.met_at or now) > sla.due_at
            flags[(label_of(sla.shipment_id),)].append(1 if late else 0)
        return rows(averages(flags), (label,))

    def _naive_sla_breach_ratio_by_carrier(self, scope, since, until):
        return self._naive_breach_ratio(
            scope, since, until, lambda s: s.carrier_backend_id.code or "", "carrier"
        )

    def _naive_sla_breach_ratio_by_warehouse(self, scope, since, until):
        return self._naive_breach_ratio(
            scope, since, until, lambda s: s.warehouse_id.code or "", "warehouse"
        )

    def _naive_sla_breach_ratio_by_channel(self, scope, since, until):
        return self._naive_breach_ratio(
            scope,
            since,
            until,
            lambda s: s.channel_id.with_context(lang="en_US").name or "",
            "channel",
        )

    @staticmethod
    def _naive_hour(moment):
        return moment.strftime("%Y-%m-%dT%H:00:00Z")

    def _naive_events_hourly(self, scope, since, until):
        start = since.replace(minute=0, second=0, microsecond=0)
        domain = [("recorded_at", ">=", start), ("recorded_at", "<", until)]
        if scope.get("backend_ids") is not None:
            domain.append(("backend_id", "in", scope["backend_ids"]))
        domain += self._scope_domain(dict(scope, backend_ids=None), "shipment_id.")
        counter = defaultdict(int)
        for event in self.env["logistics.event"].search(domain):
            counter[(self._naive_hour(event.recorded_at),)] += 1
        return rows(counter, ("hour",))

    def _naive_exceptions_hourly(self, scope, since, until):
        domain = [
            ("first_seen_at", ">=", since),
            ("first_seen_at", "<", until),
            *self._exception_domain(scope)[1:],
        ]
        counter = defaultdict(int)
        for exception in self.env["logistics.exception"].search(domain):
            counter[(self._naive_hour(exception.first_seen_at),)] += 1
        return rows(counter, ("hour",))

    def _naive_backend_success_ratio(self, scope, since, until):
        flags = defaultdict(list)
        messages = self.env["logistics.message"].search(
            [
                ("state", "in", ["done", "dead"]),
                ("state_changed_at", ">=", since),
                ("state_changed_at", "<", until),
                ("backend_id", "!=", False),
                *self._naive_messages_domain(scope),
            ]
        )
        for message in messages:
            flags[(message.backend_id.code,)].append(1 if message.state == "done" else 0)
        return rows(averages(flags), ("backend",))
