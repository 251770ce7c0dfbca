"""The files the addon ships for Prometheus and Grafana (issue 15 §3): the rules file passes
``promtool check rules`` and its unit tests (``promtool test rules``), its alerting rules are
Odoo's example alert rules, and the Grafana dashboard is an importable dashboard over them.
That they read only what ``/logistics/metrics`` exposes: test_prometheus_exposition.py."""

import re

from odoo.tests import TransactionCase

from .prometheus_common import (
    RULES_FILE,
    RULES_TEST_FILE,
    dashboard_panels,
    dashboard_queries,
    load_dashboard,
    load_rules,
    metric_names,
    promtool,
)

# Odoo's example alert rules (data/logistics_alert_data.xml) and their Prometheus twins.
ALERT_TWINS = {
    "logistics_monitoring.alert_rule_dead_letters": "LogisticsDeadLetters",
    "logistics_monitoring.alert_rule_carrier_breach_rate": "LogisticsCarrierSlaBreachRateHigh",
    "logistics_monitoring.alert_rule_oldest_queued_job": "LogisticsQueueOldestJobTooOld",
    "logistics_monitoring.alert_rule_backend_silent": "LogisticsBackendSilent",
}
# /logistics/metrics measures logistics_carrier_sla_breach_ratio over the last 60 minutes.
EXPOSED_WINDOW_MINUTES = 60
# Recording rule names: level:metric:operations (https://prometheus.io/docs/practices/rules/).
RECORDING_NAME = re.compile(r"^[a-z]+(?:_[a-z]+)*:logistics_[a-z_]+:[a-z0-9_]+$")
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
GRID_COLUMNS = 24


class TestPrometheusRulesFile(TransactionCase):
    def test_promtool_accepts_the_rules(self):
        rules = load_rules()
        count = len(rules["recording"]) + len(rules["alerting"])
        result = promtool("check", "rules", str(RULES_FILE))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn(f"SUCCESS: {count} rules found", result.stdout)

    def test_the_rules_unit_tests_pass(self):
        # The thresholds and "for" durations at work, on made-up series
        # (tests/prometheus/logistics_rules_test.yml).
        result = promtool("test", "rules", RULES_TEST_FILE.name, cwd=RULES_TEST_FILE.parent)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("SUCCESS", result.stdout)
        self.assertNotIn("FAILED", result.stdout)

    def test_the_alerting_rules_are_odoos_example_alert_rules(self):
        alerting = load_rules()["alerting"]
        self.assertEqual(sorted(alerting), sorted(ALERT_TWINS.values()))
        for xmlid, name in ALERT_TWINS.items():
            rule = self.env.ref(xmlid)
            twin = alerting[name]
            with self.subTest(rule=rule.name):
                self.assertEqual(
                    twin["expr"],
                    f"logistics_{rule.metric_code} {rule.operator} {rule.threshold:g}",
                )
                self.assertEqual(
                    twin.get("for"), f"{rule.for_minutes}m" if rule.for_minutes else None
                )
                self.assertEqual(twin["labels"]["severity"], rule.severity)
                self.assertTrue(twin["annotations"]["summary"])
                self.assertTrue(twin["annotations"]["description"])
                if rule.metric_windowed:
                    self.assertEqual(rule.window_minutes, EXPOSED_WINDOW_MINUTES)
        silent = self.env.ref("logistics_monitoring.alert_rule_backend_silent")
        self.assertTrue(silent.marks_partner_unavailable)
        self.assertEqual(
            alerting["LogisticsBackendSilent"]["labels"]["partner_unavailable"], "true"
        )

    def test_recording_rules_are_named_level_metric_operations(self):
        for name, expr in load_rules()["recording"].items():
            with self.subTest(record=name):
                self.assertRegex(name, RECORDING_NAME)
                level, metric, _operations = name.split(":")
                # The metric part names what the rule reads: a series, or its family (a counter
                # less _total once rated, a histogram less _bucket, _sum, _count).
                names = metric_names(expr)
                read = names | {re.sub(r"_(total|bucket|sum|count)$", "", m) for m in names}
                self.assertIn(metric, read)
                # The level's labels are kept: not aggregated away, nor left out of a "by".
                dropped = re.findall(r"\bwithout\s*\(([^)]*)\)", expr)
                kept = re.findall(r"\bby\s*\(([^)]*)\)", expr)
                for label in level.split("_"):
                    for labels in dropped:
                        self.assertNotIn(label, re.split(r"\s*,\s*", labels.strip()))
                    for labels in kept:
                        self.assertIn(label, re.split(r"\s*,\s*", labels.strip()))


