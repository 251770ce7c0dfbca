"""Monitoring benchmark: the reads of issue 14 over a generated history, in one run.

Run it with `setup/bench monitoring` (it prepares a fresh database). It generates, in SQL
(``setup/monitoring_history.py``), 100,000 shipments with 1,000,000 events, 300,000 messages,
20,000 exceptions and the SLA rows of the default policies over 90 days, 5 backends (2 WMS, 2
carriers, 1 sales channel), 3 warehouses and 2 sales channels; ANALYZEs; then measures, as a
user (the admin, with the record rules a person has), the time spent inside the Odoo call with
a warm registry and a cold record cache:

- the PostgreSQL baseline: ``SELECT count(*) FROM logistics_event``;
- ``logistics.shipment.get_timeline`` for 50 random shipments (by reference);
- the exception board's first page: what the web client's kanban grouped by stage asks when
  ``logistics_exception_action`` opens it (``web_read_group`` unfolding each column with the
  kanban's fields, and ``read_progress_bar``), default filter "On the Board";
- one SLA evaluation (``logistics.shipment.sla._cron_evaluate``), rolled back;
- the dashboard RPC (``logistics.dashboard.get_dashboard("30d", {})``) and its naive twin;
- evaluating 50 alert rules (``logistics.alert.rule._cron_evaluate``), rolled back;
- a Prometheus scrape: the exposition of ``/logistics/metrics`` for every company
  (``logistics.metric._scrape``), without the HTTP round trip.

A part whose model is not installed prints "not built yet" and the run exits non-zero.
Sizes: ``--shipments``, ``--events``, ``--messages``, ``--exceptions``, ``--days`` (a small
run takes seconds).
"""

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg2
from lxml import etree

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

sys.path.insert(0, os.fspath(Path(__file__).parent))
import monitoring_history


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


@contextlib.contextmanager
def rolled_back(env):
    """Run the block in a savepoint rolled back at its end, so that it can run again on the
    same data; the block starts and ends with an empty record cache."""
    env.flush_all()
    env.invalidate_all()
    env.cr.execute("SAVEPOINT bench_measure")
    try:
        yield
    finally:
        env.flush_all()
        env.cr.execute("ROLLBACK TO SAVEPOINT bench_measure")
        env.invalidate_all(flush=False)


def cold_loads(env, call, loads):
    """Seconds of ``loads`` calls, each with an empty record cache (as a new request has),
    and the last call's result. One call first, not counted: a running server's registry
    caches (access rights, record rules, views) are warm."""
    call()
    seconds = []
    for _n in range(loads):
        env.invalidate_all()
        spent, result = timed(call)
        seconds.append(spent)
    return seconds, result


def bench_scope(env):
    """5 backends (2 WMS, 2 carriers, 1 channel), 3 warehouses, 2 sales channels, 1 company."""
    company = env.ref("base.main_company")
    Backend = env["logistics.backend"]
    backends = {
        kind: Backend.create(
            [
                {"name": f"Bench {kind} {n}", "code": f"bench_{kind}_{n}", "kind": kind}
                for n in range(1, count + 1)
            ]
        )
        for kind, count in (("wms", 2), ("carrier", 2), ("channel", 1))
    }
    warehouses = env["stock.warehouse"].search([("company_id", "=", company.id)], limit=3)
    for n in range(len(warehouses) + 1, 4):
        warehouses |= env["stock.warehouse"].create(
            {"name": f"Bench Warehouse {n}", "code": f"BW{n}", "company_id": company.id}
        )
    teams = env["crm.team"].search([("company_id", "in", (company.id, False))], limit=2)
    partners = env["res.partner"].search([("is_company", "=", True)], limit=40)
    users = env["res.users"].search([("share", "=", False)], limit=4)
    return monitoring_history.Scope(
        company_id=company.id,
        wms_ids=backends["wms"].ids,
        carrier_ids=backends["carrier"].ids,
        channel_backend_id=backends["channel"].id,
        warehouse_ids=warehouses.ids,
        team_ids=teams.ids,
        partner_ids=partners.ids,
        user_ids=users.ids,
        prefix="BM/",
    )


class Measures:
    """The rows of the result table, and whether a part is missing."""

    def __init__(self):
        self.rows = []
        self.missing = []
        self.baseline = None

    def add(self, what, figure, target, seconds):
        ratio = f"{seconds / self.baseline:6.1f}x" if self.baseline else ""
        self.rows.append((what, figure, target, ratio))

    def print(self):
        print(f"{'what':58s} {'figure':26s} {'target':16s} {'vs count(*)'}")
        for what, figure, target, ratio in self.rows:
            print(f"{what:58s} {figure:26s} {target:16s} {ratio}")
        for part in self.missing:
            print(f"{part}: not built yet")


def measure_baseline(env, measures):
    seconds = []
    for _n in range(5):
        spent, _r = timed(lambda: env.cr.execute("SELECT count(*) FROM logistics_event"))
        seconds.append(spent)
    env.cr.execute("SELECT count(*) FROM logistics_event")
    count = env.cr.fetchone()[0]
    measures.baseline = statistics.median(seconds)
    measures.add(
        f"PostgreSQL baseline: count(*) of {count:,} events (median of 5)",
        f"{measures.baseline * 1000:.1f} ms",
        "",
        measures.baseline,
    )


