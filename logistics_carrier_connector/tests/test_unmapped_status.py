import json
import threading
import time

from odoo import api
from odoo.tests import HttpCase, TransactionCase, tagged
from odoo.tools import mute_logger

from odoo.addons.logistics_integration_base.tests.common import run_pending_inbound_jobs
from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters import easypost

SECRET = "whsec_unmapped"
TRACKING = "EZ4000000001"


@tagged("post_install", "-at_install")
class TestUnmappedStatus(HttpCase):
    """EasyPost tracker.updated webhooks whose status no Carrier Status Mapping row maps, posted
    to the real webhook route and signed as EasyPost signs them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend = cls.env["logistics.backend"].create(
            {"name": "EasyPost Hook", "code": "hook_easypost", "kind": "carrier"}
        )
        cls.backend.write({"adapter": "easypost", "webhook_secret": SECRET})
        cls.shipment = cls.env["logistics.shipment"].create(
            {"name": "SHP/UNMAPPED/1", "tracking_number": TRACKING}
        )

    @staticmethod
    def tracker_event(event_id, status, status_detail, description="tracker.updated"):
        return {
            "object": "Event",
            "id": event_id,
            "description": description,
            "created_at": "2026-03-01T10:00:00Z",
            "result": {
                "object": "Tracker",
                "id": "trk_unmapped",
                "tracking_code": TRACKING,
                "status": status,
                "status_detail": status_detail,
                "carrier": "USPS",
                "tracking_details": [
                    {
                        "object": "TrackingDetail",
                        "message": f"{status} ({status_detail})",
                        "status": status,
                        "datetime": f"2026-03-01T10:0{len(event_id) % 10}:00Z",
                    }
                ],
            },
        }

    def post(self, body):
        raw = json.dumps(body).encode()
        self.env.invalidate_all()
        return self.url_open(
            "/logistics/webhook/hook_easypost",
            data=raw,
            headers={
                "Content-Type": "application/json",
                easypost.SIGNATURE_HEADER: easypost.sign(raw, SECRET),
            },
        )

    def run_queued_jobs(self):
        return run_pending_inbound_jobs(self.env)

    def messages(self):
        return self.env["logistics.message"].search(
            [("backend_id", "=", self.backend.id), ("direction", "=", "inbound")], order="id"
        )

    def open_mapping_missing(self):
        return self.env["logistics.exception"].search(
            [
                ("type_code", "=", "mapping_missing"),
                ("backend_id", "=", self.backend.id),
                ("is_closed", "=", False),
            ],
            order="id",
        )

    def assert_answer(self, response, status_code, status):
        self.assertEqual(response.status_code, status_code, response.text)
        self.assertEqual(response.json()["status"], status)
        return response.json()["message_id"]

    def test_unmapped_status_waits_dead_on_one_exception_until_its_row_is_added(self):
        first = self.assert_answer(
            self.post(self.tracker_event("evt_u1", "teleported", "beamed_up")), 202, "accepted"
        )
        self.assert_answer(
            self.post(self.tracker_event("evt_u2", "teleported", "beamed_up")), 202, "accepted"
        )
        self.assert_answer(
            self.post(self.tracker_event("evt_u3", "teleported", "beamed_down")), 202, "accepted"
        )
        self.run_queued_jobs()
        waiting = self.messages()
        self.assertEqual(waiting.mapped("partner_event_id"), ["evt_u1", "evt_u2", "evt_u3"])
        self.assertEqual(waiting.mapped("state"), ["dead"] * 3)
        self.assertEqual(waiting.mapped("reason_category"), ["mapping"] * 3)
        self.assertEqual(waiting.mapped("error_class"), ["business"] * 3)
        self.assertEqual(
            waiting[0].error,
            "No Carrier Status Mapping row maps the EasyPost tracking status teleported "
            "(detail beamed_up): kept until one is added.",
        )
        self.assertFalse(self.shipment.event_ids)
        # One exception per unmapped status and detail, not one per message.
        exceptions = self.open_mapping_missing()
        self.assertEqual(
            exceptions.mapped("name"),
            [
                "hook_easypost: tracking status teleported / beamed_up is not mapped",
                "hook_easypost: tracking status teleported / beamed_down is not mapped",
            ],
        )
        self.assertEqual(exceptions[0].waiting_message_ids, waiting[:2])
        self.assertEqual(exceptions[0].message_id.id, first)
        self.assertEqual(exceptions[1].waiting_message_ids, waiting[2])

        # A redelivery of a waiting event is a duplicate; the same code joins its exception.
        self.assert_answer(
            self.post(self.tracker_event("evt_u1", "teleported", "beamed_up")), 200, "duplicate"
        )
        self.assert_answer(
            self.post(self.tracker_event("evt_u4", "teleported", "beamed_up")), 202, "accepted"
        )
        self.run_queued_jobs()
        self.assertEqual(len(self.messages()), 4)
        self.assertEqual(self.open_mapping_missing(), exceptions)
        messages = self.messages()
        self.assertEqual(exceptions[0].waiting_message_ids, messages[:2] | messages[3])

        # A manager maps the status: Odoo processes the waiting messages again by itself.
        self.env["logistics.carrier.status.map"].create(
            {
                "adapter": "easypost",
                "status": "teleported",
                "event_type_id": self.env.ref(
                    "logistics_integration_base.event_type_in_transit"
                ).id,
            }
        )
        self.assertFalse(self.open_mapping_missing())
        for exception in exceptions:
            self.assertTrue(exception.is_closed)
            self.assertTrue(exception.auto_resolved)
            self.assertIn("the status is mapped to in_transit", exception.resolution_note)
        self.assertIn("3 waiting message(s) processed again", exceptions[0].resolution_note)
        self.run_queued_jobs()
        originals = self.messages().filtered(lambda m: not m.replay_of_id)
        self.assertEqual(originals.mapped("state"), ["dead"] * 4)
        replays = originals.replay_ids
        self.assertEqual(len(replays), 4)
        self.assertEqual(replays.mapped("state"), ["done"] * 4)
        events = self.shipment.event_ids
        self.assertEqual(
            sorted(events.mapped("source_event_id")), ["evt_u1", "evt_u2", "evt_u3", "evt_u4"]
        )
        self.assertEqual(set(events.mapped("type_id.code")), {"in_transit"})
        self.assertEqual(
            events.filtered(lambda e: e.source_event_id == "evt_u1").message_id,
            originals[0].replay_ids,
        )
        self.assertEqual(self.shipment.status_code, "in_transit")
        # Applied once: EasyPost sending an applied event again is still a duplicate.
        self.assert_answer(
            self.post(self.tracker_event("evt_u2", "teleported", "beamed_up")), 200, "duplicate"
        )

    def test_deliveries_that_map_to_nothing_are_deduplicated(self):
        unknown = self.tracker_event("evt_n1", "unknown", "unknown")
        other = dict(self.tracker_event("evt_n2", "unknown", None), description="batch.created")
        for body in (unknown, other):
            self.assert_answer(self.post(body), 202, "accepted")
            self.assert_answer(self.post(body), 200, "duplicate")
        self.run_queued_jobs()
        self.assertEqual(self.messages().mapped("partner_event_id"), ["evt_n1", "evt_n2"])
        self.assertEqual(self.messages().mapped("state"), ["done", "done"])
        self.assertFalse(self.open_mapping_missing())
        self.assertFalse(self.shipment.event_ids)
        for body in (unknown, other):
            self.assert_answer(self.post(body), 200, "duplicate")

    def test_tracker_without_status_is_refused(self):
        response = self.post(self.tracker_event("evt_s1", None, None))
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["error"], "the tracker has no status")


@tagged("post_install", "-at_install")
class TestConcurrentUnmappedStatus(TransactionCase):
    """Two jobs meet the same new status at the same time, each in a transaction of its own:
    one mapping_missing exception all the same (the database's unique index stops the second,
    whose job is retried and then joins the first). Needs committed data, so it commits and
    cleans up."""

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            backend = env["logistics.backend"].create(
                {"name": "Race EasyPost", "code": "t_race_easypost", "kind": "carrier"}
            )
            backend.adapter = "easypost"
            body = TestUnmappedStatus.tracker_event("evt_race", "teleported", "raced")
            messages = env["logistics.message"].create(
                [
                    {
                        "direction": "inbound",
                        "backend_id": backend.id,
                        "operation": "webhook",
                        "payload": dict(body, id=event_id),
                        "partner_event_id": event_id,
                        "state": "queued",
                    }
                    for event_id in ("evt_race_1", "evt_race_2")
                ]
            )
            self.backend_id, self.message_ids = backend.id, messages.ids
        self.addCleanup(self.delete_committed_data)

    def delete_committed_data(self):
        with self.registry.cursor() as cr:
            cr.execute(
                "DELETE FROM mail_message WHERE model = 'logistics.exception' AND res_id IN"
                " (SELECT id FROM logistics_exception WHERE backend_id = %s)",
                [self.backend_id],
            )
            cr.execute(
                "DELETE FROM mail_followers WHERE res_model = 'logistics.exception' AND res_id IN"
                " (SELECT id FROM logistics_exception WHERE backend_id = %s)",
                [self.backend_id],
            )
            cr.execute("DELETE FROM logistics_message WHERE backend_id = %s", [self.backend_id])
            cr.execute("DELETE FROM logistics_exception WHERE backend_id = %s", [self.backend_id])
            cr.execute(
                "DELETE FROM logistics_audit_log WHERE model = 'logistics.backend' AND res_id = %s",
                [self.backend_id],
            )
            cr.execute("DELETE FROM logistics_backend WHERE id = %s", [self.backend_id])

    @mute_logger("odoo.sql_db")
    def test_two_jobs_meeting_a_new_status_raise_one_exception(self):
        registry = self.registry
        both_reading = threading.Barrier(2, timeout=10)
        outcomes, errors = {}, []

        def process(message_id, hold):
            try:
                with registry.cursor() as cr:
                    env = api.Environment(cr, api.SUPERUSER_ID, {})
                    backend = env["logistics.backend"].browse(self.backend_id)
                    # Both snapshots are taken before either transaction commits.
                    env["logistics.exception"].search_count([("backend_id", "=", backend.id)])
                    both_reading.wait()
                    backend._process_inbound(env["logistics.message"].browse(message_id))
                    time.sleep(hold)
                outcomes[message_id] = "processed"
            except RetryableJobError:
                outcomes[message_id] = "retry"
            except Exception as error:  # reported by the assertion below
                errors.append(error)

        threads = [
            threading.Thread(target=process, args=(message_id, hold))
            for message_id, hold in zip(self.message_ids, (0.5, 0.0), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertFalse(errors, errors)
        self.assertEqual(sorted(outcomes.values()), ["processed", "retry"])
        # queue_job runs the postponed job again: it joins the exception it could not see.
        (retried,) = [key for key, outcome in outcomes.items() if outcome == "retry"]
        with registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            backend = env["logistics.backend"].browse(self.backend_id)
            backend._process_inbound(env["logistics.message"].browse(retried))
        with registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            exceptions = env["logistics.exception"].search(
                [("backend_id", "=", self.backend_id), ("type_code", "=", "mapping_missing")]
            )
            self.assertEqual(len(exceptions), 1)
            self.assertEqual(sorted(exceptions.waiting_message_ids.ids), self.message_ids)
            self.assertEqual(exceptions.waiting_message_ids.mapped("state"), ["dead", "dead"])
