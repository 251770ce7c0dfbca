"""Review of the SLA policies (issue 14 §1): each test demonstrates one finding of the review
and fails while the defect is there. The finding is named in the test's docstring."""

import uuid
from datetime import timedelta

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase

from .test_sla import T0, SlaCase


class TestSlaReview(SlaCase):
    def ack_policy(self, **values):
        return self.policy(**values)

    def open_cards(self, shipment, code):
        return self.env["logistics.exception"].search(
            [
                ("occurrence_ids.shipment_id", "=", shipment.id),
                ("type_code", "=", code),
                ("is_closed", "=", False),
            ]
        )

    # --- F1: clocks never stop when the shipment ends without B ---------------------------------
    def test_f1_a_cancelled_order_is_not_late_for_its_acknowledgement(self):
        """F1: an SLA clock keeps running after the shipment reached a final status other than
        B (cancelled, returned): a release cancelled five minutes later breaches the
        acknowledgement policy 30 minutes after and raises delayed_ack for a cancelled order
        (the former cron only looked at shipments still in status order_released)."""
        policy = self.ack_policy()
        self.release(self.shipment, T0)
        self.env["logistics.event"]._record_odoo_events(
            self.wms,
            [
                {
                    "type": "cancelled",
                    "occurred_at": (T0 + timedelta(minutes=5)).isoformat() + "Z",
                    "event_id": f"odoo-cancel-{self.shipment.id}",
                    "shipment_ref": self.shipment.name,
                }
            ],
        )
        self.assertEqual(self.shipment.status_code, "cancelled")
        self.assertEqual(self.evaluate(policy, T0 + timedelta(hours=1)), 0, "cancelled: not late")
        self.assertFalse(self.open_cards(self.shipment, "delayed_ack"))

    def test_f1_a_returned_parcel_does_not_go_silent(self):
        """F1: a parcel in transit that is returned to the sender (final status returned, never
        delivered) keeps its tracking-silence clock: 48 hours after the return it raises
        missing_tracking, and again after every later carrier event."""
        policy = self.silence_policy()
        self.shipment.sudo().carrier_backend_id = self.carrier
        self.report(self.carrier, self.shipment, "in_transit", T0, "t1")
        self.report(self.carrier, self.shipment, "returning", T0 + timedelta(hours=5), "t2")
        self.report(self.carrier, self.shipment, "returned", T0 + timedelta(hours=30), "t3")
        self.assertEqual(self.shipment.status_code, "returned")
        self.assertEqual(self.evaluate(policy, T0 + timedelta(days=5)), 0, "returned: not silent")

    # --- F2: a B that skips the expected milestone never closes the card -------------------------
    def test_f2_a_wms_that_ships_without_acknowledging_clears_delayed_ack(self):
        """F2: the breach card closes only on the policy's exact B. A WMS that goes straight to
        picked/shipped without sending wms_acknowledged leaves the delayed_ack card open and
        the row breached for ever, although delayed_ack's resolving milestones (catalogue
        data: wms_acknowledged, picked, packed, shipped) say the shipment moved on, and
        ``_auto_resolve_exceptions`` now skips grouped cards (logistics_event.py:902)."""
        policy = self.ack_policy()
        self.release(self.shipment, T0)
        self.assertEqual(self.evaluate(policy, T0 + timedelta(hours=1)), 1)
        card = self.status(self.shipment, policy).exception_id
        self.report(self.wms, self.shipment, "shipped", T0 + timedelta(hours=2), "s1")
        self.assertEqual(self.shipment.status_code, "shipped")
        self.assertTrue(card.is_closed, "the WMS shipped: delayed_ack is moot")

    # --- F3: a stale carrier event un-breaches a silence clock -----------------------------------
    def test_f3_a_stale_carrier_event_does_not_clear_a_silence_that_is_still_broken(self):
        """F3: ``_sla_restart_silence`` sets the row back to on_time and closes its card
        whatever the new due time: a scan of long ago delivered late (a carrier's backlog)
        restarts the clock to a due time already past. The card closes ("tracking came
        back"), and the next cron run raises a second card for the same silence."""
        policy = self.silence_policy()
        now = fields.Datetime.now().replace(microsecond=0)
        start = now - timedelta(days=4)
        self.shipment.sudo().carrier_backend_id = self.carrier
        self.report(self.carrier, self.shipment, "in_transit", start, "t1")
        self.assertEqual(self.evaluate(policy, now), 1)
        row = self.status(self.shipment, policy)
        card = row.exception_id
        # The carrier's backlog: a scan of one hour after the start, delivered now.
        self.report(self.carrier, self.shipment, "in_transit", start + timedelta(hours=1), "t2")
        self.assertLess(row.due_at, now, "the restarted clock is already past due")
        self.assertEqual(row.state, "breached", "still silent for more than 48 hours")
        self.assertFalse(card.is_closed, "the tracking has not come back")
        self.evaluate(policy, now + timedelta(minutes=1))
        self.assertEqual(len(self.open_cards(self.shipment, "missing_tracking") | card), 1)

    # --- F4: a policy's calendar can make ingest refuse milestones -------------------------------
    def test_f4_a_calendar_without_working_time_does_not_reject_milestones(self):
        """F4: ``_working_due_times`` raises ValidationError inside ``_ingest`` when the
        policy's calendar has no working time (a calendar emptied, or one whose attendances are
        all removed): every event A of every backend is then rejected ("not applied") and the
        shipment status does not move; a release recorded by Odoo raises. A configuration
        mistake of an SLA policy must not stop the flow."""
        calendar = self.env["resource.calendar"].create({"name": "No hours", "tz": "UTC"})
        policy = self.policy(
            code="t_dispatch",
            start_type_id=self.event_type("wms_acknowledged").id,
            target_type_id=self.event_type("shipped").id,
            calendar_id=calendar.id,
        )
        # A calendar can't be chosen without working hours; one emptied later counts around
        # the clock.
        calendar.attendance_ids = [Command.clear()]
        result = self.ingest(
            self.wms,
            [
                {
                    "type": "wms_acknowledged",
                    "occurred_at": T0.isoformat() + "Z",
                    "event_id": "a1",
                    "shipment_ref": self.shipment.name,
                }
            ],
        )
        self.assertEqual((result["accepted"], result["rejected"]), (1, []), result)
        self.assertEqual(self.shipment.status_code, "wms_acknowledged")
        self.assertEqual(self.status(self.shipment, policy).due_at, T0 + timedelta(minutes=30))
        with self.assertRaises(ValidationError):
            self.policy(code="t_empty", calendar_id=calendar.id)

    # --- F5: the default promised-date policy breaches every ordinary order ----------------------
    def test_f5_an_order_without_a_commitment_is_not_late_when_shipped(self):
        """F5: the shipped data policy *Delivered by the promised date* is active and reads
        ``promised_date``, which a shipment takes from the picking's deadline: for an order
        without a commitment date and products without a customer lead time (Odoo's default),
        that is the order's confirmation time. Every such shipment is breached
        (delivery_late) at the first cron run after it ships, before a carrier could deliver
        it."""
        policy = self.env.ref("logistics_integration_base.sla_policy_promised_delivery")
        policy.active = True
        sale = self.create_sale_order()
        shipment = sale.picking_ids.logistics_shipment_ids
        self.assertFalse(sale.commitment_date)
        shipped_at = fields.Datetime.now().replace(microsecond=0) + timedelta(hours=1)
        self.report(self.wms, shipment, "shipped", shipped_at, "s1")
        self.assertFalse(shipment.promised_date, "the order promised no date")
        row = self.status(shipment, policy)
        self.evaluate(policy, shipped_at + timedelta(minutes=1))
        self.assertNotEqual(
            row.state or "not watched",
            "breached",
            f"nothing was promised but the order date ({shipment.promised_date}); "
            "one minute after shipping it is not late",
        )

    # --- F8: the channel confirmation is raised twice --------------------------------------------
    def test_f8_an_unconfirmed_publication_raises_dispatch_confirmation_failed_once(self):
        """F8: the channel-confirmation policy raises dispatch_confirmation_failed (grouped,
        without the channel backend: its owner is the channel and the policy has no backend)
        and the publication that goes dead raises it again for the same shipment
        (``logistics.message._on_dead_publish_milestone``): two cards for one unconfirmed
        dispatch."""
        policy = self.env.ref("logistics_integration_base.sla_policy_channel_confirmation")
        policy.active = True
        channel = self.env["logistics.backend"].create(
            {"name": "Marketplace", "code": "t_market", "kind": "channel"}
        )
        self.env["logistics.subscription"].create(
            {
                "backend_id": channel.id,
                "event_type_ids": [Command.set(self.event_type("shipped").ids)],
            }
        )
        self.report(self.wms, self.shipment, "shipped", T0, "s1")
        publication = self.env["logistics.message"].search(
            [("backend_id", "=", channel.id), ("shipment_id", "=", self.shipment.id)]
        )
        self.assertEqual(len(publication), 1)
        publication._on_dead_publish_milestone(None)
        self.evaluate(policy, T0 + timedelta(hours=1))
        self.assertEqual(
            len(self.open_cards(self.shipment, "dispatch_confirmation_failed")),
            1,
            "one unconfirmed dispatch, one card",
        )