def measure_timeline(env, measures, first, last, loads=50):
    env.cr.execute(
        "SELECT name FROM logistics_shipment WHERE id BETWEEN %s AND %s ORDER BY random() LIMIT %s",
        [first, last, loads],
    )
    references = [name for (name,) in env.cr.fetchall()]
    Shipment = env["logistics.shipment"]
    Shipment.get_timeline(references[-1])  # warm registry caches, not counted
    seconds = []
    entries = 0
    for reference in references:
        env.invalidate_all()
        spent, timeline = timed(lambda ref=reference: Shipment.get_timeline(ref))
        assert timeline["found"], reference
        entries += len(timeline["entries"])
        seconds.append(spent)
    add_percentiles(
        measures,
        f"get_timeline, {len(references)} random shipments ({entries // len(references)} "
        "entries each)",
        seconds,
        "p95 < 50 ms",
    )


def add_percentiles(measures, what, seconds, target):
    p50, p95 = percentile(seconds, 0.5), percentile(seconds, 0.95)
    measures.add(what, f"p50 {p50 * 1000:.1f} / p95 {p95 * 1000:.1f} ms", target, p95)


def board_request(env):
    """The calls the web client makes to open the board: the kanban's fields as its read
    specification, the default filter "On the Board" ('now' evaluated as the client does),
    grouped by stage with every column unfolded at the kanban's 40 records."""
    Exception_ = env["logistics.exception"]
    arch = Exception_.get_views([(False, "kanban")])["views"]["kanban"]["arch"]
    names = {node.get("name") for node in etree.fromstring(arch).iter("field")}
    spec = {
        name: {"fields": {"display_name": {}}}
        if Exception_._fields[name].type == "many2one"
        else {}
        for name in names
    }
    now = fields.Datetime.to_string(fields.Datetime.now())
    domain = [
        ("is_closed", "=", False),
        ("held_by_id", "=", False),
        "|",
        ("snoozed_until", "=", False),
        ("snoozed_until", "<=", now),
    ]
    progress_bar = {
        "field": "severity",
        "colors": {"critical": "danger", "high": "warning", "medium": "info", "low": "success"},
    }

    def load():
        board = Exception_.with_context(read_group_expand=True).web_read_group(
            domain,
            ["stage_id"],
            aggregates=["__count"],
            auto_unfold=True,
            unfold_read_specification=spec,
            unfold_read_default_limit=40,
        )
        bars = Exception_.read_progress_bar(domain, "stage_id", progress_bar)
        return board, bars

    return load


def measure_board(env, measures, loads=20):
    seconds, (board, _bars) = cold_loads(env, board_request(env), loads)
    cards = sum(group["__count"] for group in board["groups"])
    shown = sum(len(group.get("__records", [])) for group in board["groups"])
    add_percentiles(
        measures,
        f"board first page, {loads} loads ({cards} open cards, {shown} shown)",
        seconds,
        "p95 < 200 ms",
    )


def measure_sla(env, measures):
    Sla = env["logistics.shipment.sla"].sudo()
    env.cr.execute(
        "SELECT count(*) FROM logistics_shipment_sla WHERE state IN ('on_time', 'at_risk')"
    )
    open_rows = env.cr.fetchone()[0]
    with rolled_back(env):
        started_at = fields.Datetime.now()
        spent, breached = timed(Sla._cron_evaluate)
        env.cr.execute(
            "SELECT count(*) FROM logistics_shipment_sla WHERE write_date >= %s", [started_at]
        )
        moved = env.cr.fetchone()[0]
    measures.add(
        f"SLA evaluation, {open_rows:,} open rows ({moved} moved, {breached} breached)",
        f"{spent * 1000:.0f} ms",
        "< 2 s",
        spent,
    )


def built(env, model, part, measures):
    """Whether ``model`` is installed; if not, ``part`` is reported as not built yet."""
    if model not in env:
        measures.missing.append(part)
    return model in env


def measure_dashboard(env, measures, loads=20):
    if not built(env, "logistics.dashboard", "dashboard", measures):
        return
    Dashboard = env["logistics.dashboard"]
    seconds, _result = cold_loads(env, lambda: Dashboard.get_dashboard("30d", {}), loads)
    add_percentiles(measures, f"dashboard RPC (30 days), {loads} loads", seconds, "p95 < 300 ms")
    env.invalidate_all()
    naive, _result = timed(lambda: Dashboard._get_dashboard_naive("30d", {}))
    p50 = percentile(seconds, 0.5)
    measures.add(
        "dashboard, naive implementation (ORM and Python loops), once",
        f"{naive * 1000:.0f} ms = {naive / p50:.0f}x p50",
        ">= 20x",
        naive,
    )


