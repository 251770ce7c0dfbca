from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from psycopg2.errors import SerializationFailure
from werkzeug.http import http_date

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from .common import LogisticsCase
from .partner_server import LoopbackPartnerMixin, ScriptedPartner


class TestDelivery(LoopbackPartnerMixin, LogisticsCase):
    """Outbound messages against a real HTTP server on 127.0.0.1."""

    def setUp(self):
        super().setUp()
        self.partner = ScriptedPartner().__enter__()
        self.addCleanup(self.partner.__exit__)
        self.wms.write(
            {
                "base_url": self.partner.url,
                "auth_type": "api_key",
                "max_attempts": 4,
                "backoff_base": 2.0,
                "circuit_threshold": 3,
                "read_timeout": 1.0,
            }
        )
        self.wms.api_key = "sk_wms_secret_value"

    def send(self, payload=None):
        """Create an outbound message and run its delivery jobs until none is left."""
        with trap_jobs() as trap:
            message = self.env["logistics.message"]._create_outbound(
                self.wms,
                "order_release",
                payload or {"order": "S0001", "api_key": "x"},
                endpoint="/orders",
                shipment=self.shipment,
            )
            self.run_jobs(trap)
        return message

    def run_jobs(self, trap):
        for _round in range(10):
            if not trap.enqueued_jobs:
                return
            trap.perform_enqueued_jobs()

    def test_500_500_200_is_done_after_three_attempts_with_backoff(self):
        self.partner.answer(500).answer(500).answer(201, {"id": "WMS-1"})
        message = self.send()
        self.assertEqual(message.state, "done")
        self.assertEqual(message.attempts, 3)
        self.assertEqual(message.attempt_ids.mapped("http_status"), [500, 500, 201])
        backoffs = message.attempt_ids.mapped("retry_in")
        self.assertTrue(1.5 <= backoffs[0] <= 2.5, backoffs)  # 2 s ± 25 %
        self.assertTrue(3.0 <= backoffs[1] <= 5.0, backoffs)  # 4 s ± 25 %
        self.assertEqual(
            message.attempt_ids.mapped("error_class"), ["transient", "transient", False]
        )
        # The same Idempotency-Key and trace id on every attempt; the secret travels but is
        # never stored.
        keys = {headers["Idempotency-Key"] for _m, _p, headers, _b in self.partner.requests}
        self.assertEqual(keys, {message.uuid})
        traces = {headers["traceparent"][3:35] for _m, _p, headers, _b in self.partner.requests}
        self.assertEqual(traces, {self.shipment.correlation_id})
        self.assertEqual(self.partner.requests[0][2]["X-Api-Key"], "sk_wms_secret_value")
        self.assertEqual(self.partner.requests[0][1], "/orders")
        self.assertNotIn("sk_wms_secret_value", message.request_body or "")
        self.assertIn('"api_key": "***"', message.request_body)
        self.assertEqual(self.wms.circuit_state, "closed")
        self.assertEqual(self.wms.consecutive_failures, 0)

    def test_retry_is_scheduled_with_backoff_eta(self):
        self.partner.answer(503)
        with trap_jobs() as trap:
            message = self.env["logistics.message"]._create_outbound(self.wms, "order_release", {})
            trap.perform_enqueued_jobs()
            self.assertEqual(message.state, "retrying")
            self.assertEqual(len(trap.enqueued_jobs), 1)
            job = trap.enqueued_jobs[0]
            self.assertEqual(job.method_name, "_deliver")
            self.assertTrue(job.eta)
            self.assertEqual(job.channel, "root.logistics.operational")

    def test_422_is_dead_with_an_exception_after_one_attempt(self):
        self.partner.answer(422, {"error": "unknown SKU FURN_0269"})
        message = self.send()
        self.assertEqual(
            (message.state, message.attempts, message.error_class), ("dead", 1, "business")
        )
        exception = self.env["logistics.exception"].search([("message_id", "=", message.id)])
        self.assertEqual(exception.type_id.code, "schema_invalid")
        self.assertIn("unknown SKU", exception.description)
        self.assertEqual(len(self.partner.requests), 1)

    def test_read_timeout_is_retried(self):
        self.partner.answer(200, delay=2.5).answer(200)
        message = self.send()
        self.assertEqual(message.state, "done")
        self.assertEqual(message.attempts, 2)
        first = message.attempt_ids[0]
        self.assertEqual((first.error_class, first.http_status), ("transient", 0))
        self.assertIn("timeout", first.error)

    def test_retry_after_is_honoured(self):
        self.partner.answer(429, headers={"Retry-After": "7"}).answer(200)
        message = self.send()
        self.assertEqual(message.state, "done")
        self.assertEqual(message.attempt_ids[0].retry_in, 7.0)

    def test_retry_after_http_date_is_honoured(self):
        # RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP-date.
        retry_at = http_date(datetime.now(timezone.utc) + timedelta(seconds=40))
        self.partner.answer(503, headers={"Retry-After": retry_at}).answer(200)
        message = self.send()
        self.assertEqual(message.state, "done")
        retry_in = message.attempt_ids[0].retry_in
        # The date has a one-second resolution: 39 to 40 s from the moment it was written.
        self.assertTrue(35.0 <= retry_in <= 40.0, retry_in)

    def test_retry_after_date_in_the_past_means_now_and_garbage_means_backoff(self):
        self.partner.answer(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})
        self.partner.answer(503, headers={"Retry-After": "soon"}).answer(200)
        message = self.send()
        self.assertEqual(message.state, "done")
        first, second, _third = message.attempt_ids
        self.assertEqual(first.retry_in, 0.0)
        self.assertTrue(3.0 <= second.retry_in <= 5.0, second.retry_in)  # 4 s ± 25 %

    def test_parse_retry_after(self):
        parse = self.env["logistics.message"]._parse_retry_after
        in_an_hour = http_date(datetime.now(timezone.utc) + timedelta(hours=1))
        self.assertEqual(parse(" 120 "), 120.0)
        self.assertTrue(3595 <= parse(in_an_hour) <= 3600, parse(in_an_hour))
        self.assertEqual(parse("Wed, 21 Oct 2015 07:28:00 GMT"), 0.0)
        for garbage in (None, "", "-5", "1.5", "٣", "tomorrow", "Wed, 32 Oct 2026 07:28:00 GMT"):
            self.assertIsNone(parse(garbage), garbage)

    def test_gives_up_after_max_attempts(self):
        self.wms.circuit_threshold = 10  # the circuit would otherwise hold the 4th attempt
        for _n in range(4):
            self.partner.answer(500)
        message = self.send()
        self.assertEqual((message.state, message.attempts), ("dead", 4))

    def test_circuit_opens_and_waiting_jobs_keep_their_attempts(self):
        self.wms.max_attempts = 10
        for _n in range(3):
            self.partner.answer(500)
        with trap_jobs() as trap:
            first = self.env["logistics.message"]._create_outbound(self.wms, "order_release", {})
            for _n in range(3):
                trap.perform_enqueued_jobs()
            self.assertEqual(self.wms.circuit_state, "open")
            self.assertEqual(first.attempts, 3)
            waiting = self.env["logistics.message"]._create_outbound(self.wms, "order_release", {})
            with self.assertRaises(RetryableJobError) as caught:
                waiting._deliver()
            self.assertTrue(caught.exception.ignore_retry)
            self.assertGreater(caught.exception.seconds, 0)
            self.assertEqual(waiting.attempts, 0)
            self.assertEqual(waiting.state, "queued")
            self.assertEqual(len(self.partner.requests), 3, "no call while the circuit is open")
            # After the cool-down, one probe; its success closes the circuit.
            self.wms.circuit_opened_at = "2000-01-01 00:00:00"
            waiting._deliver()
            self.assertEqual(waiting.state, "done")
            self.assertEqual(self.wms.circuit_state, "closed")

    def test_paused_backend_holds_jobs(self):
        self.wms.action_pause()
        self.assertEqual(self.wms.health, "paused")
        with trap_jobs():
            message = self.env["logistics.message"]._create_outbound(self.wms, "order_release", {})
            with self.assertRaises(RetryableJobError):
                message._deliver()
            self.assertEqual((message.state, message.attempts), ("queued", 0))
            self.assertFalse(self.partner.requests)
            self.wms.action_resume()
            message._deliver()
        self.assertEqual(message.state, "done")

    def test_rate_limit_holds_calls_over_the_limit_without_using_attempts(self):
        self.wms.rate_limit = 2  # calls per minute
        with trap_jobs():
            first, second, third = (
                self.env["logistics.message"]._create_outbound(self.wms, "order_release", {})
                for _n in range(3)
            )
            first._deliver()
            second._deliver()
            with self.assertRaises(RetryableJobError) as caught:
                third._deliver()
        self.assertTrue(caught.exception.ignore_retry)
        self.assertEqual((first.state, second.state), ("done", "done"))
        self.assertEqual((third.state, third.attempts), ("queued", 0))
        self.assertEqual(len(self.partner.requests), 2)

    def test_replay_of_dead_message_succeeds_once_partner_recovers(self):
        self.partner.answer(422, {"error": "address line missing"})
        dead = self.send({"order": "S0001", "address": ""})
        self.assertEqual(dead.state, "dead")
        with trap_jobs() as trap:
            replay = dead.with_user(self.manager).action_replay("partner fixed its validation")
            self.run_jobs(trap)
        self.assertEqual(replay.state, "done")
        self.assertEqual(replay.replay_of_id, dead)
        # The same request again, under the same key (issue 12, item 6).
        self.assertEqual(replay.uuid, dead.uuid)
        log = self.env["logistics.audit.log"].search(
            [("action", "=", "replay"), ("res_id", "=", dead.id)]
        )
        self.assertEqual((log.user_id, log.reason), (self.manager, "partner fixed its validation"))
        self.assertIn(f"#{replay.id}", log.changes)

    def test_a_conflict_after_the_call_never_calls_the_partner_again(self):
        """Issue 12, item 6: what the answer means is applied in a savepoint; a concurrent
        change to a row it writes (here a serialization failure on the backend row) leaves
        the answer stored and applies it in a job of its own, with no second call."""
        self.partner.answer(201, {"id": "WMS-1"})
        Message = self.registry["logistics.message"]
        apply_outcome = Message._apply_outcome
        conflicts = []

        def conflicting(message, response_text=None):
            if not conflicts:
                conflicts.append(message.id)
                message.backend_id.write({"consecutive_failures": 7})
                message.backend_id.flush_recordset()
                raise SerializationFailure("could not serialize access due to concurrent update")
            return apply_outcome(message, response_text)

        with patch.object(Message, "_apply_outcome", conflicting), trap_jobs() as trap:
            message = self.env["logistics.message"]._create_outbound(
                self.wms, "order_release", {"order": "S0001"}, endpoint="/orders"
            )
            trap.perform_enqueued_jobs()
            # The answer is kept; what it means is not applied (the savepoint rolled back).
            self.assertEqual(
                (message.state, message.outcome_pending, message.attempts, message.http_status),
                ("processing", True, 1, 201),
            )
            self.assertEqual(self.wms.consecutive_failures, 0)
            self.assertEqual(
                [job.method_name for job in trap.enqueued_jobs], ["_apply_outcome_job"]
            )
            trap.perform_enqueued_jobs()
            # Run again (queue_job after another conflict): nothing more happens.
            self.assertEqual(message._apply_outcome_job(), "nothing to do: message is done")
            self.assertEqual(message._deliver(), "nothing to do: message is done")
        self.assertEqual((message.state, message.outcome_pending), ("done", False))
        self.assertEqual(len(self.partner.requests), 1)
        self.assertEqual(message.attempt_ids.mapped("http_status"), [201])

    def test_a_delivery_job_run_again_after_its_answer_applies_it_without_a_call(self):
        self.partner.answer(500).answer(201)
        with trap_jobs():
            message = self.env["logistics.message"]._create_outbound(
                self.wms, "order_release", {"order": "S0001"}, endpoint="/orders"
            )
            message._set_state("processing", outcome_pending=True, attempts=1, http_status=201)
            message._deliver()
        self.assertEqual((message.state, message.outcome_pending), ("done", False))
        self.assertFalse(self.partner.requests)

    def test_edited_replay_is_audited(self):
        self.partner.answer(422, {"error": "address line missing"})
        dead = self.send({"order": "S0001", "address": ""})
        wizard = (
            self.env["logistics.replay.wizard"]
            .with_user(self.manager)
            .with_context(active_model="logistics.message", active_ids=dead.ids)
            .create(
                {
                    "reason": "address corrected with the customer",
                    "edit_payload": True,
                    "payload_text": '{"order": "S0001", "address": "1 Main St"}',
                }
            )
        )
        with trap_jobs() as trap:
            wizard.action_replay()
            self.run_jobs(trap)
        replay = dead.replay_ids
        self.assertEqual(replay.payload, {"order": "S0001", "address": "1 Main St"})
        # Another request: a key of its own.
        self.assertNotEqual(replay.uuid, dead.uuid)
        self.assertEqual(replay.state, "done")
        self.assertIn('"address": "1 Main St"', self.partner.requests[-1][3])
        log = self.env["logistics.audit.log"].search(
            [("action", "=", "edit_replay"), ("res_id", "=", dead.id)]
        )
        self.assertEqual(log.reason, "address corrected with the customer")
        self.assertIn("1 Main St", log.changes)

    def test_replay_with_the_payload_unchanged_keeps_the_key(self):
        self.partner.answer(422)
        dead = self.send({"order": "S0001"})
        self.assertEqual((dead.state, dead.error_class), ("dead", "business"))
        with trap_jobs() as trap:
            replay = dead.with_user(self.manager).action_replay(
                "partner fixed its catalogue", payload={"order": "S0001"}
            )
            self.run_jobs(trap)
        self.assertEqual((replay.state, replay.uuid), ("done", dead.uuid))
        self.assertEqual(
            [headers["Idempotency-Key"] for _m, _p, headers, _b in self.partner.requests],
            [dead.uuid, dead.uuid],
        )

    def test_bulk_replay_by_filter_and_discard_with_reason(self):
        for _n in range(3):
            self.partner.answer(422)
        dead = self.send() | self.send() | self.send()
        wizard = (
            self.env["logistics.replay.wizard"]
            .with_user(self.manager)
            .create(
                {
                    "mode": "filter",
                    "backend_id": self.wms.id,
                    "error_class": "business",
                    "reason": "bulk after fix",
                }
            )
        )
        self.assertEqual(wizard.matching_count, 3)
        with self.assertRaisesRegex(UserError, "3 message\\(s\\) match the filter"):
            wizard.action_replay()  # the count not confirmed
        wizard.confirm_count = 3
        with trap_jobs() as trap:
            wizard.action_replay()
            self.run_jobs(trap)
        self.assertEqual(dead.replay_ids.mapped("state"), ["done"] * 3)
        # Discard: only with a reason, only managers, audited.
        self.partner.answer(422)
        other = self.send()
        with self.assertRaises(UserError):
            other.with_user(self.user).action_discard("no")
        other.with_user(self.manager).action_discard("duplicate order, cancelled in ERP")
        self.assertEqual(
            (other.state, other.discard_reason), ("discarded", "duplicate order, cancelled in ERP")
        )
        self.assertTrue(
            self.env["logistics.audit.log"].search(
                [("action", "=", "discard"), ("res_id", "=", other.id)]
            )
        )

    def test_wizard_works_on_the_messages_given_and_a_bulk_needs_a_filter(self):
        """Created over RPC with message_ids and no active_ids, the wizard discarded every dead
        message of the company: it works on the messages given; acting on many needs a filter
        and its count confirmed."""
        for _n in range(3):
            self.partner.answer(422)
        first, second, third = self.send(), self.send(), self.send()
        Wizard = self.env["logistics.replay.wizard"].with_user(self.manager)
        wizard = Wizard.create({"message_ids": [(6, 0, second.ids)], "reason": "duplicate of #1"})
        self.assertEqual(wizard.matching_count, 1)
        wizard.action_discard()
        self.assertEqual((first.state, second.state, third.state), ("dead", "discarded", "dead"))
        with self.assertRaisesRegex(UserError, "Choose a filter"):
            Wizard.create({"mode": "filter", "reason": "everything"}).action_discard()
        self.assertEqual((first.state, third.state), ("dead", "dead"))

    def test_replay_needs_a_reason_and_a_dead_message(self):
        message = self.send()
        self.assertEqual(message.state, "done")
        with self.assertRaisesRegex(UserError, "Only dead or rejected"):
            message.with_user(self.manager).action_replay("again")
        self.partner.answer(422)
        dead = self.send()
        with self.assertRaisesRegex(UserError, "needs a reason"):
            dead.with_user(self.manager).action_replay("  ")

    # --- health without audit noise (issue 10 item 14) ----------------------------------------
    def audit_entries(self):
        return self.env["logistics.audit.log"].search(
            [("model", "=", "logistics.backend"), ("res_id", "=", self.wms.id)]
        )

    def test_successful_deliveries_write_neither_the_audit_nor_the_backend(self):
        audited = self.audit_entries()
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE logistics_backend SET write_date = '2000-01-01' WHERE id = %s", [self.wms.id]
        )
        messages = [self.send() for _n in range(5)]
        self.assertEqual([m.state for m in messages], ["done"] * 5)
        self.env.flush_all()
        self.env.cr.execute("SELECT write_date FROM logistics_backend WHERE id = %s", [self.wms.id])
        self.assertEqual(self.env.cr.fetchone()[0], datetime(2000, 1, 1))
        self.assertEqual(self.audit_entries(), audited)
        # The last success is read from the messages, and the backend form shows it.
        self.wms.invalidate_recordset()
        self.assertEqual(self.wms.last_success_at, messages[-1].state_changed_at)
        self.assertEqual(
            Form(self.wms).last_success_at, fields.Datetime.to_string(messages[-1].state_changed_at)
        )

    def test_failure_then_success_update_health_without_audit(self):
        audited = self.audit_entries()
        self.partner.answer(500).answer(200)
        with trap_jobs() as trap:
            message = self.env["logistics.message"]._create_outbound(self.wms, "order_release", {})
            trap.perform_enqueued_jobs()
            self.assertEqual(message.state, "retrying")
            self.assertEqual((self.wms.consecutive_failures, self.wms.health), (1, "degraded"))
            self.assertTrue(self.wms.last_failure_at)
            self.assertFalse(self.wms.last_success_at)
            trap.perform_enqueued_jobs()
        self.assertEqual(message.state, "done")
        self.wms.invalidate_recordset(["last_success_at"])
        self.assertEqual(
            (self.wms.consecutive_failures, self.wms.circuit_state, self.wms.health),
            (0, "closed", "ok"),
        )
        self.assertEqual(self.wms.last_success_at, message.state_changed_at)
        self.assertEqual(self.audit_entries(), audited)

    def test_configuration_changes_and_a_closed_circuit_are_still_audited(self):
        self.wms.with_user(self.manager).write({"backoff_base": 5.0, "max_attempts": 6})
        entry = self.audit_entries()[0]
        self.assertEqual((entry.action, entry.user_id), ("write", self.manager))
        self.assertEqual(entry.changes, "Backoff Base (s): 2.0 → 5.0\nMax Attempts: 4 → 6")
        # The breaker opening is operational state; a person closing it is an act.
        self.wms.sudo().write({"circuit_state": "open", "consecutive_failures": 3})
        self.assertEqual(self.audit_entries()[0], entry)
        self.wms.with_user(self.manager).action_reset_circuit()
        closed = self.audit_entries()[0]
        self.assertEqual((closed.user_id, closed.changes), (self.manager, "Circuit closed by hand"))

    # --- flow policies decide the jobs' channel and priority (issue 10 item 16) ---------------
    def delivery_job(self, trap, message):
        (job,) = [
            job
            for job in trap.enqueued_jobs
            if job.method_name == "_deliver" and job.recordset == message
        ]
        return job

    def test_order_release_jobs_follow_the_flow_policy(self):
        flow = self.env.ref("logistics_integration_base.flow_order_release")
        Message = self.env["logistics.message"]
        with trap_jobs() as trap:
            first = Message._create_outbound(self.wms, "order_release", {})
            job = self.delivery_job(trap, first)
            self.assertEqual((job.channel, job.priority), ("root.logistics.operational", 5))
            flow.write({"channel": "root.logistics.reporting", "priority": 30})
            second = Message._create_outbound(self.wms, "order_release", {})
            job = self.delivery_job(trap, second)
            self.assertEqual((job.channel, job.priority), ("root.logistics.reporting", 30))
            # Its retries too.
            self.partner.answer(503)
            second._deliver()
            retry = [j for j in trap.enqueued_jobs if j.recordset == second][-1]
            self.assertEqual((retry.channel, retry.priority), ("root.logistics.reporting", 30))
            # Without an active policy, the backend's channel at queue_job's default priority.
            flow.active = False
            self.wms.channel = "root.logistics.publication"
            third = Message._create_outbound(self.wms, "order_release", {})
            job = self.delivery_job(trap, third)
            self.assertEqual((job.channel, job.priority), ("root.logistics.publication", 10))

    def test_flow_channel_must_be_a_queue_job_channel(self):
        flow = self.env.ref("logistics_integration_base.flow_order_release")
        with self.assertRaisesRegex(ValidationError, "root or a channel under it"):
            flow.channel = "logistics.operational"
