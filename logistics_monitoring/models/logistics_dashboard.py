from datetime import datetime, time, timedelta

import pytz

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_exception_type import SEVERITIES

from .logistics_metric import QUANTILES, TILE_SLA_POLICIES
from .logistics_shipment import int32

# Period codes of the selector and their length (None: since midnight in the user's timezone).
PERIODS = {"today": None, "7d": timedelta(days=7), "30d": timedelta(days=30)}
# Dashboard filter -> metric scope key. A filter's value is an id or a list of ids.
FILTERS = {
    "warehouse": "warehouse_ids",
    "carrier": "carrier_backend_ids",
    "channel": "channel_ids",
    "backend": "backend_ids",
    "company": "company_ids",
}
# Every metric the dashboard shows, measured once per load.
DASHBOARD_METRICS = (
    "orders_awaiting_release",
    "released_not_acknowledged",
    "pending_confirmation",
    "missing_tracking",
    "delayed_dispatch",
    "sla_at_risk",
    "sla_breached",
    "dead_letters",
    "open_exceptions",
    "queue_depth",
    "queue_oldest_pending_age_seconds",
    "handoff_latency_seconds",
    "handoff_latency_by_backend_seconds",
    "sla_breach_ratio_by_carrier",
    "sla_breach_ratio_by_warehouse",
    "sla_breach_ratio_by_channel",
    "events_hourly",
    "exceptions_hourly",
    "backend_success_ratio",
    "milestone_completeness_ratio",
)
# The exception type each SLA tile also counts (open exceptions its policies raised).
TILE_EXCEPTION_TYPES = {
    "released_not_acknowledged": "delayed_ack",
    "missing_tracking": "missing_tracking",
    "delayed_dispatch": "delayed_dispatch",
}
# The queue_job states of a job waiting to run (as the queue metrics count them).
WAITING_JOB_STATES = ["pending", "enqueued", "wait_dependencies"]
# Custom periods longer than this are refused: the hourly trend has one point per hour.
MAX_CUSTOM_DAYS = 366