def measure_scrape(env, measures, loads=20):
    if not built(env, "logistics.counter.day", "Prometheus scrape", measures):
        return
    # The endpoint scrapes as the superuser, scoped by its token (here: every company).
    Metric = env["logistics.metric"].sudo()
    seconds, body = cold_loads(env, lambda: Metric._scrape(None), loads)
    add_percentiles(
        measures,
        f"Prometheus scrape, {loads} scrapes ({body.count(b'# TYPE')} families, "
        f"{len(body):,} bytes)",
        seconds,
        "p95 < 200 ms",
    )


def measure_alert_rules(env, measures, count=50):
    if not built(env, "logistics.alert.rule", "alert rules", measures):
        return
    Rule = env["logistics.alert.rule"].sudo()
    shapes = Rule.search([])
    if not shapes:
        measures.missing.append("alert rules (no default rule to copy)")
        return
    with rolled_back(env):
        # The default rules' shapes, copied up to `count` rules (the defaults among them); a
        # copy of a windowed rule gets a window of its own, so that it is a query of its own
        # (rules of one metric, scope and window share their query).
        rules = shapes
        while len(rules) < count:
            shape = shapes[len(rules) % len(shapes)]
            window = shape.window_minutes and shape.window_minutes + 5 * len(rules)
            rules |= shape.copy({"window_minutes": window} if window else {})
        Rule.search([("id", "not in", rules[:count].ids)]).active = False
        env.flush_all()
        env.invalidate_all()
        spent, _result = timed(Rule._cron_evaluate)
    measures.add(f"evaluating {count} alert rules, once", f"{spent * 1000:.0f} ms", "< 1 s", spent)


# The dashboard's rollups (logistics_monitoring), filled after the history.
ROLLUP_TABLES = (
    "logistics_handoff",
    "logistics_handoff_bucket",
    "logistics_event_hour",
    "logistics_sla_day",
    "logistics_counter_day",
)


def vacuum_analyze(database, tables=monitoring_history.HISTORY_TABLES):
    """VACUUM ANALYZE the tables the history filled, outside a transaction (VACUUM can't run
    in one). A database in use has been through autovacuum: its visibility map lets the
    dashboard's covering indexes answer alone (index-only scans); right after a bulk load it
    hasn't, and PostgreSQL reads the tables instead (the dashboard's 30-day load measured
    p95 576 ms then, 270 ms after the VACUUM)."""
    connection = psycopg2.connect(**sql_db.connection_info_for(database)[1])
    connection.autocommit = True
    with contextlib.closing(connection), connection.cursor() as cr:
        for table in tables:
            cr.execute(SQL("VACUUM ANALYZE %s", SQL.identifier(table)).code)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--shipments", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--exceptions", type=int, default=20_000)
    parser.add_argument("--days", type=float, default=90)
    parser.add_argument(
        "--sla-lag", type=int, default=60, help="minutes since the SLA cron last ran (its work)"
    )
    parser.add_argument(
        "--skip-generate", action="store_true", help="measure the data already in the database"
    )
    args = parser.parse_args()

    config.parse_config(["-c", args.config, "-d", args.database, "--log-level", "warn"])
    registry = Registry(args.database)
    sizes = monitoring_history.Sizes(
        shipments=args.shipments,
        events=args.events,
        messages=args.messages,
        exceptions=args.exceptions,
        days=args.days,
        sla_lag_minutes=args.sla_lag,
    )
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        if args.skip_generate:
            cr.execute("SELECT min(id), max(id) FROM logistics_shipment WHERE name LIKE 'BM/%%'")
            first, last = cr.fetchone()
        else:
            started = time.perf_counter()
            counts = monitoring_history.generate(env, bench_scope(env), sizes)
            cr.commit()
            generated = time.perf_counter() - started
            started = time.perf_counter()
            vacuum_analyze(args.database)
            print(
                f"generated in {generated:.0f} s (+ VACUUM ANALYZE"
                f" {time.perf_counter() - started:.0f} s): {counts['shipments']:,} shipments,"
                f" {counts['events']:,} events, "
                f"{counts['messages']:,} messages, {counts['sla_rows']:,} SLA rows, "
                f"{counts['exceptions']:,} exceptions over {args.days:g} days"
            )
            print(
                "  steps: "
                + ", ".join(f"{name} {spent:.1f} s" for name, spent in sizes.timings.items())
            )
            first, last = counts["first_shipment_id"], counts["last_shipment_id"]
            # The dashboard reads rollups that a cron keeps every 5 minutes: their first run
            # over the whole history, as after a bulk load (the addon's CONFIGURE.md).
            started = time.perf_counter()
            env["logistics.handoff"]._cron_refresh()
            cr.commit()
            vacuum_analyze(args.database, ROLLUP_TABLES)
            print(f"  rollups refreshed in {time.perf_counter() - started:.0f} s")
        # A person's view (the admin: Logistics Manager, record rules apply), warm registry.
        user_env = api.Environment(cr, env.ref("base.user_admin").id, {})
        measures = Measures()
        measure_baseline(user_env, measures)
        measure_timeline(user_env, measures, first, last)
        measure_board(user_env, measures)
        measure_sla(user_env, measures)
        measure_dashboard(user_env, measures)
        measure_alert_rules(user_env, measures)
        measure_scrape(user_env, measures)
        cr.rollback()
    measures.print()
    if measures.missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
