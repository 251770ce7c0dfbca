"""Review of issue 15 (``/logistics/metrics`` and ``/logistics/health``): one test per finding,
each failing on the reviewed code. The docstring of each test says what a user would see.

The counters are Prometheus counters: a value that goes down is read as a counter reset, and
``rate()`` / ``increase()`` then count the whole total again (Prometheus documentation,
"Metric types": a counter only goes up, or is reset to zero on restart).
"""

import contextlib
import os
from collections import Counter
from datetime import datetime, time, timedelta
from unittest.mock import patch

from prometheus_client.parser import text_string_to_metric_families

from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, TransactionCase, tagged

from ..models.logistics_counter_day import COUNTED_DAY
from .common_dashboard import build_dashboard_data, record_events

TOKEN = "review15-token"
COMPANY_TOKEN = "review15-company-token"


def samples_of(exposition):
    """``[(sample name, frozenset(labels.items()), value)]`` of a text exposition, in order
    (duplicates kept)."""
    return [
        (sample.name, frozenset(sample.labels.items()), sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    ]


@tagged("post_install", "-at_install")
class TestReview15Metrics(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        build_dashboard_data(cls)

    def setUp(self):
        super().setUp()
        self.startPatcher(
            patch.dict(
                os.environ,
                {
                    "LOGISTICS_METRICS_TOKEN": TOKEN,
                    "LOGISTICS_METRICS_COMPANY_TOKENS": f"{self.company_a.id}:{COMPANY_TOKEN}",
                },
            )
        )

    def scrape(self, token=TOKEN):
        response = self.url_open("/logistics/metrics", headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(response.status_code, 200, response.text)
        return response.text

    def values(self, token=TOKEN):
        """``{(sample name, frozenset(labels)): value}`` of a scrape."""
        return {(name, labels): value for name, labels, value in samples_of(self.scrape(token))}

    # --- company scope ----------------------------------------------------------------------
    def test_a_company_token_with_an_unknown_company_id_sees_every_company(self):
        """A company token configured with company A and ids of no company (a typo, or a
        company since deleted): as many ids as the database has companies. The scrape
        answers with every company's numbers: company B's backends and dead letter show up
        for a token that may see company A only (``_metric_scope`` compares the number of
        ids with the number of companies, not the ids)."""
        companies = self.env["res.company"].with_context(active_test=False)
        count = companies.search_count([])
        top = max(companies.search([]).ids)
        unknown = [top + 1000 + n for n in range(count - 1)]
        entries = [f"{self.company_a.id}:{COMPANY_TOKEN}"] + [
            f"{company}:{COMPANY_TOKEN}" for company in unknown
        ]
        os.environ["LOGISTICS_METRICS_COMPANY_TOKENS"] = ",".join(entries)
        backends = {dict(labels).get("backend") for _name, labels in self.values(COMPANY_TOKEN)}
        self.assertIn("db_wms", backends)
        self.assertFalse(
            {"db_wms_b", "db_c_b"} & backends,
            "company B's backends are visible to a token scoped to company A",
        )

    # --- counters ---------------------------------------------------------------------------
    def test_deleting_a_shipment_makes_events_total_go_down(self):
        """A Logistics Manager deletes a shipment recorded today (allowed: unlink right on
        logistics.shipment); its events go with it (ON DELETE CASCADE) and
        ``logistics_events_total`` goes down at the next scrape: Prometheus takes it for a
        counter reset and ``increase()`` over the window reports the whole total again."""
        shipment = (
            self.env["logistics.shipment"]
            .sudo()
            .with_company(self.company_a)
            .create(
                {
                    "direction": "outgoing",
                    "company_id": self.company_a.id,
                    "wms_backend_id": self.wms.id,
                    "carrier_backend_id": self.c1.id,
                }
            )
        )
        record_events(
            self.env,
            shipment,
            self.wms,
            self.c1,
            [("wms_acknowledged", self.now - timedelta(minutes=5))],
        )
        key = (
            "logistics_events_total",
            frozenset({("backend", "db_wms"), ("type", "wms_acknowledged")}),
        )
        before = self.values()[key]
        # Refusing to delete a shipment that has events would keep the counter too.
        with contextlib.suppress(AccessError, UserError), self.env.cr.savepoint():
            shipment.with_user(self.manager).unlink()
        after = self.values().get(key, 0)
        self.assertGreaterEqual(after, before, "a counter went down")

    # --- exposition -------------------------------------------------------------------------
    def test_two_alert_rules_with_the_same_name_give_one_sample_per_label_set(self):
        """Company A and company B each have an active alert rule "Dead letters", severity
        high (rule names are free text, per company). ``logistics_alerts_firing`` then holds
        two samples with the same labels {rule="Dead letters", severity="high"}: Prometheus
        keeps one and drops the other ("duplicate sample for timestamp"), so company B's
        firing alert can vanish from Prometheus; promtool check metrics does not see it."""
        Rule = self.env["logistics.alert.rule"].sudo()
        for company in (self.company_a, self.company_b):
            Rule.create(
                {
                    "name": "Dead letters",
                    "metric_code": "dead_letters",
                    "operator": ">",
                    "threshold": 0,
                    "severity": "high",
                    "company_id": company.id,
                }
            )
        counts = Counter((name, labels) for name, labels, _value in samples_of(self.scrape()))
        duplicates = {key: count for key, count in counts.items() if count > 1}
        self.assertEqual(duplicates, {}, "samples with the same name and labels")

    # --- the registry behind the endpoint ---------------------------------------------------
    def test_an_alert_rule_on_messages_keeps_to_its_backends(self):
        """A manager sets up an alert rule on the new ``messages`` gauge (selectable since
        issue 15) with Backends = carrier db_c1 and ``state=dead``: "dead messages on db_c1".
        db_c1 has none; the WMS has two. The rule fires anyway, for the WMS: the scrape
        metrics ignore the ``backend_ids`` scope that ``measure`` documents (messages,
        backend_circuit_state, backend_last_success_timestamp_seconds, events_total)."""
        rule = (
            self.env["logistics.alert.rule"]
            .sudo()
            .create(
                {
                    "name": "Dead messages on db_c1",
                    "metric_code": "messages",
                    "operator": ">",
                    "threshold": 0,
                    "backend_ids": [(6, 0, self.c1.ids)],
                    "label_filter": "state=dead",
                    "severity": "high",
                    "company_id": self.company_a.id,
                }
            )
        )
        rule._evaluate(now=self.now)
        self.assertEqual(
            rule.alert_ids.filtered(lambda a: a.state == "firing").mapped("labels"),
            [],
            "the rule fired for a backend outside its scope",
        )

    def test_measure_answers_for_the_histogram_too(self):
        """``logistics.metric.measure`` is the documented RPC of the registry ("the same
        method serves external clients") and takes any code of ``_metric_definitions``;
        for ``delivery_attempt_duration_seconds`` (added by issue 15) a Logistics User gets
        a server error (ValueError from zip(strict=True): the histogram's query has four
        columns for one label) instead of rows or a clear UserError."""
        message = (
            self.env["logistics.message"]
            .sudo()
            .create(
                {
                    "direction": "outbound",
                    "backend_id": self.c1.id,
                    "operation": "label_purchase",
                    "state": "done",
                    "company_id": self.company_a.id,
                }
            )
        )
        self.env["logistics.message.attempt"].sudo().create(
            {"message_id": message.id, "number": 1, "latency_ms": 180}
        )
        self.env.flush_all()
        Metric = self.env["logistics.metric"].with_user(self.user)
        try:
            rows = Metric.measure("delivery_attempt_duration_seconds")
        except UserError:
            rows = []  # a clear refusal would do
        except ValueError as error:
            self.fail(f"measure() crashed: {error}")
        self.assertIsInstance(rows, list)

    # --- gauges -----------------------------------------------------------------------------
    def test_a_job_postponed_on_purpose_is_not_an_old_pending_job(self):
        """A delivery retried with backoff (or a queue_job retry) waits on purpose: a pending
        job created 20 minutes ago whose eta is in 10 minutes. ``/logistics/health``'s
        job_runner check passes (the job is not due), but
        ``logistics_queue_oldest_pending_age_seconds`` says 1200 s, so the shipped alert
        LogisticsQueueOldestJobTooOld (> 900 s for 2 minutes: "is the job runner up?") and
        Odoo's example rule fire while the runner is fine."""
        self.env["queue.job"].sudo().search(
            [("state", "in", ("pending", "enqueued", "wait_dependencies"))]
        ).write({"state": "done"})
        channel = "root.logistics.operational"
        now = fields.Datetime.now()
        self.env["logistics.health"].with_delay(
            channel=channel, eta=now + timedelta(minutes=10)
        ).check_database()
        job = self.env["queue.job"].sudo().search([], order="id desc", limit=1)
        self.assertEqual(job.state, "pending")
        # queue_job protects date_created from writes: set as a job enqueued 20 minutes ago.
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE queue_job SET date_created = %s WHERE id = %s",
            [now - timedelta(minutes=20), job.id],
        )
        self.env.invalidate_all()
        health = self.url_open("/logistics/health?check=job_runner")
        self.assertEqual(health.status_code, 200, health.text)
        age = self.values().get(
            ("logistics_queue_oldest_pending_age_seconds", frozenset({("channel", channel)})), 0
        )
        self.assertLess(age, 900, "a job that is not due yet counted as waiting")

    def test_seconds_since_a_backends_newest_event_are_never_negative(self):
        """Several Odoo servers share the database (DESIGN §8) and their clocks differ by
        a little: an event stamped by a server a few seconds ahead makes
        ``logistics_backend_event_silence_seconds`` negative (-3 here), a "seconds since"
        that no dashboard or rule expects (the queue's oldest age got GREATEST(0, …) for
        the same reason)."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE logistics_event SET recorded_at = %s WHERE backend_id = %s",
            [fields.Datetime.now() + timedelta(seconds=3), self.c1.id],
        )
        self.env.invalidate_all()
        silence = self.values()[
            ("logistics_backend_event_silence_seconds", frozenset({("backend", "db_c1")}))
        ]
        self.assertGreaterEqual(silence, 0)


@tagged("post_install", "-at_install")
class TestReview15Health(HttpCase):
    def test_a_repeated_check_parameter_is_not_silently_dropped(self):
        """A probe configured as ``/logistics/health?check=database&check=circuits`` (two
        checks, as one writes repeated query parameters) gets 200 "pass" while a production
        backend's circuit is open: only the first ``check`` runs, the second is ignored
        without a word (Odoo keeps the first value of a repeated parameter)."""
        self.env["logistics.backend"].sudo().create(
            {
                "name": "Review Carrier",
                "code": "review15_carrier",
                "kind": "carrier",
                "environment": "production",
                "circuit_state": "open",
                "circuit_opened_at": fields.Datetime.now(),
            }
        )
        self.assertEqual(self.url_open("/logistics/health?check=circuits").status_code, 503)
        response = self.url_open("/logistics/health?check=database&check=circuits")
        self.assertNotEqual(response.status_code, 200, response.text)


@tagged("post_install", "-at_install")
class TestReview15CounterRace(TransactionCase):
    """Needs transactions of its own (a refresh, an ingest and scrapes that see each other's
    commits): it commits, and puts back the daily counters and their parameters after."""

    SHIPMENT = "SHP/REVIEW15/RACE"
    EVENT = "review15-race-event"

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT day, counter, backend_id, company_id, key, count, total"
                " FROM logistics_counter_day"
            )
            self.saved_rows = cr.fetchall()
            cr.execute(
                "SELECT key, value FROM ir_config_parameter WHERE key LIKE %s",
                ["logistics_monitoring.counter_day_%"],
            )
            self.saved_params = cr.fetchall()
        self.addCleanup(self.restore)

    def restore(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM logistics_event WHERE source_event_id = %s", [self.EVENT])
            cr.execute("DELETE FROM logistics_shipment WHERE name = %s", [self.SHIPMENT])
            cr.execute("DELETE FROM logistics_counter_day")
            for row in self.saved_rows:
                cr.execute(
                    "INSERT INTO logistics_counter_day"
                    " (day, counter, backend_id, company_id, key, count, total)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    row,
                )
            cr.execute(
                "DELETE FROM ir_config_parameter WHERE key LIKE %s",
                ["logistics_monitoring.counter_day_%"],
            )
            for key, value in self.saved_params:
                cr.execute(
                    "INSERT INTO ir_config_parameter (key, value) VALUES (%s, %s)", [key, value]
                )
        self.registry.clear_cache("stable")

    def scraped(self, key):
        """The value of sample ``key`` in a scrape from a transaction of its own, as another
        Odoo worker answers it (the parameters' cache cleared, as the registry's signal
        does)."""
        self.registry.clear_cache("stable")
        with self.registry.cursor() as cr:
            exposition = api.Environment(cr, SUPERUSER_ID, {})["logistics.metric"]._scrape()
        values = {(name, labels): value for name, labels, value in samples_of(exposition.decode())}
        return values.get(key, 0)

    def test_events_total_does_not_go_down_when_an_event_commits_during_the_refresh(self):
        """Just after midnight (UTC) the first refresh of the daily counters runs; meanwhile an
        ingest that stamped its event at 23:59:59 commits. Before the refresh commits, the
        scrape counts the event (yesterday still comes from the table); once it commits,
        yesterday comes from the refresh's snapshot, which misses the event:
        ``logistics_events_total`` goes down by one until the next run, i.e. two counter
        resets for Prometheus, and an ``increase()`` of the whole total at each."""
        today = fields.Datetime.now().date()
        just_before_midnight = datetime.combine(today, time.min) - timedelta(seconds=1)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["logistics.counter.day"]._refresh()
            # The last refresh ran yesterday: yesterday's events come from the table.
            env["ir.config_parameter"].set_param(
                COUNTED_DAY, fields.Date.to_string(today - timedelta(days=1))
            )
            cr.execute("SELECT id, currency_id FROM res_company ORDER BY id LIMIT 1")
            company, currency = cr.fetchone()
            cr.execute(
                "INSERT INTO logistics_shipment"
                " (name, company_id, currency_id, status_rank, correlation_id, direction)"
                " VALUES (%s, %s, %s, 0, %s, 'outgoing') RETURNING id",
                [self.SHIPMENT, company, currency, "review15race00000000000000000000"],
            )
            shipment = cr.fetchone()[0]
            cr.execute("SELECT id FROM logistics_event_type WHERE code = 'order_released'")
            type_id = cr.fetchone()[0]
        key = (
            "logistics_events_total",
            frozenset({("backend", ""), ("type", "order_released")}),
        )
        refresh_cr = self.registry.cursor()
        # The refresh runs at 00:10, ten minutes after the event was stamped (a transaction
        # lasts at most limit_time_real, 10 minutes in setup/run's configuration).
        ten_past_midnight = datetime.combine(today, time(0, 10))
        try:
            # The refresh takes its snapshot and counts...
            with patch.object(fields.Datetime, "now", return_value=ten_past_midnight):
                api.Environment(refresh_cr, SUPERUSER_ID, {})["logistics.counter.day"]._refresh()
            # ... while the late ingest commits.
            with self.registry.cursor() as cr:
                cr.execute(
                    "INSERT INTO logistics_event (shipment_id, type_id, source_event_id, state,"
                    " occurred_at, recorded_at) VALUES (%s, %s, %s, 'applied', %s, %s)",
                    [shipment, type_id, self.EVENT, just_before_midnight, just_before_midnight],
                )
            before = self.scraped(key)
            refresh_cr.commit()
        finally:
            refresh_cr.close()
        after = self.scraped(key)
        self.assertGreaterEqual(after, before, "logistics_events_total went down")
