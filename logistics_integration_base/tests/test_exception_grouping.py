import threading
import time
import uuid

from psycopg2 import errors

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, get_db_name

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from .common import LogisticsCase
from .partner_server import LoopbackPartnerMixin, ScriptedPartner


class TestExceptionGrouping(LoopbackPartnerMixin, LogisticsCase):
    """Exceptions grouped by root cause, partner-level exceptions, inhibition and recovery,
    against a real HTTP partner on 127.0.0.1 (issue 13, DESIGN §5)."""

    def setUp(self):
        super().setUp()
        self.partner = ScriptedPartner().__enter__()
        self.addCleanup(self.partner.__exit__)
        self.wms.write({"base_url": self.partner.url, "auth_type": "api_key", "max_attempts": 3})
        self.wms.api_key = "sk_wms_first"
        self.integration = self.env.ref("logistics_integration_base.team_integration")
        self.integration.member_ids = self.user
        self.Exception = self.env["logistics.exception"]
        self.shipments = self.shipment | self.create_sale_order().picking_ids.logistics_shipment_ids

    def send(self, count, shipments=None):
        """Create ``count`` outbound messages (shipments in turn) and run their delivery jobs
        until none is left (jobs that wait on the backend are left waiting)."""
        shipments = shipments or self.shipments
        with trap_jobs() as trap:
            messages = self.env["logistics.message"]
            for number in range(count):
                messages |= messages._create_outbound(
                    self.wms,
                    "order_release",
                    {"order": f"S{number:04d}"},
                    endpoint="/orders",
                    shipment=shipments[number % len(shipments)],
                )
            self.run_jobs(trap)
        return messages

    def run_jobs(self, trap):
        """Run the enqueued jobs, and the jobs they enqueue, as the runner would; a job that
        waits on its backend (RetryableJobError) is left waiting."""
        for _round in range(5):
            jobs, trap.enqueued_jobs = trap.enqueued_jobs, []
            for job in jobs:
                try:
                    job.perform()
                except RetryableJobError:
                    continue  # waits on its backend: the runner would run it later

    def open_exceptions(self, type_code):
        return self.Exception.search(
            [
                ("backend_id", "=", self.wms.id),
                ("type_code", "=", type_code),
                ("is_closed", "=", False),
            ]
        )

    def refusal_held_under_an_alert(self):
        """An open partner-level alert of the WMS, then a call refused (422): its exception is
        held under the alert. Returns (alert, the dead message, its exception)."""
        alert = self.Exception._raise(
            "partner_unavailable",
            [{"name": "down", "cause": "circuit_open", "backend_id": self.wms.id}],
        )
        self.partner.answer(422)
        dead = self.send(1)
        refusal = self.Exception.search([("message_id", "=", dead.id)])
        self.assertEqual(refusal.held_by_id, alert)
        return alert, dead, refusal

    def notifications_to(self, exceptions, user):
        return exceptions.message_ids.filtered(lambda m: user.partner_id in m.partner_ids)

    def test_200_refusals_of_one_cause_are_one_exception_and_one_notification(self):
        for _number in range(200):
            self.partner.answer(422, {"error": "unknown SKU FURN_0269"})
        messages = self.send(200)
        self.assertEqual(set(messages.mapped("state")), {"dead"})
        group = self.open_exceptions("schema_invalid")
        self.assertEqual(len(group), 1)
        self.assertEqual(
            (group.occurrence_count, group.affected_shipment_count, len(group.occurrence_ids)),
            (200, 2, 200),
        )
        self.assertEqual(group.occurrence_ids.message_id, messages)
        self.assertEqual(group.occurrence_ids.shipment_id, self.shipments)
        self.assertLessEqual(group.first_seen_at, group.last_seen_at)
        self.assertEqual(len(self.notifications_to(group, self.user)), 1)
        self.assertEqual(
            self.env["mail.mail"].search_count(
                [("model", "=", group._name), ("res_id", "=", group.id)]
            ),
            1,
        )

        # Another cause (another HTTP status) is another card, told once too.
        self.partner.answer(400, {"error": "missing address"})
        other = self.send(1)
        groups = self.open_exceptions("schema_invalid")
        self.assertEqual(len(groups), 2)
        second = groups - group
        self.assertEqual((second.message_id, second.occurrence_count), (other, 1))
        self.assertEqual(len(self.notifications_to(second, self.user)), 1)

    def test_a_refused_credential_holds_the_backend_and_recovery_closes_it(self):
        """A refused credential is the backend's fault: the message is not dead, it waits with
        the backend's other calls; one partner-level exception tells the team."""
        self.partner.answer(401, {"error": "bad key"})
        first = self.send(1)
        self.assertEqual((first.state, first.attempts), ("retrying", 1))
        # Health counts security failures: the backend reads refused, since when, and why.
        self.assertEqual(
            (self.wms.health, self.wms.circuit_state, self.wms.consecutive_failures),
            ("credentials_refused", "credentials_refused", 1),
        )
        self.assertIn("401", self.wms.last_error)
        self.assertEqual(self.wms.last_error_class, "security")
        self.assertTrue(self.wms.failing_since)
        alert = self.open_exceptions("partner_unavailable")
        self.assertEqual(len(alert), 1)
        self.assertFalse(alert.shipment_id, "a fault of the backend, not of one shipment")
        self.assertEqual(alert.occurrence_ids.shipment_id, self.shipment)
        self.assertEqual(len(self.notifications_to(alert, self.user)), 1)

        # The backend's other calls wait (no partner call, no attempt burnt, nothing dead).
        waiting = self.send(5)
        self.assertEqual(len(self.partner.requests), 1)
        self.assertEqual(set(waiting.mapped("state")), {"queued"})
        self.assertEqual(set(waiting.mapped("attempts")), {0})

        # An exception of a call of the backend raised meanwhile is held under it, untold; what
        # the partner tells us (no call of ours) is news, never held.
        held, news = self.Exception._raise(
            "delayed_ack",
            [
                {
                    "name": "not acknowledged",
                    "backend_id": self.wms.id,
                    "shipment_id": self.shipment.id,
                    "message_id": first.id,
                },
                {"name": "shipped after cancel", "backend_id": self.wms.id},
            ],
        )
        self.assertEqual(held.held_by_id, alert)
        self.assertFalse(self.notifications_to(held, self.user))
        self.assertFalse(news.held_by_id)

        # A new secret lets the calls go; the first success closes the alert by itself.
        self.wms.with_user(self.manager).api_key = "sk_wms_new"
        self.assertEqual(self.wms.circuit_state, "half_open")
        with trap_jobs() as trap:
            (first | waiting)._enqueue_delivery()
            self.run_jobs(trap)
        self.assertEqual(set((first | waiting).mapped("state")), {"done"})
        self.assertEqual(first.attempt_ids.mapped("http_status"), [401, 200])
        self.assertEqual((self.wms.health, self.wms.consecutive_failures), ("ok", 0))
        self.assertFalse(self.wms.failing_since)
        self.assertTrue(alert.is_closed and alert.auto_resolved)
        self.assertFalse(alert.resolved_by_id)
        self.assertTrue(alert.resolved_at)
        self.assertTrue(alert.message_ids.filtered(lambda m: "answered again" in m.body))
        # Released: its call went through, so its cause is gone.
        self.assertTrue(held.is_closed and held.auto_resolved)
        self.assertFalse(news.is_closed)

    def test_resolving_the_alert_by_hand_shows_what_it_held(self):
        alert, _dead, refusal = self.refusal_held_under_an_alert()
        resolved = self.env.ref("logistics_integration_base.exception_stage_resolved")
        alert.with_user(self.manager).write(
            {"stage_id": resolved.id, "resolution_note": "the partner confirmed the outage is over"}
        )
        self.assertFalse(refusal.held_by_id, "back on the board")
        self.assertFalse(refusal.is_closed, "its message is still dead")
        self.assertEqual(len(self.notifications_to(refusal, self.user)), 1, "told now")

    def test_resume_lets_the_waiting_calls_go(self):
        self.partner.answer(403)
        self.send(1)
        self.assertEqual(self.wms.circuit_state, "credentials_refused")
        self.wms.with_user(self.manager).action_resume()
        self.assertEqual(self.wms.circuit_state, "half_open")

    def test_open_circuit_is_one_partner_unavailable_exception(self):
        self.wms.circuit_threshold = 2
        for _number in range(6):
            self.partner.answer(503)
        self.send(2)
        alert = self.open_exceptions("partner_unavailable")
        self.assertEqual((len(alert), self.wms.circuit_state), (1, "open"))
        self.assertIn("unavailable", alert.name)

    def test_a_dead_message_held_under_the_alert_closes_when_it_went_through(self):
        alert, dead, refusal = self.refusal_held_under_an_alert()
        with trap_jobs() as trap:
            dead.with_user(self.manager).action_replay("fixed")
            self.run_jobs(trap)
        self.assertEqual(dead.replay_ids.state, "done")
        self.assertTrue(alert.is_closed)
        self.assertTrue(refusal.is_closed and refusal.auto_resolved)

    def test_resolution_by_hand_records_who(self):
        exception = self.Exception._raise(
            "delayed_ack", [{"name": "late", "shipment_id": self.shipment.id}]
        )
        resolved = self.env.ref("logistics_integration_base.exception_stage_resolved")
        exception.with_user(self.manager).write(
            {"stage_id": resolved.id, "resolution_note": "called them"}
        )
        self.assertEqual(exception.resolved_by_id, self.manager)
        self.assertTrue(exception.resolved_at)


