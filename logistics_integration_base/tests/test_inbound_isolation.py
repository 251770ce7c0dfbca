import json
from contextlib import closing
from unittest.mock import patch

from psycopg2 import errors

from odoo import SUPERUSER_ID, api
from odoo.sql_db import db_connect
from odoo.tests import get_db_name

from odoo.addons.queue_job.exception import FailedJobError, RetryableJobError
from odoo.addons.queue_job.job import Job

from .common import LogisticsCase

CONCURRENT_REF = "SHP/CONCURRENT/1"


class TestInboundConcurrency(LogisticsCase):
    """A database concurrency error while processing inbound messages is no poison: the job
    retries, a bounded number of times, and then its messages end dead instead of being queued
    again by the safety-net cron.

    The conflict is real: another connection (committing on its own, never the test's
    transaction) changes a shipment that the test transaction is about to move, and commits
    first, as another worker would (PostgreSQL answers "could not serialize access due to
    concurrent update" at repeatable read, Odoo's isolation level)."""

    @classmethod
    def setUpClass(cls):
        # The shipment must be committed before the test transaction takes its snapshot, for
        # the other connection to see it and change it.
        with closing(db_connect(get_db_name()).cursor()) as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cls.concurrent_id = env["logistics.shipment"].create({"name": CONCURRENT_REF}).id
            cr.commit()  # pylint: disable=invalid-commit
        # Registered first, so run last: after the test transaction is rolled back.
        cls.addClassCleanup(cls._delete_concurrent_shipment)
        super().setUpClass()

    @classmethod
    def _delete_concurrent_shipment(cls):
        with closing(db_connect(get_db_name()).cursor()) as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["logistics.shipment"].browse(cls.concurrent_id).unlink()
            cr.commit()  # pylint: disable=invalid-commit

    def change_shipment_elsewhere(self):
        """Another transaction changes the shipment and commits."""
        with closing(db_connect(get_db_name()).cursor()) as cr:
            cr.execute(
                "UPDATE logistics_shipment SET write_date = now() AT TIME ZONE 'UTC' WHERE id = %s",
                [self.concurrent_id],
            )
            cr.commit()  # pylint: disable=invalid-commit

    def store(self, count=3):
        """Inbound messages of the carrier, stored as the webhook stores them."""
        Message = self.env["logistics.message"]
        ids = []
        for number in range(count):
            event = {
                "type": "in_transit",
                "occurred_at": f"2026-03-01T1{number}:00:00+00:00",
                "event_id": f"conc-{number}",
                "shipment_ref": CONCURRENT_REF,
            }
            message_id, _pending = Message._store_inbound(
                self.carrier, "webhook", event, json.dumps(event), event["event_id"], None
            )
            ids.append(message_id)
        return Message.browse(ids)

    def events(self):
        return self.env["logistics.event"].search([("backend_id", "=", self.carrier.id)])

    def test_serialization_failure_retries_the_job_and_kills_no_message(self):
        messages = self.store()
        self.change_shipment_elsewhere()
        # The batch job.
        with self.assertRaises(RetryableJobError) as caught:
            self.carrier._process_inbound_queue()
        self.assertIsInstance(caught.exception.__cause__, errors.SerializationFailure)
        self.assertIn("database concurrency error (SerializationFailure)", str(caught.exception))
        # The per-message job (backends without batch processing).
        with self.assertRaises(RetryableJobError) as caught:
            messages[1]._process_inbound_job()
        self.assertIsInstance(caught.exception.__cause__, errors.SerializationFailure)
        # Nothing is dead and nothing was applied: the job runs again in a new transaction.
        self.assertEqual(messages.mapped("state"), ["queued", "queued", "queued"])
        self.assertFalse(any(messages.mapped("error")))
        self.assertFalse(self.events())
        self.assertFalse(
            self.env["logistics.exception"].search([("backend_id", "=", self.carrier.id)])
        )

    def test_job_failing_for_good_is_bounded_and_the_cron_does_not_queue_it_again(self):
        self.carrier.max_attempts = 2
        messages = self.store()
        self.change_shipment_elsewhere()
        key = self.carrier._inbound_job_key()
        self.carrier._enqueue_inbound_processing(messages)
        record = self.env["queue.job"].search([("identity_key", "=", key)])
        self.assertEqual((len(record), record.max_retries), (1, 2))
        job = Job.load(self.env, record.uuid)
        job.set_started()
        job.store()
        with self.assertRaises(RetryableJobError):
            job.perform()
        with self.assertRaises(FailedJobError) as caught:
            job.perform()
        self.assertIn("Max. retries (2) reached", str(caught.exception))
        # What queue_job's runner records when a job fails for good (RunJobController._runjob).
        job.set_failed(exc_name="FailedJobError", exc_message=str(caught.exception))
        job.store()
        self.assertEqual(messages.mapped("state"), ["queued", "queued", "queued"])

        # The safety net runs a minute later: the messages are dead, not queued again.
        self.env.cr.execute(
            "UPDATE logistics_message SET state_changed_at = state_changed_at - interval '1 minute'"
            " WHERE id IN %s",
            [tuple(messages.ids)],
        )
        messages.invalidate_recordset()
        Backend = self.env["logistics.backend"]
        self.assertEqual(Backend._cron_process_stale_inbound(), 0)
        self.assertEqual(messages.mapped("state"), ["dead", "dead", "dead"])
        self.assertEqual(set(messages.mapped("error_class")), {"transient"})
        self.assertEqual(
            messages[0].error,
            "The processing job failed and was not retried further: FailedJobError: "
            + str(caught.exception),
        )
        exception = self.env["logistics.exception"].search([("backend_id", "=", self.carrier.id)])
        self.assertEqual(
            (len(exception), exception.type_code, exception.message_id),
            (1, "processing_failed", messages[0]),
        )
        self.assertEqual(exception.name, "t_carrier: processing of 3 inbound message(s) failed")
        self.assertIn(
            f"Dead messages: #{messages[0].id}, #{messages[1].id}, #{messages[2].id}",
            exception.description,
        )
        self.assertFalse(
            self.env["queue.job"].search([("identity_key", "=", key), ("state", "=", "pending")])
        )
        # And the next run has nothing left to do.
        self.assertEqual(Backend._cron_process_stale_inbound(), 0)
        self.assertEqual(self.env["queue.job"].search_count([("identity_key", "=", key)]), 1)


