"""The monitoring history generator (setup/monitoring_history.py, used by `setup/bench
monitoring` and `setup/run`'s demo) at a tiny scale: the data it writes is what the flow would
have left, and Odoo reads it normally."""

import importlib.util
from datetime import timedelta
from pathlib import Path

from odoo import fields
from odoo.tests import TransactionCase, tagged


def load_generator():
    path = Path(__file__).resolve().parents[2] / "setup" / "monitoring_history.py"
    spec = importlib.util.spec_from_file_location("monitoring_history", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestHistoryGenerator(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.history = load_generator()
        cls.scope = cls.history.demo_scope(cls.env)
        cls.scope.prefix = "TST/"
        cls.sizes = cls.history.Sizes(
            shipments=200, events=2500, messages=600, exceptions=60, days=10
        )
        cls.end = fields.Datetime.now() - timedelta(minutes=1)
        cls.counts = cls.history.generate(cls.env, cls.scope, cls.sizes, end=cls.end)
        cls.shipments = cls.env["logistics.shipment"].search([("name", "=like", "TST/%")])

    def query(self, sql, *params):
        self.env.flush_all()
        self.env.cr.execute(sql, params)
        return self.env.cr.fetchall()

    def test_sizes(self):
        self.assertEqual(len(self.shipments), 200)
        self.assertEqual(self.counts["events"], 2500)
        (events, messages, late), *_ = self.query(
            "SELECT (SELECT count(*) FROM logistics_event e WHERE e.shipment_id = ANY(%s)),"
            " (SELECT count(*) FROM logistics_message m WHERE m.shipment_id = ANY(%s)),"
            " (SELECT count(*) FROM logistics_event e WHERE e.shipment_id = ANY(%s)"
            "   AND e.state = 'arrived_late')",
            self.shipments.ids,
            self.shipments.ids,
            self.shipments.ids,
        )
        self.assertEqual(events, 2500)
        self.assertEqual(messages, 600)
        self.assertTrue(late, "some carrier scans arrive after a later milestone")
        self.assertEqual(self.counts["exceptions"], 60)

    def test_events_follow_the_progression(self):
        """Each shipment's main milestones occur in rank order, from their system of record,
        before the end of the history, and its status is its latest applied milestone."""
        wrong_order = self.query(
            """
            SELECT e.shipment_id
              FROM logistics_event e JOIN logistics_event_type t ON t.id = e.type_id
             WHERE e.shipment_id = ANY(%s) AND t.rank > 0 AND e.state = 'applied'
             GROUP BY e.shipment_id
            HAVING array_agg(t.rank ORDER BY e.occurred_at, t.rank)
                   != array_agg(t.rank ORDER BY t.rank, e.occurred_at)
            """,
            self.shipments.ids,
        )
        self.assertFalse(wrong_order)
        (future,), *_ = self.query(
            "SELECT count(*) FROM logistics_event WHERE shipment_id = ANY(%s)"
            " AND (occurred_at > %s OR recorded_at < occurred_at)",
            self.shipments.ids,
            self.end,
        )
        self.assertEqual(future, 0)
        wrong_source = self.query(
            """
            SELECT e.id FROM logistics_event e
              JOIN logistics_event_type t ON t.id = e.type_id
              JOIN logistics_shipment s ON s.id = e.shipment_id
             WHERE s.id = ANY(%s) AND e.backend_id IS DISTINCT FROM CASE
                   WHEN t.code = 'order_released' THEN NULL
                   WHEN t.code IN ('wms_acknowledged', 'picked', 'packed', 'shipped')
                   THEN s.wms_backend_id
                   WHEN t.code = 'dispatch_confirmed' THEN %s
                   ELSE s.carrier_backend_id END
            """,
            self.shipments.ids,
            self.scope.channel_backend_id,
        )
        self.assertFalse(wrong_source)
        for shipment in self.shipments[:40]:
            latest = self.env["logistics.event"].search(
                [
                    ("shipment_id", "=", shipment.id),
                    ("state", "=", "applied"),
                    ("type_id.sets_status", "=", True),
                ],
                order="occurred_at desc, id desc",
                limit=1,
            )
            self.assertEqual(shipment.status_id, latest.type_id, shipment.name)
            self.assertEqual(shipment.status_at, latest.occurred_at)
            self.assertEqual(shipment.status_code == "delivered", bool(shipment.delivered_at))

    def test_sla_rows_match_the_events(self):
        """A row per shipment and policy whose A occurred; started at A (the last carrier
        event for a silence policy), met at B's first occurrence, due as the policy computes
        it, and breached or at risk as the cron left them an hour ago."""
        Sla = self.env["logistics.shipment.sla"]
        rows = Sla.search([("shipment_id", "in", self.shipments.ids)])
        self.assertTrue(rows)
        Event = self.env["logistics.event"]
        evaluated = self.end - timedelta(minutes=self.sizes.sla_lag_minutes)
        policies = rows.policy_id
        self.assertGreaterEqual(len(policies), 5, "every default policy has rows")
        for policy in policies:
            (with_a,), *_ = self.query(
                "SELECT count(DISTINCT shipment_id) FROM logistics_event"
                " WHERE type_id = %s AND shipment_id = ANY(%s)",
                policy.start_type_id.id,
                self.shipments.ids,
            )
            # Every generated shipment has a promised date, and the demo's sales channel
            # subscribes to the shipped milestone: every A starts a row.
            self.assertEqual(len(rows.filtered(lambda r, p=policy: r.policy_id == p)), with_a)
        for row in rows[:300]:
            policy, shipment = row.policy_id, row.shipment_id
            a = Event.search(
                [("shipment_id", "=", shipment.id), ("type_id", "=", policy.start_type_id.id)],
                order="occurred_at",
                limit=1,
            )
            b = Event.search(
                [("shipment_id", "=", shipment.id), ("type_id", "=", policy.target_type_id.id)],
                order="occurred_at",
                limit=1,
            )
            if policy.kind == "silence":
                self.assertGreaterEqual(row.started_at, a.occurred_at)
                due, at_risk = policy._due_times([row.started_at])[row.started_at]
            elif policy.kind == "promised":
                self.assertEqual(row.started_at, a.occurred_at)
                due = shipment.promised_date
                at_risk = a.occurred_at + max(due - a.occurred_at, timedelta(0)) * (
                    policy.at_risk_ratio
                )
            else:
                self.assertEqual(row.started_at, a.occurred_at)
                due, at_risk = policy._due_times([a.occurred_at])[a.occurred_at]
            self.assertAlmostEqual(row.due_at, due, delta=timedelta(seconds=1), msg=policy.code)
            self.assertAlmostEqual(row.at_risk_at, at_risk, delta=timedelta(seconds=1))
            self.assertEqual(row.met_at, b.occurred_at or False)
            if b:
                self.assertEqual(row.state, "met")
                self.assertEqual(bool(row.breached_at), b.occurred_at > row.due_at)
            elif row.due_at <= evaluated:
                self.assertEqual((row.state, row.breached_at), ("breached", row.due_at))
            elif row.at_risk_at <= evaluated:
                self.assertEqual(row.state, "at_risk")
            else:
                self.assertEqual(row.state, "on_time")

    def test_breaches_are_occurrences_of_their_policy_card(self):
        rows = self.env["logistics.shipment.sla"].search(
            [("shipment_id", "in", self.shipments.ids), ("breached_at", "!=", False)]
        )
        self.assertTrue(rows.filtered(lambda r: r.state == "breached"))
        for row in rows:
            card = row.exception_id
            self.assertEqual(card.type_id, row.policy_id.exception_type_id)
            self.assertEqual(card.is_closed, row.state == "met")
            self.assertIn(row.shipment_id, card.occurrence_ids.shipment_id)
            self.assertEqual(card.occurrence_count, len(card.occurrence_ids))
        open_cards = rows.filtered(lambda r: r.state == "breached").exception_id
        self.assertEqual(
            len(open_cards), len(set(open_cards.mapped("grouping_key"))), "one open card a key"
        )

    def test_orm_reads_the_history(self):
        """Records read through the ORM as any: the board's computed fields, the messages'
        names, the shipments' counts; the SLA cron works on the generated rows."""
        exceptions = self.env["logistics.exception"].search(
            [("shipment_id", "in", self.shipments.ids)]
        )
        self.assertTrue(exceptions.filtered("is_closed"))
        self.assertTrue(exceptions.filtered(lambda e: not e.is_closed))
        values = exceptions.read(
            ["name", "stage_id", "severity", "board_actions", "impact_amount", "user_id"]
        )
        self.assertTrue(all(value["name"] and value["stage_id"] for value in values))
        messages = self.env["logistics.message"].search([("shipment_id", "in", self.shipments.ids)])
        states = set(messages.mapped("state"))
        self.assertLessEqual(states, {"done", "dead", "retrying", "rejected"})
        self.assertIn("dead", states)
        self.assertTrue(all(messages.mapped("operation_name")))
        self.assertTrue(all(m.attempt_ids for m in messages if m.direction == "outbound"))
        shipment = self.shipments.filtered(lambda s: s.status_code == "delivered")[:1]
        self.assertEqual(shipment.event_count, len(shipment.event_ids))
        breached = self.env["logistics.shipment.sla"].sudo()._cron_evaluate()
        self.assertGreaterEqual(breached, 0)
        self.assertFalse(
            self.env["logistics.shipment.sla"].search(
                [
                    ("shipment_id", "in", self.shipments.ids),
                    ("state", "in", ("on_time", "at_risk")),
                    ("due_at", "<=", fields.Datetime.now()),
                ]
            ),
            "the cron moved every row whose time had come",
        )

    def test_timeline_of_a_generated_shipment(self):
        shipment = self.shipments.filtered(lambda s: s.status_code == "delivered")[:1]
        timeline = self.env["logistics.shipment"].get_timeline(shipment.name)
        self.assertTrue(timeline["found"])
        self.assertEqual([s["id"] for s in timeline["shipments"]], shipment.ids)
        events = {e["res_id"] for e in timeline["entries"] if e["kind"] == "event"}
        self.assertEqual(events, set(shipment.event_ids.ids))
        messages = {e["res_id"] for e in timeline["entries"] if e["kind"] == "message"}
        self.assertTrue(messages)
        first_event = next(e for e in timeline["entries"] if e["kind"] == "event")
        self.assertEqual(first_event["type_code"], "order_released")

    def test_demo_history_is_written_once(self):
        """Once per database, next to what is there (the open breach cards the first history
        raised count the new breaches)."""
        sizes = self.history.Sizes(shipments=20, events=200, messages=60, exceptions=5, days=3)
        counts = self.history.load_demo_history(self.env, sizes)
        self.assertEqual(counts["shipments"], 20)
        self.assertIsNone(self.history.load_demo_history(self.env, sizes))
        self.assertEqual(
            self.env["logistics.shipment"].search_count([("name", "=like", "HIST/%")]), 20
        )
        open_cards = self.env["logistics.exception"].search(
            [("grouping_key", "=like", "%|sla:%"), ("is_closed", "=", False)]
        )
        for card in open_cards:
            self.assertEqual(card.occurrence_count, len(card.occurrence_ids), card.name)
