"""logistics.dashboard.get_dashboard: the numbers against data counted by hand
(common_dashboard.py), the company scope, the filters, and the naive twin."""

import xmlrpc.client

from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged

from .common_dashboard import build_dashboard_data


@tagged("post_install", "-at_install")
class TestDashboardRpc(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        build_dashboard_data(cls)

    def dashboard(self, user=None, period="30d", filters=None):
        env = self.env(user=user or self.user)
        return env["logistics.dashboard"].get_dashboard(period, filters or {})

    @staticmethod
    def tiles(answer):
        return {tile["code"]: tile["value"] for tile in answer["tiles"]}

    @staticmethod
    def latency(chart, label):
        index = chart["labels"].index(label)
        return chart["p50"][index], chart["p95"][index], chart["p99"][index]

    def handoff_label(self, before, after):
        Type = self.env["logistics.event.type"]
        names = {t.code: t.name for t in Type.search([("code", "in", [before, after])])}
        return f"{names[before]} → {names[after]}"

    def test_tiles_count_the_state_now(self):
        tiles = self.tiles(self.dashboard())
        self.assertEqual(tiles["orders_awaiting_release"], 1)  # S4
        self.assertEqual(tiles["released_not_acknowledged"], 1)  # S3's row
        self.assertEqual(tiles["pending_confirmation"], 1)
        self.assertEqual(tiles["missing_tracking"], 1)
        self.assertEqual(tiles["delayed_dispatch"], 1)
        self.assertEqual(tiles["sla_at_risk"], 1)
        self.assertEqual(tiles["sla_breached"], 2)
        self.assertEqual(tiles["dead_letters"], 2)
        self.assertEqual(tiles["open_exceptions_high"], 1)
        self.assertEqual(tiles["open_exceptions_critical"], 1)
        self.assertEqual(tiles["open_exceptions_low"], 0)  # the closed one
        high = next(t for t in self.dashboard()["tiles"] if t["code"] == "open_exceptions_high")
        missing = self.env["logistics.exception.type"].search([("code", "=", "missing_tracking")])
        self.assertEqual(high["details"], [{"label": missing.name, "value": 1}])

    def test_a_tile_action_opens_exactly_what_it_counts(self):
        for tile in self.dashboard()["tiles"]:
            action = tile["action"]
            found = self.env(user=self.user)[action["res_model"]].search_count(action["domain"])
            self.assertEqual(found, tile["value"], tile["code"])

    def test_handoff_latency_percentiles(self):
        label = self.handoff_label("order_released", "wms_acknowledged")
        charts = self.dashboard()["charts"]
        # percentile_cont over 60, 120, 300 s
        self.assertEqual(self.latency(charts["handoff_latency"], label), (120.0, 282.0, 296.4))
        # Over 7 days S3 (ten days ago) is out: 60, 120 s.
        charts_7d = self.dashboard(period="7d")["charts"]
        self.assertEqual(self.latency(charts_7d["handoff_latency"], label), (90.0, 117.0, 119.4))
        by_backend = charts["handoff_latency_by_backend"]
        self.assertIn("Dash WMS", by_backend["labels"])
        self.assertNotIn("B WMS", by_backend["labels"])

    def test_large_windows_read_the_latency_histogram(self):
        label = self.handoff_label("order_released", "wms_acknowledged")
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("logistics_monitoring.latency_exact_rows", "0")
        charts = self.dashboard()["charts"]
        p50, p95, p99 = self.latency(charts["handoff_latency"], label)
        # The histogram's buckets are 5 % wide: within 2.5 % of 120, 282 and 296.4 s (their
        # buckets' centres: 118.3, 300.4).
        self.assertAlmostEqual(p50, 120.0, delta=3)
        self.assertAlmostEqual(p95, 282.0, delta=7)
        self.assertAlmostEqual(p99, 296.4, delta=7)
        self.assertNotEqual(p50, 120.0)  # not the exact path
        by_backend = charts["handoff_latency_by_backend"]
        self.assertIn("Dash WMS", by_backend["labels"])
        # A warehouse, carrier, channel or backend filter reads the exact rollup.
        narrowed = self.dashboard(filters={"carrier": self.c2.id})["charts"]
        self.assertEqual(self.latency(narrowed["handoff_latency"], label), (120.0, 120.0, 120.0))

    def test_rates_and_completeness(self):
        charts = self.dashboard()["charts"]
        breach = charts["breach_rate"]["carrier"]
        self.assertEqual(
            dict(zip(breach["labels"], breach["values"], strict=True)),
            {"Dash Carrier One": 1.0, "Dash Carrier Two": 0.5},
        )
        warehouse = charts["breach_rate"]["warehouse"]
        self.assertEqual(warehouse["values"], [0.6667])
        channel = dict(
            zip(
                charts["breach_rate"]["channel"]["labels"],
                charts["breach_rate"]["channel"]["values"],
                strict=True,
            )
        )
        self.assertEqual(channel, {"Dash East": 1.0, "Dash West": 0.5})
        success = dict(
            zip(charts["success_rate"]["labels"], charts["success_rate"]["values"], strict=True)
        )
        self.assertEqual(success, {"Dash Carrier One": 1.0, "Dash WMS": 0.3333})
        completeness = dict(
            zip(charts["completeness"]["labels"], charts["completeness"]["values"], strict=True)
        )
        self.assertEqual(completeness, {"Dash Carrier One": 1.0, "Dash Carrier Two": 0.0})

    def test_trend_counts_events_and_exceptions_per_hour(self):
        trend = self.dashboard(period="today")["charts"]["trend"]
        self.assertEqual(len(trend["labels"]), len(trend["events"]))
        # Every event of company A was recorded now: 10 (S1) + 3 (S2) + 2 (S3).
        self.assertEqual(sum(trend["events"]), 15)
        self.assertEqual(sum(trend["exceptions"]), 3)

    def test_a_company_b_user_sees_nothing_of_company_a(self):
        answer = self.dashboard(user=self.user_b)
        tiles = self.tiles(answer)
        self.assertEqual(tiles["orders_awaiting_release"], 0)
        self.assertEqual(tiles["dead_letters"], 1)
        self.assertEqual(tiles["open_exceptions_high"], 1)
        self.assertEqual(tiles["open_exceptions_critical"], 0)
        self.assertEqual(tiles["sla_breached"], 0)
        latency = answer["charts"]["handoff_latency"]
        self.assertEqual(
            latency["labels"], [self.handoff_label("order_released", "wms_acknowledged")]
        )
        self.assertEqual(latency["p50"], [10000.0])
        self.assertEqual(answer["charts"]["success_rate"]["labels"], ["B WMS"])
        self.assertEqual(sum(answer["charts"]["trend"]["events"]), 2)
        # Asking for company A's numbers by filter gives nothing either.
        answer = self.dashboard(user=self.user_b, filters={"company": self.company_a.id})
        self.assertEqual(self.tiles(answer)["dead_letters"], 0)
        self.assertEqual(answer["charts"]["handoff_latency"]["labels"], [])

    def test_only_logistics_users_read_the_numbers(self):
        outsider = new_test_user(self.env, "dash_outsider", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.dashboard(user=outsider)
        with self.assertRaises(AccessError):
            self.env(user=outsider)["logistics.metric"].measure("dead_letters")

    def test_filters_narrow_every_number(self):
        answer = self.dashboard(filters={"carrier": self.c2.id})
        tiles = self.tiles(answer)
        self.assertEqual(tiles["orders_awaiting_release"], 0)  # S4 is carrier one's
        self.assertEqual(tiles["missing_tracking"], 1)  # S2
        self.assertEqual(tiles["delayed_dispatch"], 0)  # S1
        self.assertEqual(tiles["open_exceptions_high"], 1)
        self.assertEqual(tiles["open_exceptions_critical"], 0)
        label = self.handoff_label("order_released", "wms_acknowledged")
        self.assertEqual(
            self.latency(answer["charts"]["handoff_latency"], label), (120.0, 120.0, 120.0)
        )
        channel = self.dashboard(filters={"channel": [self.east.id]})
        self.assertEqual(self.tiles(channel)["orders_awaiting_release"], 1)
        self.assertEqual(self.tiles(channel)["missing_tracking"], 0)

    def test_the_answer_is_xmlrpc_safe(self):
        answer = self.dashboard()
        # xmlrpc.client refuses None and integers past 32 bits.
        xmlrpc.client.dumps((answer,), allow_none=False)

        def walk(value):
            if isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)
            else:
                self.assertIsNotNone(value)
                if isinstance(value, int):
                    self.assertLess(abs(value), 2**31)

        walk(answer)

    def test_periods_and_errors(self):
        custom = self.dashboard(period={"date_from": "2020-01-01", "date_to": "2020-01-02"})
        self.assertEqual(custom["period"]["code"], "custom")
        self.assertEqual(len(custom["charts"]["trend"]["labels"]), 48)
        self.assertEqual(sum(custom["charts"]["trend"]["events"]), 0)
        with self.assertRaises(UserError):
            self.dashboard(period="year")
        with self.assertRaises(UserError):
            self.dashboard(filters={"planet": 1})
        with self.assertRaises(UserError):
            self.dashboard(filters={"carrier": "DHL"})
        with self.assertRaises(UserError):
            self.dashboard(period={"date_from": "2020-01-02", "date_to": "2020-01-01"})

    def test_the_naive_twin_gives_the_same_numbers(self):
        Dashboard = self.env(user=self.user)["logistics.dashboard"]
        for period, filters in (("30d", {}), ("7d", {}), ("30d", {"carrier": self.c1.id})):
            real = Dashboard.get_dashboard(period, filters)
            naive = Dashboard._get_dashboard_naive(period, filters)
            for key in ("tiles", "queues", "charts"):
                self.assertEqual(naive[key], real[key], (period, filters, key))
