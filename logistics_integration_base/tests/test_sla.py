from datetime import datetime, timedelta

from odoo import Command, fields
from odoo.exceptions import ValidationError

from .common import LogisticsCase

T0 = datetime(2026, 3, 6, 18, 0, 0)  # a Friday, 18:00 UTC


class SlaCase(LogisticsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The policies shipped as data watch these tests' shipments too: each test says what
        # it watches.
        cls.env["logistics.sla.policy"].search([]).active = False

    def event_type(self, code):
        return self.env.ref(f"logistics_integration_base.event_type_{code}")

    def policy(self, **values):
        defaults = {
            "name": "WMS acknowledges within 30 minutes",
            "code": "t_ack",
            "kind": "within",
            "start_type_id": self.event_type("order_released").id,
            "target_type_id": self.event_type("wms_acknowledged").id,
            "duration_minutes": 30,
            "exception_type_id": self.env.ref(
                "logistics_integration_base.exception_type_delayed_ack"
            ).id,
        }
        return self.env["logistics.sla.policy"].create(dict(defaults, **values))

    def silence_policy(self):
        return self.policy(
            name="Tracking moves every 48 hours",
            code="t_silence",
            kind="silence",
            start_type_id=self.event_type("in_transit").id,
            target_type_id=self.event_type("delivered").id,
            duration_minutes=48 * 60,
            exception_type_id=self.env.ref(
                "logistics_integration_base.exception_type_missing_tracking"
            ).id,
        )

    def release(self, shipment, at, backend=None):
        shipment.sudo().wms_backend_id = backend or self.wms
        self.env["logistics.event"]._record_odoo_events(
            backend or self.wms,
            [
                {
                    "type": "order_released",
                    "occurred_at": at.isoformat() + "Z",
                    "event_id": f"rel-{shipment.id}-{at.isoformat()}",
                    "shipment_ref": shipment.name,
                }
            ],
        )

    def report(self, backend, shipment, code, at, event_id):
        result = self.ingest(
            backend,
            [
                {
                    "type": code,
                    "occurred_at": at.isoformat() + "Z",
                    "event_id": event_id,
                    "shipment_ref": shipment.name,
                }
            ],
        )
        self.assertEqual(result["accepted"], 1, result)

    def status(self, shipment, policy):
        return self.env["logistics.shipment.sla"].search(
            [("shipment_id", "=", shipment.id), ("policy_id", "=", policy.id)]
        )

    def evaluate(self, policy, at):
        return self.env["logistics.shipment.sla"]._evaluate_policy(policy, now=at)

    def other_shipment(self):
        return self.create_sale_order().picking_ids.logistics_shipment_ids


class TestSlaWithin(SlaCase):
    """ "After A, B within T": started when A arrives, at risk, breached, met."""

    def test_a_late_acknowledgement_is_at_risk_then_breached_once_then_met_late(self):
        policy = self.policy()
        self.release(self.shipment, T0)
        row = self.status(self.shipment, policy)
        self.assertEqual(row.state, "on_time")
        self.assertEqual(row.started_at, T0)
        self.assertEqual(row.due_at, T0 + timedelta(minutes=30))
        self.assertEqual(row.at_risk_at, T0 + timedelta(minutes=24))

        self.assertEqual(self.evaluate(policy, T0 + timedelta(minutes=10)), 0)
        self.assertEqual(row.state, "on_time")
        self.evaluate(policy, T0 + timedelta(minutes=25))
        self.assertEqual(row.state, "at_risk")
        self.assertFalse(self.shipment.exception_ids)

        self.assertEqual(self.evaluate(policy, T0 + timedelta(minutes=31)), 1)
        self.assertEqual(row.state, "breached")
        self.assertEqual(row.breached_at, T0 + timedelta(minutes=30))
        card = row.exception_id
        self.assertEqual(card.type_code, "delayed_ack")
        self.assertEqual(card.backend_id, self.wms)
        self.assertIn("Test WMS late", card.name)
        self.assertEqual(card.occurrence_count, 1)
        # Evaluated again: the breach is counted once.
        self.assertEqual(self.evaluate(policy, T0 + timedelta(minutes=40)), 0)
        self.assertEqual(card.occurrence_count, 1)

        self.report(self.wms, self.shipment, "wms_acknowledged", T0 + timedelta(minutes=45), "a1")
        self.assertEqual(row.state, "met")
        self.assertEqual(row.met_at, T0 + timedelta(minutes=45))
        self.assertEqual(row.breached_at, T0 + timedelta(minutes=30), "met late stays a breach")
        self.assertTrue(card.is_closed)
        self.assertTrue(card.auto_resolved)

    def test_an_acknowledgement_in_time_meets_the_promise_and_raises_nothing(self):
        policy = self.policy()
        self.release(self.shipment, T0)
        self.report(self.wms, self.shipment, "wms_acknowledged", T0 + timedelta(minutes=5), "a1")
        row = self.status(self.shipment, policy)
        self.assertEqual((row.state, row.breached_at), ("met", False))
        self.assertEqual(self.evaluate(policy, T0 + timedelta(hours=5)), 0)
        self.assertFalse(self.shipment.exception_ids)

    def test_a_release_seen_again_does_not_restart_the_clock(self):
        policy = self.policy()
        self.release(self.shipment, T0)
        self.release(self.shipment, T0 + timedelta(minutes=20))
        self.assertEqual(self.status(self.shipment, policy).started_at, T0)

    def test_a_milestone_reported_before_its_start_meets_the_promise_at_once(self):
        policy = self.policy()
        self.report(self.wms, self.shipment, "wms_acknowledged", T0 + timedelta(minutes=50), "a1")
        self.release(self.shipment, T0)
        row = self.status(self.shipment, policy)
        self.assertEqual(row.state, "met")
        self.assertEqual(row.met_at, T0 + timedelta(minutes=50))
        self.assertEqual(row.breached_at, T0 + timedelta(minutes=30))

    def test_breaches_of_one_policy_and_backend_are_one_card_that_closes_with_the_last(self):
        policy = self.policy()
        other = self.other_shipment()
        for shipment in (self.shipment, other):
            self.release(shipment, T0)
        self.assertEqual(self.evaluate(policy, T0 + timedelta(hours=1)), 2)
        card = self.status(self.shipment, policy).exception_id
        self.assertEqual(self.status(other, policy).exception_id, card)
        self.assertEqual((card.occurrence_count, card.affected_shipment_count), (2, 2))

        self.report(self.wms, self.shipment, "wms_acknowledged", T0 + timedelta(hours=2), "a1")
        self.assertFalse(card.is_closed, "the other shipment is still late")
        self.report(self.wms, other, "wms_acknowledged", T0 + timedelta(hours=2), "a2")
        self.assertTrue(card.is_closed)

    def test_working_time_moves_a_friday_evening_release_to_monday(self):
        calendar = self.env["resource.calendar"].create({"name": "Weekdays 8-17 UTC", "tz": "UTC"})
        policy = self.policy(calendar_id=calendar.id)
        self.release(self.shipment, T0)
        row = self.status(self.shipment, policy)
        monday = datetime(2026, 3, 9)
        self.assertEqual(row.due_at, monday.replace(hour=8, minute=30))
        self.assertEqual(row.at_risk_at, monday.replace(hour=8, minute=24))
        self.assertEqual(self.evaluate(policy, datetime(2026, 3, 8, 23, 0)), 0, "Sunday night")

    def test_working_time_counts_as_odoos_plan_hours_with_public_holidays(self):
        """The batch computation reads the calendar once and agrees with
        ``resource.calendar.plan_hours`` (``compute_leaves``), public holiday included."""
        calendar = self.env["resource.calendar"].create({"name": "Weekdays 8-17 UTC", "tz": "UTC"})
        self.env["resource.calendar.leaves"].create(
            {
                "name": "Public holiday",
                "calendar_id": calendar.id,
                "date_from": datetime(2026, 3, 10, 0, 0),
                "date_to": datetime(2026, 3, 10, 23, 59),
            }
        )
        policy = self.policy(calendar_id=calendar.id, duration_minutes=24 * 60)
        starts = [T0 + timedelta(minutes=97 * n) for n in range(150)]  # 10 days, odd minutes
        due_times = policy._due_times(starts)
        for start in starts:
            self.assertEqual(
                due_times[start],
                (
                    calendar.plan_hours(24, start, compute_leaves=True),
                    calendar.plan_hours(24 * 0.8, start, compute_leaves=True),
                ),
                start,
            )

    def test_scope_by_backend_warehouse_and_channel(self):
        other_wms = self.env["logistics.backend"].create(
            {"name": "Other WMS", "code": "t_wms2", "kind": "wms"}
        )
        team = self.env["crm.team"].create({"name": "Marketplace"})
        warehouse = self.shipment.warehouse_id
        by_backend = self.policy(code="t_b", backend_id=other_wms.id)
        by_warehouse = self.policy(code="t_w", warehouse_id=warehouse.id)
        by_channel = self.policy(code="t_c", channel_id=team.id)
        self.shipment.sudo().wms_backend_id = self.wms
        self.release(self.shipment, T0)
        self.assertFalse(self.status(self.shipment, by_backend))
        self.assertTrue(self.status(self.shipment, by_warehouse))
        self.assertFalse(self.status(self.shipment, by_channel))

        sale = self.create_sale_order()
        self.assertTrue(sale.team_id, "a confirmed order has a sales team")
        sale2 = self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "team_id": team.id,
                "order_line": [Command.create({"product_id": self.product.id})],
            }
        )
        sale2.action_confirm()
        shipment = sale2.picking_ids.logistics_shipment_ids
        self.assertEqual(shipment.channel_id, team)
        self.release(shipment, T0)
        self.assertTrue(self.status(shipment, by_channel))

    def test_a_policy_needs_its_time_and_milestone(self):
        with self.assertRaises(ValidationError):
            self.policy(duration_minutes=0)
        with self.assertRaises(ValidationError):
            self.policy(code="t_2", target_type_id=False)