class TestSlaReviewTimes(SlaCase):
    def test_f9_an_earlier_copy_of_a_arriving_later_moves_the_start(self):
        """F9 (minor): the first A *to arrive* starts the clock, not the earliest A: a release
        recorded at 18:20 and then, in a later batch, the same shipment's release of 18:00
        (a WMS or Odoo resending out of order) keeps started_at 18:20, so the promise is due
        20 minutes late. The README says only that "a later copy of A changes nothing"."""
        policy = self.policy()
        self.release(self.shipment, T0 + timedelta(minutes=20))
        self.release(self.shipment, T0)
        self.assertEqual(self.status(self.shipment, policy).started_at, T0)


class TestSlaReviewScope(SlaCase):
    def test_f10_a_policy_scoped_to_the_shipments_backend_starts(self):
        """F10: ``_sla_start`` tests the scope in raw SQL (logistics_sla_evaluation.py:116-160)
        without flushing the shipment: a scope field written by the ORM earlier in the same
        transaction (here the shipment's WMS backend, set just before the release is
        recorded) is not seen, and a policy scoped to that backend never starts. The same
        holds for the promised date, warehouse and channel."""
        policy = self.policy(code="t_scoped", backend_id=self.wms.id)
        self.release(self.shipment, T0)  # writes wms_backend_id, then records the release
        self.assertEqual(self.shipment.wms_backend_id, self.wms)
        self.assertTrue(self.status(self.shipment, policy), "the shipment is the WMS's")

    def test_f10_control_the_same_scope_starts_once_flushed(self):
        """Control for F10 (passes): with the shipment flushed, the scoped policy starts."""
        policy = self.policy(code="t_scoped", backend_id=self.wms.id)
        self.shipment.sudo().wms_backend_id = self.wms
        self.env.flush_all()
        self.release(self.shipment, T0)
        self.assertTrue(self.status(self.shipment, policy))


