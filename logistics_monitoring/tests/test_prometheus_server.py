"""A real Prometheus server scrapes /logistics/metrics (issue 15 §4): Debian's ``prometheus``,
started by the test on its own port and data directory, scrapes the test Odoo with the bearer
token every second and evaluates the shipped rules file. The test asks Prometheus's HTTP API
(``/api/v1/query``) whether the target is up, for a number to compare with the database, for
the shipped recording and alerting rules' results on it, and runs every query of the Grafana
dashboard.

The test Odoo serves the scrapes inside the test's transaction (HttpCase), so what the test
creates is what Prometheus sees; requests from Prometheus carry no test cookie, hence
``allow_requests(all_requests=True)`` while the test waits on Prometheus."""

import tempfile

from odoo.tests import tagged

from .prometheus_common import (
    MetricsCase,
    PrometheusServer,
    dashboard_queries,
    grafana_to_promql,
    load_dashboard,
)


@tagged("post_install", "-at_install")
class TestPrometheusServer(MetricsCase):
    def setUp(self):
        super().setUp()
        directory = tempfile.TemporaryDirectory(prefix="logistics-prometheus-")
        self.addCleanup(directory.cleanup)
        # The test server has one database (pytest-odoo's db_name): no db to pick.
        self.prometheus = PrometheusServer(
            directory.name, f"127.0.0.1:{self.http_port()}", self.TOKEN
        )
        self.addCleanup(self.prometheus.stop)
        self.prometheus.start()

    def value(self, result):
        """The value of a one-series answer of ``PrometheusServer.query``, as a float."""
        self.assertEqual(len(result), 1, result)
        return float(result[0]["value"][1])

    def test_prometheus_scrapes_the_endpoint_with_the_token(self):
        dead_in_database = self.env["logistics.message"].search_count(
            [("backend_id", "=", self.wms.id), ("state", "=", "dead")]
        )
        prometheus = self.prometheus
        with self.allow_requests(all_requests=True):
            up = prometheus.wait_for(f'up{{job="{prometheus.JOB}"}} == 1')
            dead_letters = prometheus.query('logistics_dead_letters{backend="prom_wms"}')
            # The shipped rules on the scraped numbers: a recording rule and an alert.
            dead_messages = prometheus.wait_for(
                'backend_state:logistics_messages:sum{backend="prom_wms",state="dead"}'
            )
            alert = prometheus.wait_for(
                'ALERTS{alertname="LogisticsDeadLetters",backend="prom_wms",alertstate="firing"}'
            )
            # Every query of the dashboard is PromQL Prometheus accepts (it raises otherwise).
            for _where, expr in dashboard_queries(load_dashboard()):
                if not expr.startswith("label_values("):
                    prometheus.query(grafana_to_promql(expr))
            backends = prometheus.query(
                'group by (backend) (logistics_backend_circuit_state{backend="prom_wms"})'
            )
        self.assertEqual(self.value(up), 1.0)
        self.assertEqual(dead_in_database, self.dead_letters)
        self.assertEqual(self.value(dead_letters), dead_in_database)
        self.assertEqual(self.value(dead_messages), dead_in_database)
        self.assertEqual(alert[0]["metric"]["severity"], "high")
        # The dashboard's backend variable lists the backend (label_values of this metric).
        self.assertEqual([series["metric"]["backend"] for series in backends], ["prom_wms"])