class TestSlaSilenceAndPromise(SlaCase):
    """A carrier event at least every T (silence), and B by the promised date."""

    def test_silent_tracking_breaches_and_the_next_scan_clears_it(self):
        policy = self.silence_policy()
        # Recent times: a scan restarts a clock only when its new due time is ahead of now.
        T0 = fields.Datetime.now().replace(microsecond=0) - timedelta(hours=70)
        self.shipment.sudo().carrier_backend_id = self.carrier
        self.report(self.carrier, self.shipment, "in_transit", T0, "t1")
        row = self.status(self.shipment, policy)
        self.assertEqual(row.due_at, T0 + timedelta(hours=48))
        self.report(self.carrier, self.shipment, "in_transit", T0 + timedelta(hours=30), "t2")
        self.assertEqual(row.due_at, T0 + timedelta(hours=78), "a scan restarts the clock")

        self.assertEqual(self.evaluate(policy, T0 + timedelta(hours=80)), 1)
        card = row.exception_id
        self.assertEqual((card.type_code, card.backend_id), ("missing_tracking", self.carrier))
        self.report(self.carrier, self.shipment, "out_for_delivery", T0 + timedelta(hours=81), "t3")
        self.assertEqual(row.state, "on_time")
        self.assertEqual(row.due_at, T0 + timedelta(hours=81 + 48))
        self.assertTrue(card.is_closed)

        # At risk again: the first breach stays on record.
        self.evaluate(policy, T0 + timedelta(hours=81 + 40))
        self.assertEqual(row.state, "at_risk")
        self.assertEqual(row.breached_at, T0 + timedelta(hours=78))
        self.report(self.carrier, self.shipment, "delivered", T0 + timedelta(hours=85), "t4")
        self.assertEqual(row.state, "met")
        self.assertEqual(row.breached_at, T0 + timedelta(hours=78), "the silence broke once")

    def test_delivery_after_the_promised_date_breaches(self):
        policy = self.env.ref("logistics_integration_base.sla_policy_promised_delivery")
        policy.active = True
        self.shipment.promised_date = T0 + timedelta(days=2)
        self.ingest_shipped(T0)
        row = self.status(self.shipment, policy)
        self.assertEqual(row.due_at, T0 + timedelta(days=2))
        self.assertEqual(row.at_risk_at, T0 + timedelta(hours=48 * 0.8))
        self.assertEqual(self.evaluate(policy, T0 + timedelta(days=3)), 1)
        self.assertEqual(row.exception_id.type_code, "delivery_late")

    def test_nothing_promised_is_never_late(self):
        policy = self.env.ref("logistics_integration_base.sla_policy_promised_delivery")
        policy.active = True
        self.shipment.promised_date = False
        self.ingest_shipped(T0)
        self.assertFalse(self.status(self.shipment, policy))

    def ingest_shipped(self, at):
        self.report(self.wms, self.shipment, "shipped", at, "s1")

    def test_the_timeline_reads_due_times_from_the_policies(self):
        policy = self.policy()
        self.release(self.shipment, T0)
        due = self.shipment.with_user(self.user)._expected_milestone_due()
        self.assertEqual(
            due[self.shipment.id]["wms_acknowledged"], T0 + timedelta(minutes=30), policy.name
        )


class TestSlaPublished(SlaCase):
    """ "A milestone published to a sales channel → dispatch_confirmed within 15 minutes": the
    clock starts only where a channel subscribes to the milestone."""

    def test_the_channel_clock_starts_only_for_milestones_a_channel_subscribes_to(self):
        policy = self.env.ref("logistics_integration_base.sla_policy_channel_confirmation")
        policy.active = True
        self.report(self.wms, self.shipment, "shipped", T0, "s1")
        self.assertFalse(self.status(self.shipment, policy), "no channel subscribes")

        channel = self.env["logistics.backend"].create(
            {"name": "Marketplace", "code": "t_market", "kind": "channel"}
        )
        self.env["logistics.subscription"].create(
            {
                "backend_id": channel.id,
                "event_type_ids": [Command.set(self.event_type("shipped").ids)],
            }
        )
        other = self.other_shipment()
        self.report(self.wms, other, "shipped", T0, "s2")
        row = self.status(other, policy)
        self.assertEqual(row.due_at, T0 + timedelta(minutes=15))
        self.report(channel, other, "dispatch_confirmed", T0 + timedelta(minutes=3), "c1")
        self.assertEqual((row.state, row.breached_at), ("met", False))