class TestSlaReviewConcurrency(TransactionCase):
    """Two real transactions on their own cursors (committed, then cleaned up): the test's
    own transaction cannot show what one transaction does not see of another."""

    def carrier_event(self, env, code, at, name):
        result = env["logistics.event"].ingest_events(
            "sandbox_carrier",
            [
                {
                    "type": code,
                    "occurred_at": at.isoformat() + "Z",
                    "event_id": f"{name}-{code}",
                    "shipment_ref": name,
                }
            ],
        )
        self.assertEqual(result["accepted"], 1, result)

    def test_f11_a_late_a_concurrent_with_b_still_meets_the_promise(self):
        """F11: a late A and B in concurrent transactions. The carrier's webhooks come in
        parallel workers, out of order: tracking_published is in; label_created (A of *Carrier
        scans a labelled parcel within 24 hours*, now arriving late: it does not move the
        status, so its transaction writes no shipment row) and in_transit (B) are ingested at
        the same time. B's ``_sla_meet`` finds no row yet; A's ``_sla_start`` looks B up in
        logistics_event (the late-A LATERAL) in its REPEATABLE READ snapshot, which does not
        see B: the row starts on_time, breaches 24 hours later and raises delayed_pickup that
        nothing closes (B is already in). When A moves the status, the two status UPDATEs
        collide and Odoo retries; here nothing collides."""
        registry = self.registry
        name = f"SLA-RACE-{uuid.uuid4().hex[:8]}"
        with registry.cursor() as cr0:
            env0 = api.Environment(cr0, SUPERUSER_ID, {})
            carrier = env0["logistics.backend"].search([("code", "=", "sandbox_carrier")])
            policy = env0.ref("logistics_carrier_connector.sla_policy_first_scan")
            self.assertTrue(policy.active)
            shipment_id = (
                env0["logistics.shipment"]
                .create({"name": name, "carrier_backend_id": carrier.id})
                .id
            )
            self.carrier_event(env0, "tracking_published", T0 + timedelta(minutes=1), name)
        try:
            with registry.cursor() as cr1:
                env1 = api.Environment(cr1, SUPERUSER_ID, {})
                cr1.execute("SELECT 1")  # the worker ingesting A has begun
                with registry.cursor() as cr2:  # B, committed meanwhile by another worker
                    env2 = api.Environment(cr2, SUPERUSER_ID, {})
                    self.carrier_event(env2, "in_transit", T0 + timedelta(hours=2), name)
                self.carrier_event(env1, "label_created", T0, name)
            # The evaluation cron, in a transaction of its own after both: the row is met
            # (late, by the in_transit that A's transaction could not see), not breached.
            with registry.cursor() as cr4:
                env4 = api.Environment(cr4, SUPERUSER_ID, {})
                Sla = env4["logistics.shipment.sla"]
                Sla._evaluate_policy(policy.with_env(env4), now=T0 + timedelta(hours=25))
                row = Sla.search([("shipment_id", "=", shipment_id), ("policy_id", "=", policy.id)])
                state, card = row.state, row.exception_id
                cr4.rollback()
        finally:
            with registry.cursor() as cr3:
                api.Environment(cr3, SUPERUSER_ID, {})["logistics.shipment"].browse(
                    shipment_id
                ).unlink()
        self.assertEqual(state, "met", "in_transit is in: the promise is met")
        self.assertFalse(card)