class TestExceptionGroupingConcurrency(BaseCase):
    """Two transactions meet the same root cause at once: one card, and the later transaction
    is told to run again (a serialization failure, which Odoo and queue_job retry)."""

    def test_the_second_raiser_of_a_group_gets_a_serialization_failure(self):
        registry = Registry(get_db_name())
        key = f"concurrency-{uuid.uuid4().hex}"
        values = [{"name": "carrier down", "cause": key}]
        first_raised = threading.Event()
        outcome = {}

        def second():
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["logistics.exception.type"].search([], limit=1)  # take the snapshot
                first_raised.wait(30)
                try:
                    env["logistics.exception"]._raise("partner_unavailable", values)
                    cr.commit()  # pylint: disable=invalid-commit
                    outcome["second"] = "raised"
                except errors.SerializationFailure:
                    outcome["second"] = "serialization failure"

        thread = threading.Thread(target=second)
        thread.start()
        try:
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["logistics.exception"]._raise("partner_unavailable", values)
                first_raised.set()
                time.sleep(1)  # the second now waits on the unique index
                cr.commit()  # pylint: disable=invalid-commit
            thread.join(60)
            self.assertEqual(outcome.get("second"), "serialization failure")
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                # Run again, as the retry does: it joins the card.
                env["logistics.exception"]._raise("partner_unavailable", values)
                cards = env["logistics.exception"].search([("grouping_key", "like", key)])
                self.assertEqual((len(cards), cards.occurrence_count), (1, 2))
                cards.unlink()
                cr.commit()  # pylint: disable=invalid-commit
        finally:
            first_raised.set()
            thread.join(60)
