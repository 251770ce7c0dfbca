"""GET /logistics/metrics over real HTTP: the bearer token, the company scope of a token, and
the numbers of the exposition against the database (issue 15 §1), parsed with
prometheus_client's own parser."""

import os
from datetime import timedelta, timezone
from unittest.mock import patch

from prometheus_client.parser import text_string_to_metric_families

from odoo.tests import HttpCase, tagged

from .common_dashboard import build_dashboard_data

TOKEN = "metrics-test-token"
TOKEN_A = "metrics-company-a-token"


@tagged("post_install", "-at_install")
class TestMetricsEndpoint(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        build_dashboard_data(cls)
        cls.tokens = {
            "LOGISTICS_METRICS_TOKEN": TOKEN,
            "LOGISTICS_METRICS_COMPANY_TOKENS": f"{cls.company_a.id}:{TOKEN_A}",
        }

    def scrape(self, token=TOKEN, environ=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with patch.dict(os.environ, self.tokens if environ is None else environ):
            return self.url_open("/logistics/metrics", headers=headers)

    def samples(self, token=TOKEN):
        """``{(sample name, frozenset(labels.items())): value}`` of a scrape."""
        response = self.scrape(token)
        self.assertEqual(response.status_code, 200, response.text)
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    def rows(self, query, params=()):
        self.env.flush_all()
        self.env.cr.execute(query, params)
        return self.env.cr.fetchall()

    # --- authentication ---------------------------------------------------------------------
    def test_a_scrape_without_a_valid_token_is_refused(self):
        for token in (None, "wrong-token", TOKEN + "x"):
            response = self.scrape(token)
            self.assertEqual(response.status_code, 401, token)
            self.assertIn("Bearer", response.headers["WWW-Authenticate"])
            self.assertNotIn("logistics_dead_letters", response.text)
        # No token configured at all: nobody gets in, not even with an empty bearer.
        empty = {"LOGISTICS_METRICS_TOKEN": "", "LOGISTICS_METRICS_COMPANY_TOKENS": ""}
        self.assertEqual(self.scrape(TOKEN, environ=empty).status_code, 401)
        self.assertEqual(self.scrape("", environ=empty).status_code, 401)

    def test_exposition_format_and_names(self):
        response = self.scrape()
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        families = list(text_string_to_metric_families(response.text))
        names = {family.name for family in families}
        for name in (
            "logistics_events",  # the parser strips _total from a counter's family name
            "logistics_messages",
            "logistics_dead_letters",
            "logistics_delivery_attempt_duration_seconds",
            "logistics_queue_depth",
            "logistics_queue_oldest_pending_age_seconds",
            "logistics_open_exceptions",
            "logistics_sla_at_risk",
            "logistics_sla_breached",
            "logistics_alerts_firing",
            "logistics_backend_circuit_state",
            "logistics_backend_last_success_timestamp_seconds",
            "logistics_carrier_sla_breach_ratio",
        ):
            self.assertIn(name, names)
        types = {family.name: family.type for family in families}
        self.assertEqual(types["logistics_events"], "counter")
        self.assertEqual(types["logistics_delivery_attempt_duration_seconds"], "histogram")
        self.assertEqual(types["logistics_dead_letters"], "gauge")
        self.assertIn("logistics_events_total{", response.text)
        for family in families:
            self.assertTrue(family.name.startswith("logistics_"), family.name)
            self.assertTrue(family.documentation, family.name)
            for sample in family.samples:
                # Low-cardinality labels only: never a record's id or reference.
                self.assertFalse(
                    {"id", "shipment", "order", "message", "reference"} & set(sample.labels),
                    sample,
                )
        # The dashboard's windowed charts are not scraped: Prometheus windows counters itself.
        self.assertNotIn("logistics_handoff_latency_seconds", names)
        self.assertNotIn("logistics_events_hourly", names)

    # --- numbers against the database -------------------------------------------------------
    def test_a_company_token_sees_its_company_only(self):
        samples = self.samples(TOKEN_A)
        self.assertEqual(samples[("logistics_dead_letters", frozenset({("backend", "db_wms")}))], 2)
        dead = frozenset(
            {
                ("backend", "db_wms"),
                ("direction", "outbound"),
                ("state", "dead"),
                ("error_class", ""),
            }
        )
        self.assertEqual(samples[("logistics_messages", dead)], 2)
        backends = {dict(labels).get("backend") for _name, labels in samples}
        self.assertIn("db_c1", backends)
        self.assertFalse({"db_wms_b", "db_c_b"} & backends, "company B's backends")
        # The global token sees company B's dead letter too.
        everything = self.samples(TOKEN)
        self.assertEqual(
            everything[("logistics_dead_letters", frozenset({("backend", "db_wms_b")}))], 1
        )

    def test_events_total_matches_the_database_before_and_after_the_daily_rollup(self):
        def expected():
            return {
                (backend or "", type_code): count
                for backend, type_code, count in self.rows(
                    """
                    SELECT b.code, x.type, sum(x.count)
                      FROM (SELECT e.backend_id, t.code AS type, count(*) AS count
                              FROM logistics_event e
                              JOIN logistics_event_type t ON t.id = e.type_id
                          GROUP BY 1, 2
                         -- The events of shipments deleted before (by other tests that
                         -- committed): still counted, a counter never goes down.
                         UNION ALL
                            SELECT backend_id, key, sum(count)
                              FROM logistics_counter_day
                             WHERE counter = 'events_deleted'
                          GROUP BY 1, 2) x
                 LEFT JOIN logistics_backend b ON b.id = x.backend_id
                  GROUP BY 1, 2
                    """
                )
            }

        def scraped():
            return {
                (dict(labels)["backend"], dict(labels)["type"]): value
                for (name, labels), value in self.samples().items()
                if name == "logistics_events_total"
            }

        self.assertEqual(scraped(), expected())
        # Company A's events recorded three days ago: from the daily counters once refreshed,
        # counted once (not again from the table).
        self.env.cr.execute(
            """
            UPDATE logistics_event e SET recorded_at = recorded_at - interval '3 days'
              FROM logistics_shipment s
             WHERE s.id = e.shipment_id AND s.company_id = %s
            """,
            [self.company_a.id],
        )
        self.env["logistics.counter.day"]._refresh()
        three_days_ago = (self.now - timedelta(days=3)).date()
        self.assertTrue(
            self.env["logistics.counter.day"].search_count(
                [("counter", "=", "events"), ("day", "=", three_days_ago)]
            )
        )
        self.assertEqual(scraped(), expected())
        before = scraped()
        # A new event after the refresh: counted from the table at once.
        self.env["logistics.event"].sudo()._ingest(
            self.c1,
            [
                {
                    "type": "in_transit",
                    "occurred_at": self.now.isoformat() + "+00:00",
                    "event_id": "metrics-late-scan",
                    "shipment_ref": self.s2.name,
                }
            ],
        )
        after = scraped()
        self.assertEqual(after[("db_c1", "in_transit")], before.get(("db_c1", "in_transit"), 0) + 1)

    def test_done_messages_from_the_rollup_and_the_table(self):
        Message = self.env["logistics.message"].sudo()
        messages = Message.create(
            [
                {
                    "direction": "outbound",
                    "backend_id": self.c2.id,
                    "operation": "label_purchase",
                    "state": "done",
                    "company_id": self.company_a.id,
                }
                for _n in range(3)
            ]
        )
        done = frozenset(
            {
                ("backend", "db_c2"),
                ("direction", "outbound"),
                ("state", "done"),
                ("error_class", ""),
            }
        )
        # Done today, after the last refresh: from the table.
        self.assertEqual(self.samples(TOKEN_A)[("logistics_messages", done)], 3)
        # Two of them done four days ago, counted by a first refresh over the history (as
        # after a bulk load): from the daily counters, the third still from the table.
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE logistics_message SET state_changed_at = state_changed_at - interval '4 days'"
            " WHERE id IN %s",
            [tuple(messages[:2].ids)],
        )
        self.env["ir.config_parameter"].sudo().search(
            [("key", "like", "logistics_monitoring.counter_day_%")]
        ).unlink()
        self.env["logistics.counter.day"]._refresh()
        four_days_ago = (self.now - timedelta(days=4)).date()
        rollup = self.env["logistics.counter.day"].search(
            [("counter", "=", "messages_done"), ("day", "=", four_days_ago)]
        )
        self.assertEqual(sum(rollup.filtered(lambda r: r.backend_id == self.c2).mapped("count")), 2)
        self.assertEqual(self.samples(TOKEN_A)[("logistics_messages", done)], 3)

    def test_attempt_latency_histogram(self):
        Message = self.env["logistics.message"].sudo()
        message = Message.create(
            {
                "direction": "outbound",
                "backend_id": self.c2.id,
                "operation": "label_purchase",
                "state": "done",
                "company_id": self.company_a.id,
            }
        )
        Attempt = self.env["logistics.message.attempt"].sudo()
        for number, (latency, days) in enumerate(((40, 2), (100, 0), (3000, 0)), start=1):
            Attempt.create(
                {
                    "message_id": message.id,
                    "number": number,
                    "latency_ms": latency,
                    "attempted_at": self.now - timedelta(days=days),
                }
            )
        # One day of the three from the daily counters, today from the table.
        self.env["logistics.counter.day"]._refresh()
        samples = self.samples(TOKEN_A)

        def bucket(le):
            labels = frozenset({("backend", "db_c2"), ("le", le)})
            return samples[("logistics_delivery_attempt_duration_seconds_bucket", labels)]

        self.assertEqual(bucket("0.025"), 0)
        self.assertEqual(bucket("0.05"), 1)
        self.assertEqual(bucket("0.1"), 2)  # le is inclusive: 100 ms is in the 0.1 bucket
        self.assertEqual(bucket("2.5"), 2)
        self.assertEqual(bucket("5.0"), 3)
        self.assertEqual(bucket("+Inf"), 3)
        backend = frozenset({("backend", "db_c2")})
        self.assertEqual(samples[("logistics_delivery_attempt_duration_seconds_count", backend)], 3)
        self.assertAlmostEqual(
            samples[("logistics_delivery_attempt_duration_seconds_sum", backend)], 3.14
        )

    def test_circuits_last_success_and_firing_alerts(self):
        self.c1.sudo().write({"circuit_state": "open"})
        rule = (
            self.env["logistics.alert.rule"]
            .sudo()
            .create(
                {
                    "name": "Metrics test: dead letters",
                    "metric_code": "dead_letters",
                    "operator": ">",
                    "threshold": 0,
                    "backend_ids": [(6, 0, self.wms.ids)],
                    "severity": "critical",
                    "company_id": self.company_a.id,
                }
            )
        )
        # The fixture's two dead letters on the WMS: the rule fires (no for-duration).
        rule._evaluate(now=self.now)
        self.assertEqual(rule.alert_ids.state, "firing")
        samples = self.samples(TOKEN_A)

        def circuit(backend, state):
            labels = frozenset({("backend", backend), ("kind", "carrier"), ("state", state)})
            return samples[("logistics_backend_circuit_state", labels)]

        self.assertEqual(circuit("db_c1", "open"), 1)
        self.assertEqual(circuit("db_c1", "closed"), 0)
        self.assertEqual(circuit("db_c2", "closed"), 1)
        # The WMS's last delivered outbound message: the fixture's done message, 2 hours ago.
        last = samples[
            (
                "logistics_backend_last_success_timestamp_seconds",
                frozenset({("backend", "db_wms"), ("kind", "wms")}),
            )
        ]
        expected = (self.now - timedelta(hours=2)).replace(tzinfo=timezone.utc).timestamp()
        self.assertAlmostEqual(last, expected, delta=1)
        firing = frozenset({("rule", "Metrics test: dead letters"), ("severity", "critical")})
        self.assertEqual(samples[("logistics_alerts_firing", firing)], 1)

    def test_alert_rules_take_gauges_only(self):
        # A total since the beginning only grows: a threshold on it says nothing.
        choices = dict(self.env["logistics.alert.rule"]._selection_metric_code())
        self.assertIn("dead_letters", choices)
        self.assertIn("messages", choices)
        self.assertNotIn("events_total", choices)
        self.assertNotIn("delivery_attempt_duration_seconds", choices)