class LogisticsDashboard(models.AbstractModel):
    """The SLA dashboard's data: one documented RPC method for the OWL client action and for
    external clients alike (DESIGN §5). Every number is a metric of the registry
    (``logistics.metric``); this model only picks the period and scope, and shapes the answer.
    """

    _name = "logistics.dashboard"
    _description = "Logistics SLA Dashboard"

    @api.model
    def get_dashboard(self, period="30d", filters=None):
        """Every tile and chart of the SLA dashboard, for one period and scope.

        :param period: ``"today"`` (since midnight in the user's timezone), ``"7d"``, ``"30d"``
            (the last 7 / 30 days until now), or a custom period ``{"date_from": "YYYY-MM-DD",
            "date_to": "YYYY-MM-DD"}`` (both days included, user's timezone, at most 366 days).
            Tiles are the state now; the period windows the charts.
        :param dict filters: optional ``warehouse``, ``carrier`` (carrier backend),
            ``channel`` (crm.team), ``backend`` (a shipment's WMS or carrier backend, a
            message's backend) and ``company``: an id or a list of ids each; companies are
            always limited to the user's allowed companies.
        :return: a dict of plain XML-RPC-safe values (no None, integers within 32 bits):

            - ``period``: ``{code, date_from, date_to}``, the window as Odoo datetime strings
              (``YYYY-MM-DD HH:MM:SS``, UTC);
            - ``filters``: the filters applied, ``{name: [ids]}``;
            - ``tiles``: ``[{code, name, help, value (int), details: [{label, value}],
              action: {name, res_model, domain}}]``, the action opening the list behind it;
            - ``queues``: ``[{channel, depth (int), oldest_seconds (int), action}]``;
            - ``charts``: ``handoff_latency`` and ``handoff_latency_by_backend``: ``{labels,
              p50, p95, p99}`` (seconds); ``breach_rate``: ``{carrier, warehouse, channel}``
              each ``{labels, values}`` (ratios 0..1); ``trend``: ``{labels (ISO hours),
              events, exceptions}``; ``success_rate`` and ``completeness``: ``{labels,
              values}`` (ratios). Latency, completeness, events per hour and breach rates
              come from rollups refreshed every 5 minutes (README, "SLA dashboard");
            - ``options``: the choices of each filter, ``{warehouses, carriers, channels,
              backends, companies: [{id, name}]}``.
        :raises UserError: an unknown period or filter, or a custom period out of bounds
        :raises AccessError: the user is not a Logistics User, Manager or Auditor
        """
        since, until, period_info = self._dashboard_period(period)
        scope = self._dashboard_scope(filters)
        Metric = self.env["logistics.metric"]
        definitions = Metric._metric_definitions()
        scope = Metric._metric_scope(scope)
        families = {}
        numbers = {
            code: Metric._measure(definitions[code], scope, since, until, families)
            for code in DASHBOARD_METRICS
        }
        return self._dashboard_answer(numbers, scope, since, until, period_info, filters)

    # --- period and scope ---------------------------------------------------------------------
    @api.model
    def _dashboard_period(self, period):
        """``(since, until, {code, date_from, date_to})``: naive UTC datetimes of the window."""
        now = fields.Datetime.now().replace(microsecond=0)
        tz = pytz.timezone(self.env.context.get("tz") or self.env.user.tz or "UTC")

        def local_midnight_utc(day):
            local = tz.localize(datetime.combine(day, time.min))
            return local.astimezone(pytz.utc).replace(tzinfo=None)

        if isinstance(period, dict):
            try:
                date_from = fields.Date.to_date(period["date_from"])
                date_to = fields.Date.to_date(period["date_to"])
            except (KeyError, TypeError, ValueError) as error:
                raise UserError(
                    self.env._("A custom period needs date_from and date_to (YYYY-MM-DD).")
                ) from error
            if not date_from or not date_to or date_to < date_from:
                raise UserError(self.env._("A custom period ends on or after its start."))
            if (date_to - date_from).days >= MAX_CUSTOM_DAYS:
                raise UserError(
                    self.env._("A custom period is at most %(days)s days.", days=MAX_CUSTOM_DAYS)
                )
            since = local_midnight_utc(date_from)
            until = local_midnight_utc(date_to + timedelta(days=1))
            code = "custom"
        elif period in PERIODS:
            length = PERIODS[period]
            # Windows are half-open and times stored to the second: this second is in.
            until = now + timedelta(seconds=1)
            if length is None:
                since = local_midnight_utc(now.replace(tzinfo=pytz.utc).astimezone(tz).date())
            else:
                since = now - length
            code = period
        else:
            raise UserError(self.env._("Unknown dashboard period %(period)s.", period=period))
        info = {
            "code": code,
            "date_from": fields.Datetime.to_string(since),
            "date_to": fields.Datetime.to_string(until),
        }
        return since, until, info

    @api.model
    def _dashboard_scope(self, filters):
        """The metric scope of the dashboard's ``filters`` (see ``get_dashboard``)."""
        scope = {}
        for name, value in (filters or {}).items():
            if name not in FILTERS:
                raise UserError(self.env._("Unknown dashboard filter %(name)s.", name=name))
            if not value:
                continue
            ids = value if isinstance(value, list | tuple) else [value]
            try:
                scope[FILTERS[name]] = [int(record_id) for record_id in ids]
            except (TypeError, ValueError) as error:
                raise UserError(
                    self.env._("The dashboard filter %(name)s takes ids.", name=name)
                ) from error
        return scope

    # --- the answer ---------------------------------------------------------------------------
    @api.model
    def _dashboard_answer(self, numbers, scope, since, until, period_info, filters):
        """Shape ``numbers`` (``{metric code: measure rows}``) into ``get_dashboard``'s answer."""
        names = self._dashboard_names(numbers)
        return {
            "period": period_info,
            "filters": {
                name: scope.get(key) or []
                for name, key in FILTERS.items()
                if (filters or {}).get(name)
            },
            "tiles": self._dashboard_tiles(numbers, scope, names),
            "queues": self._dashboard_queues(numbers, scope),
            "charts": self._dashboard_charts(numbers, names, since, until),
            "options": self._dashboard_options(),
        }

    @api.model
    def _dashboard_names(self, numbers):
        """Display names of the codes the metric labels of ``numbers`` hold: ``{kind: {code:
        name}}`` for backends, warehouses, event types, exception types, SLA policies,
        severities, SLA states."""
        codes = set()
        for rows in numbers.values():
            for row in rows:
                for value in row["labels"].values():
                    codes.update(value.split(">"))
        domain = [("code", "in", list(codes))]

        def by_code(model):
            records = (
                self.env[model]
                .sudo()
                .with_context(active_test=False)
                .search_read(domain, ["code", "name"])
            )
            return {record["code"]: record["name"] for record in records}

        return {
            "backend": by_code("logistics.backend"),
            "warehouse": by_code("stock.warehouse"),
            "type": by_code("logistics.event.type"),
            "exception_type": by_code("logistics.exception.type"),
            "policy": by_code("logistics.sla.policy"),
            "severity": dict(SEVERITIES),
            "state": dict(self.env["logistics.shipment.sla"]._fields["state"].selection),
        }

    @staticmethod
    def _total(rows):
        return int32(sum(row["value"] for row in rows))

    @staticmethod
    def _by_label(rows, label):
        totals = {}
        for row in rows:
            key = row["labels"][label]
            totals[key] = totals.get(key, 0) + row["value"]
        return dict(sorted(totals.items()))

    @api.model
    def _scope_domain(self, scope, prefix=""):
        """The scope as a domain on shipments (``prefix``: the path to the shipment)."""
        domain = []
        for key, field in (
            ("company_ids", "company_id"),
            ("warehouse_ids", "warehouse_id"),
            ("channel_ids", "channel_id"),
            ("carrier_backend_ids", "carrier_backend_id"),
        ):
            if scope.get(key) is not None:
                domain.append((f"{prefix}{field}", "in", scope[key]))
        if scope.get("backend_ids") is not None:
            domain += [
                "|",
                (f"{prefix}wms_backend_id", "in", scope["backend_ids"]),
                (f"{prefix}carrier_backend_id", "in", scope["backend_ids"]),
            ]
        return domain

    @api.model
    def _exception_domain(self, scope):
        domain = [("is_closed", "=", False)]
        if scope.get("company_ids") is not None:
            domain.append(("company_id", "in", scope["company_ids"]))
        if scope.get("backend_ids") is not None:
            domain.append(("backend_id", "in", scope["backend_ids"]))
        shipment_scope = {
            key: scope[key]
            for key in ("warehouse_ids", "channel_ids", "carrier_backend_ids")
            if scope.get(key) is not None
        }
        return domain + self._scope_domain(shipment_scope, "shipment_id.")

    @api.model
    def _dashboard_tiles(self, numbers, scope, names):
        definitions = self.env["logistics.metric"]._metric_definitions()
        open_exceptions = numbers["open_exceptions"]
        exceptions_by_type = self._by_label(open_exceptions, "type")
        sla_scope = self._scope_domain(scope, "shipment_id.")

        def tile(code, value, action, details=(), name=None):
            metric = definitions.get(code)
            return {
                "code": code,
                "name": name or metric.name,
                "help": metric.help if metric else "",
                "value": int32(value),
                "details": [{"label": label, "value": int32(count)} for label, count in details],
                "action": action,
            }

        def action(name, res_model, domain):
            return {"name": name, "res_model": res_model, "domain": domain}

        tiles = [
            tile(
                "orders_awaiting_release",
                self._total(numbers["orders_awaiting_release"]),
                action(
                    self.env._("Orders awaiting release"),
                    "logistics.shipment",
                    [
                        ("status_id", "=", False),
                        ("direction", "=", "outgoing"),
                        *self._scope_domain(scope),
                    ],
                ),
                [
                    (names["warehouse"].get(code, code) or self.env._("No warehouse"), count)
                    for code, count in self._by_label(
                        numbers["orders_awaiting_release"], "warehouse"
                    ).items()
                ],
            )
        ]

        def sla_tile(code, domain, label, extra=()):
            rows = numbers[code]
            details = [
                (names[label].get(key, key), count)
                for key, count in self._by_label(rows, label).items()
            ]
            action_ = action(
                definitions[code].name, "logistics.shipment.sla", [*domain, *sla_scope]
            )
            return tile(code, self._total(rows), action_, [*details, *extra])

        for code, (policies, states) in TILE_SLA_POLICIES.items():
            extra = ()
            if code in TILE_EXCEPTION_TYPES:
                opened = exceptions_by_type.get(TILE_EXCEPTION_TYPES[code], 0)
                extra = [(self.env._("Open exceptions"), opened)]
            domain = [("policy_id.code", "in", list(policies)), ("state", "in", list(states))]
            tiles.append(sla_tile(code, domain, definitions[code].labels[0], extra))
        tiles.append(sla_tile("sla_at_risk", [("state", "=", "at_risk")], "policy"))
        tiles.append(sla_tile("sla_breached", [("state", "=", "breached")], "policy"))
        dead_domain = [("state", "=", "dead")]
        if scope.get("company_ids") is not None:
            dead_domain.append(("company_id", "in", scope["company_ids"]))
        if scope.get("backend_ids") is not None:
            dead_domain.append(("backend_id", "in", scope["backend_ids"]))
        tiles.append(
            tile(
                "dead_letters",
                self._total(numbers["dead_letters"]),
                action(self.env._("Dead letters"), "logistics.message", dead_domain),
                [
                    (names["backend"].get(key, key), count)
                    for key, count in self._by_label(numbers["dead_letters"], "backend").items()
                ],
            )
        )
        by_severity = self._by_label(open_exceptions, "severity")
        for severity, label in reversed(SEVERITIES):
            tiles.append(
                tile(
                    f"open_exceptions_{severity}",
                    by_severity.get(severity, 0),
                    action(
                        self.env._("Open exceptions: %(severity)s", severity=label),
                        "logistics.exception",
                        [("severity", "=", severity), *self._exception_domain(scope)],
                    ),
                    sorted(
                        (
                            names["exception_type"].get(
                                row["labels"]["type"], row["labels"]["type"]
                            ),
                            row["value"],
                        )
                        for row in open_exceptions
                        if row["labels"]["severity"] == severity
                    ),
                    name=self.env._("Open exceptions: %(severity)s", severity=label),
                )
            )
        return tiles

    @api.model
    def _dashboard_queues(self, numbers, scope):
        depth = self._by_label(numbers["queue_depth"], "channel")
        oldest = self._by_label(numbers["queue_oldest_pending_age_seconds"], "channel")
        can_open = self.env["queue.job"].has_access("read")
        queues = []
        for channel in sorted(depth):
            domain = [("channel", "=", channel), ("state", "in", WAITING_JOB_STATES)]
            if scope.get("company_ids") is not None:
                domain.append(("company_id", "in", scope["company_ids"]))
            queues.append(
                {
                    "channel": channel,
                    "depth": int32(depth[channel]),
                    "oldest_seconds": int32(oldest.get(channel, 0)),
                    "action": {
                        "name": self.env._("Jobs waiting in %(channel)s", channel=channel),
                        "res_model": "queue.job",
                        "domain": domain,
                    }
                    if can_open
                    else {},
                }
            )
        return queues

    @api.model
    def _dashboard_charts(self, numbers, names, since, until):
        def series(rows, label, kind=None, digits=4):
            values = self._by_label(rows, label)
            keys = sorted(values)
            return {
                "labels": [names[kind].get(key, key) if kind else key for key in keys],
                "values": [round(values[key], digits) for key in keys],
            }

        def handoff_name(code):
            before, _sep, after = code.partition(">")
            return f"{names['type'].get(before, before)} → {names['type'].get(after, after)}"

        def percentiles(rows, label, name=None):
            table = {}
            for row in rows:
                table.setdefault(row["labels"][label], {})[row["labels"]["quantile"]] = row["value"]
            keys = sorted(table)
            chart = {"labels": [name(key) if name else key for key in keys]}
            for quantile in QUANTILES:
                chart[f"p{round(quantile * 100)}"] = [
                    round(table[key].get(str(quantile), 0.0), 1) for key in keys
                ]
            return chart

        hours = []
        hour = since.replace(minute=0, second=0, microsecond=0)
        while hour < until:
            hours.append(hour.strftime("%Y-%m-%dT%H:00:00Z"))
            hour += timedelta(hours=1)
        events = self._by_label(numbers["events_hourly"], "hour")
        exceptions = self._by_label(numbers["exceptions_hourly"], "hour")
        backend_names = names["backend"]
        return {
            "handoff_latency": percentiles(
                numbers["handoff_latency_seconds"], "handoff", handoff_name
            ),
            "handoff_latency_by_backend": percentiles(
                numbers["handoff_latency_by_backend_seconds"],
                "backend",
                lambda code: backend_names.get(code, code),
            ),
            "breach_rate": {
                "carrier": series(numbers["sla_breach_ratio_by_carrier"], "carrier", "backend"),
                "warehouse": series(
                    numbers["sla_breach_ratio_by_warehouse"], "warehouse", "warehouse"
                ),
                "channel": series(numbers["sla_breach_ratio_by_channel"], "channel"),
            },
            "trend": {
                "labels": hours,
                "events": [int32(events.get(hour, 0)) for hour in hours],
                "exceptions": [int32(exceptions.get(hour, 0)) for hour in hours],
            },
            "success_rate": series(numbers["backend_success_ratio"], "backend", "backend"),
            "completeness": series(numbers["milestone_completeness_ratio"], "carrier", "backend"),
        }

    @api.model
    def _dashboard_options(self):
        """The records each filter can choose from (the user's companies' only)."""

        def choices(model, domain=(), name="display_name"):
            return [
                {"id": record.id, "name": record[name] or ""}
                for record in self.env[model].search(list(domain))
            ]

        return {
            "warehouses": choices("stock.warehouse"),
            "carriers": choices("logistics.backend", [("kind", "=", "carrier")]),
            "channels": choices("crm.team"),
            "backends": choices("logistics.backend"),
            "companies": [
                {"id": company.id, "name": company.name} for company in self.env.companies
            ],
        }