class TestInboundJobConditions(LogisticsCase):
    """What the job, not the message, is to blame for is not made a poison message."""

    def test_a_reaction_asking_for_a_retry_and_the_cpu_time_limit_are_not_poison(self):
        Message = self.env["logistics.message"]
        # A reaction registered as a connector registers one: _on_event_<type code>.
        Event = type(self.env["logistics.event"])
        for number, error in enumerate(
            # As a reaction waiting for a partner raises it; as an Odoo worker raises when its
            # CPU time limit is reached (odoo/service/server.py).
            (RetryableJobError("partner busy"), Exception("CPU time limit exceeded."))
        ):
            messages = Message.browse()
            for index in range(2):
                event = self.event(
                    "in_transit", "2026-03-01T10:00:00+00:00", f"cond-{number}-{index}"
                )
                message_id, _pending = Message._store_inbound(
                    self.carrier, "webhook", event, json.dumps(event), event["event_id"], None
                )
                messages |= Message.browse(message_id)

            def react(events, error=error):
                raise error

            with (
                patch.object(Event, "_on_event_in_transit", react, create=True),
                self.assertRaises(type(error)) as caught,
            ):
                self.carrier._process_inbound(messages)
            self.assertIs(caught.exception, error)
            self.assertEqual(messages.mapped("state"), ["queued", "queued"])
            self.assertFalse(self.shipment.event_ids)