class TestGrafanaDashboard(TransactionCase):
    def test_it_is_an_importable_dashboard_with_a_datasource_input(self):
        dashboard = load_dashboard()
        self.assertEqual(
            [(i["name"], i["type"], i["pluginId"]) for i in dashboard["__inputs"]],
            [("DS_PROMETHEUS", "datasource", "prometheus")],
        )
        self.assertIsNone(dashboard["id"], "an exported dashboard has no database id")
        self.assertTrue(dashboard["uid"])
        self.assertTrue(dashboard["title"])
        required = {(r["type"], r["id"]) for r in dashboard["__requires"]}
        panels = list(dashboard_panels(dashboard))
        for panel in panels:
            with self.subTest(panel=panel["title"]):
                if panel["type"] == "row":
                    continue
                self.assertIn(("panel", panel["type"]), required)
                self.assertEqual(panel["datasource"], DATASOURCE)
                self.assertTrue(panel["targets"])
                self.assertTrue(panel["description"])
                for target in panel["targets"]:
                    self.assertEqual(target["datasource"], DATASOURCE)
                    self.assertTrue(target["expr"].strip())
        ids = [panel["id"] for panel in panels]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")

    def test_panels_fit_the_grid_without_overlapping(self):
        taken = set()
        for panel in dashboard_panels(load_dashboard()):
            grid = panel["gridPos"]
            with self.subTest(panel=panel["title"]):
                self.assertLessEqual(grid["x"] + grid["w"], GRID_COLUMNS)
                cells = {
                    (x, y)
                    for x in range(grid["x"], grid["x"] + grid["w"])
                    for y in range(grid["y"], grid["y"] + grid["h"])
                }
                self.assertFalse(cells & taken, "overlaps another panel")
                taken |= cells

    def test_the_backend_variable_filters_the_backend_panels(self):
        dashboard = load_dashboard()
        (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "backend"]
        self.assertEqual(variable["type"], "query")
        self.assertEqual(variable["datasource"], DATASOURCE)
        self.assertTrue(variable["multi"])
        self.assertTrue(variable["includeAll"])
        self.assertEqual(variable["allValue"], ".*")
        backend_metrics = {
            "logistics_dead_letters",
            "logistics_backend_circuit_state",
            "logistics_backend_event_silence_seconds",
            "backend:logistics_events:rate5m",
            "backend_state:logistics_messages:sum",
            "backend:logistics_delivery_attempt_duration_seconds:p50_5m",
            "backend:logistics_delivery_attempt_duration_seconds:p95_5m",
            "backend:logistics_delivery_attempt_duration_seconds:p99_5m",
        }
        for where, expr in dashboard_queries(dashboard):
            if where.startswith("panel") and metric_names(expr) & backend_metrics:
                with self.subTest(query=where):
                    self.assertIn('backend=~"$backend"', expr)

    def test_it_has_the_panels_of_the_issue(self):
        read = set()
        for _where, expr in dashboard_queries(load_dashboard()):
            read |= metric_names(expr)
        for metric in (
            "backend:logistics_events:rate5m",  # events/s by backend
            "backend_state:logistics_messages:sum",  # messages by state
            "logistics_dead_letters",
            "backend:logistics_delivery_attempt_duration_seconds:p50_5m",
            "backend:logistics_delivery_attempt_duration_seconds:p95_5m",
            "backend:logistics_delivery_attempt_duration_seconds:p99_5m",
            "logistics_queue_depth",
            "logistics_queue_oldest_pending_age_seconds",
            "severity:logistics_open_exceptions:sum",  # open exceptions by severity
            "logistics_sla_at_risk",
            "logistics_sla_breached",
            "logistics_backend_circuit_state",
            "logistics_alerts_firing",
        ):
            with self.subTest(metric=metric):
                self.assertIn(metric, read)
