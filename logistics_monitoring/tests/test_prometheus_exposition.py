"""The endpoint's real answer checked by Prometheus's own tools (issue 15 §3): ``promtool check
metrics`` finds no problem in what ``GET /logistics/metrics`` answers with data in every family,
and the shipped rules file and Grafana dashboard read only metrics that answer exposes (or
that the rules record)."""

from prometheus_client.parser import text_string_to_metric_families

from odoo.tests import tagged

from .prometheus_common import (
    MetricsCase,
    dashboard_queries,
    load_dashboard,
    load_rules,
    metric_names,
    promtool,
)

TOKEN = "exposition-test-token"
# The families of /logistics/metrics (issue 15): {name: (type, label names)}.
FAMILIES = {
    "logistics_dead_letters": ("gauge", {"backend"}),
    "logistics_open_exceptions": ("gauge", {"severity", "type"}),
    "logistics_sla_at_risk": ("gauge", {"policy"}),
    "logistics_sla_breached": ("gauge", {"policy"}),
    "logistics_queue_depth": ("gauge", {"channel"}),
    "logistics_queue_oldest_pending_age_seconds": ("gauge", {"channel"}),
    "logistics_orders_awaiting_release": ("gauge", {"warehouse"}),
    "logistics_released_not_acknowledged": ("gauge", {"state"}),
    "logistics_pending_confirmation": ("gauge", {"state"}),
    "logistics_missing_tracking": ("gauge", {"policy"}),
    "logistics_delayed_dispatch": ("gauge", {"policy"}),
    "logistics_backend_event_silence_seconds": ("gauge", {"backend"}),
    "logistics_carrier_sla_breach_ratio": ("gauge", {"carrier"}),
    "logistics_messages": ("gauge", {"backend", "direction", "state", "error_class"}),
    "logistics_alerts_firing": ("gauge", {"rule", "severity"}),
    "logistics_backend_circuit_state": ("gauge", {"backend", "kind", "state"}),
    "logistics_backend_last_success_timestamp_seconds": ("gauge", {"backend", "kind"}),
    "logistics_events": ("counter", {"backend", "type"}),
    "logistics_delivery_attempt_duration_seconds": ("histogram", {"backend"}),
}


@tagged("post_install", "-at_install")
class TestPrometheusExposition(MetricsCase):
    def scrape(self):
        """The endpoint's answer (text), as Prometheus asks for it."""
        response = self.url_open(
            "/logistics/metrics", headers={"Authorization": f"Bearer {self.TOKEN}"}
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))
        return response.text

    def test_promtool_check_metrics_finds_no_problem(self):
        exposition = self.scrape()
        result = promtool("check", "metrics", stdin=exposition)
        # promtool lists each problem (and exits 3); nothing listed: no problem.
        self.assertEqual((result.stdout + result.stderr).strip(), "")
        self.assertEqual(result.returncode, 0)

    def test_every_family_has_samples(self):
        families = {f.name: f for f in text_string_to_metric_families(self.scrape())}
        # A new family belongs in FAMILIES and in the README's table of the metrics.
        self.assertEqual(sorted(families), sorted(FAMILIES))
        for name, (kind, labels) in FAMILIES.items():
            with self.subTest(family=name):
                self.assertIn(name, families)
                family = families[name]
                self.assertEqual(family.type, kind)
                self.assertTrue(family.documentation, "a HELP text")
                self.assertTrue(family.samples, "at least one sample")
                for sample in family.samples:
                    self.assertEqual(set(sample.labels) - {"le"}, labels)

    def test_the_rules_and_the_dashboard_read_only_exposed_metrics(self):
        exposed = {
            sample.name
            for family in text_string_to_metric_families(self.scrape())
            for sample in family.samples
        }
        rules = load_rules()
        recorded = set(rules["recording"])
        readers = [(f"recording rule {name}", expr) for name, expr in rules["recording"].items()]
        readers += [(f"alert {name}", rule["expr"]) for name, rule in rules["alerting"].items()]
        readers += dashboard_queries(load_dashboard())
        for where, expr in readers:
            with self.subTest(query=where):
                names = metric_names(expr)
                self.assertTrue(names, expr)
                self.assertLessEqual(names, exposed | recorded)
