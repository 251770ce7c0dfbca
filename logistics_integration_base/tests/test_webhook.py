import hashlib
import hmac
import json
import time

from odoo.tests import HttpCase, tagged

from ..controllers.webhook import NOT_AUTHENTICATED
from .common import run_pending_inbound_jobs

SECRET = "whsec_test_generic"


class WebhookCase(HttpCase):
    """A generic backend with a signing secret and a shipment, and how to post to it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend = cls.env["logistics.backend"].create(
            {
                "name": "Hook Carrier",
                "code": "hook_carrier",
                "kind": "carrier",
                "webhook_max_bytes": 4096,
            }
        )
        cls.backend.webhook_secret = SECRET
        cls.shipment = cls.env["logistics.shipment"].create({"name": "SHP/HOOK/1"})

    def event(self, event_id="hook-1", **extra):
        values = {
            "type": "in_transit",
            "occurred_at": "2026-03-01T10:00:00+00:00",
            "event_id": event_id,
            "shipment_ref": "SHP/HOOK/1",
        }
        values.update(extra)
        return values

    def post(
        self,
        body,
        path="/logistics/webhook/hook_carrier",
        secret=SECRET,
        timestamp=None,
        signature=None,
    ):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        timestamp = int(time.time()) if timestamp is None else timestamp
        if signature is None:
            signature = hmac.new(
                secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256
            ).hexdigest()
        return self.url_open(
            path,
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Logistics-Signature": f"t={timestamp},v1={signature}",
            },
        )

    @staticmethod
    def sign(raw, secret=SECRET, timestamp=None):
        """The (timestamp, v1 hex) pair of the generic scheme for these bytes."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
        return timestamp, digest.hexdigest()

    def run_queued_jobs(self):
        return run_pending_inbound_jobs(self.env)

    def messages(self, **domain):
        return self.env["logistics.message"].search(
            [(key, "=", value) for key, value in domain.items()], order="id"
        )


@tagged("post_install", "-at_install")
class TestWebhook(WebhookCase):
    """POST /logistics/webhook/<code> through Odoo's real HTTP server."""

    def test_good_signature_is_accepted_then_processed_into_one_event(self):
        response = self.post(self.event())
        self.assertEqual(response.status_code, 202, response.text)
        body = response.json()
        self.assertEqual(body["status"], "accepted")
        message = self.env["logistics.message"].browse(body["message_id"])
        self.assertEqual(
            (message.state, message.direction, message.partner_event_id),
            ("queued", "inbound", "hook-1"),
        )
        self.assertEqual(len(self.run_queued_jobs()), 1)
        self.assertEqual(message.state, "done")
        self.assertEqual(len(self.shipment.event_ids), 1)
        self.assertEqual(self.shipment.event_ids.message_id, message)
        self.assertEqual(self.shipment.status_code, "in_transit")

    def test_duplicate_delivery_answers_duplicate_and_keeps_one_event(self):
        self.assertEqual(self.post(self.event()).status_code, 202)
        second = self.post(self.event())
        self.assertEqual(second.status_code, 200)
        self.assertEqual(second.json()["status"], "duplicate")
        self.run_queued_jobs()
        self.assertEqual(len(self.shipment.event_ids), 1)
        # Absorbed before it was an event: nothing to count it on yet.
        self.assertEqual(self.shipment.event_ids.duplicate_count, 0)
        self.assertEqual(self.post(self.event()).json()["status"], "duplicate")
        self.assertEqual(len(self.messages(backend_id=self.backend.id, state="done")), 1)
        # A redelivery of a stored event is counted on it (the shipment timeline shows it).
        self.shipment.event_ids.invalidate_recordset(["duplicate_count"])
        self.assertEqual(self.shipment.event_ids.duplicate_count, 1)

    def test_bad_signature_is_401_and_kept_as_rejected(self):
        response = self.post(self.event(), signature="0" * 64)
        self.assertEqual(response.status_code, 401)
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertEqual((message.state, message.http_status), ("rejected", 401))
        self.assertIn("does not match", message.error)
        self.assertIn("hook-1", message.request_body)
        self.assertFalse(self.shipment.event_ids)

    def test_wrong_secret_and_missing_header_are_401(self):
        self.assertEqual(self.post(self.event(), secret="not-the-secret").status_code, 401)
        response = self.url_open(
            "/logistics/webhook/hook_carrier", data=json.dumps(self.event()).encode()
        )
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"], NOT_AUTHENTICATED)
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertIn("missing or malformed", message.error)

    def test_stale_timestamp_is_401(self):
        response = self.post(self.event(), timestamp=int(time.time()) - 301)
        self.assertEqual(response.status_code, 401)
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertIn("300 s tolerance", message.error)

    def test_malformed_json_is_400(self):
        response = self.post(b'{"type": "in_transit",')
        self.assertEqual(response.status_code, 400)
        self.assertEqual(
            self.messages(state="rejected", http_status=400).error[:14], "malformed JSON"
        )

    def test_schema_error_is_422(self):
        response = self.post(self.event(occurred_at="2026-03-01 10:00"))
        self.assertEqual(response.status_code, 422)
        self.assertIn("has no UTC offset", response.json()["error"])
        self.assertEqual(len(self.messages(state="rejected", http_status=422)), 1)

    def test_oversized_body_is_413_and_not_stored(self):
        response = self.post(self.event(payload={"blob": "x" * 5000}))
        self.assertEqual(response.status_code, 413)
        message = self.messages(state="rejected", http_status=413)
        self.assertEqual(len(message), 1)
        self.assertFalse(message.request_body)

    def test_unknown_backend_is_401_like_a_bad_signature_and_kept(self):
        """No probing: an unknown code gets the answer of a bad signature, naming neither."""
        response = self.post(self.event(), path="/logistics/webhook/nobody")
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"], NOT_AUTHENTICATED)
        self.assertNotIn("nobody", response.text)
        bad = self.post(self.event(), signature="0" * 64)
        self.assertEqual((bad.status_code, bad.json()["error"]), (401, NOT_AUTHENTICATED))
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertEqual((message.state, message.backend_id.id), ("rejected", False))
        self.assertIn("unknown backend 'nobody'", message.error)

    def test_batch_route_and_per_message_jobs(self):
        events = [
            self.event(f"batch-{n}", occurred_at=f"2026-03-01T1{n}:00:00+00:00") for n in range(3)
        ]
        response = self.post(events, path="/logistics/webhook/hook_carrier/batch")
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()["events"], 3)
        self.assertEqual(
            self.post(
                self.event("single"), path="/logistics/webhook/hook_carrier/batch"
            ).status_code,
            422,
        )
        self.run_queued_jobs()
        self.assertEqual(len(self.shipment.event_ids), 3)
        # Without batching, one job per message.
        self.backend.inbound_batch = False
        self.post(self.event("solo-1"))
        self.post(self.event("solo-2"))
        self.assertEqual(len(self.run_queued_jobs()), 2)
        self.assertEqual(len(self.shipment.event_ids), 5)

    def test_message_left_queued_is_picked_up_by_the_safety_net(self):
        response = self.post(self.event("late-1"))
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        # As if the batch job that was pending had already read the queue: no job left.
        self.env["queue.job"].search([("method_name", "=", "_process_inbound_queue")]).unlink()
        self.env.cr.execute(
            "UPDATE logistics_message SET state_changed_at = state_changed_at - interval '1 minute'"
            " WHERE id = %s",
            [message.id],
        )
        self.assertEqual(self.env["logistics.backend"]._cron_process_stale_inbound(), 1)
        self.run_queued_jobs()
        self.assertEqual(message.state, "done")
        self.assertEqual(len(self.shipment.event_ids), 1)

    def test_unmatched_event_is_stored_then_dead_with_an_exception(self):
        response = self.post(self.event(shipment_ref="SHP/NOPE"))
        self.assertEqual(response.status_code, 202)
        self.run_queued_jobs()
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertEqual(message.state, "dead")
        self.assertIn("no shipment found", message.error)
        exception = self.env["logistics.exception"].search([("message_id", "=", message.id)])
        self.assertEqual(exception.type_id.code, "mapping_missing")

    def test_event_waiting_for_a_tracking_number_is_processed_when_it_comes(self):
        """A carrier's tracking update can arrive before the label purchase that brings its
        tracking number is committed: rejected then, it is processed again when a shipment
        gets the number, and its exception closes."""
        response = self.post(self.event("hook-early", shipment_ref=None, tracking_number="1Z-LATE"))
        self.assertEqual(response.status_code, 202)
        self.run_queued_jobs()
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertEqual(message.state, "dead")
        exception = self.env["logistics.exception"].search([("message_id", "=", message.id)])
        self.assertEqual(exception.unmatched_reference, "1Z-LATE")
        self.assertFalse(self.shipment.event_ids)

        self.shipment.tracking_number = "1Z-LATE"
        self.assertTrue(exception.is_closed)
        self.assertTrue(exception.auto_resolved)
        replay = self.messages(replay_of_id=message.id)
        self.assertEqual(len(replay), 1)
        self.run_queued_jobs()
        self.assertEqual(replay.state, "done")
        self.assertEqual(self.shipment.event_ids.source_event_id, "hook-early")
        self.assertEqual(self.shipment.event_ids.message_id, replay)
        self.assertEqual(self.shipment.status_code, "in_transit")
        # A redelivery of the same partner event is still a duplicate.
        again = self.post(self.event("hook-early", shipment_ref=None, tracking_number="1Z-LATE"))
        self.assertEqual(again.json()["status"], "duplicate")

    def test_cron_retries_events_whose_tracking_number_came_meanwhile(self):
        """The rejection committed after the shipment got its number (seen by no write): the
        safety-net cron finds it."""
        response = self.post(self.event("hook-race", shipment_ref=None, tracking_number="1Z-RACE"))
        self.run_queued_jobs()
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        exception = self.env["logistics.exception"].search([("message_id", "=", message.id)])
        self.assertFalse(exception.is_closed)
        Exception_ = self.env["logistics.exception"]
        self.assertFalse(Exception_._cron_retry_unmatched())  # no shipment has it yet
        # As if another transaction had set it before the rejection was committed.
        self.env.cr.execute(
            "UPDATE logistics_shipment SET tracking_number = '1Z-RACE' WHERE id = %s",
            [self.shipment.id],
        )
        self.shipment.invalidate_recordset(["tracking_number"])
        self.assertEqual(Exception_._cron_retry_unmatched(), exception)
        self.assertTrue(exception.is_closed)
        self.run_queued_jobs()
        self.assertEqual(self.shipment.event_ids.source_event_id, "hook-race")
