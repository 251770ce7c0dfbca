import json

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from .common import LogisticsCase
from .partner_server import LoopbackPartnerMixin, ScriptedPartner


class TestPublication(LoopbackPartnerMixin, LogisticsCase):
    """Milestones fan out to subscribers; a subscriber that is down delays only itself."""

    def setUp(self):
        super().setUp()
        self.partner = ScriptedPartner().__enter__()
        self.addCleanup(self.partner.__exit__)
        self.channel = self.env["logistics.backend"].create(
            {
                "name": "Marketplace",
                "code": "t_channel",
                "kind": "channel",
                "base_url": self.partner.url,
                "auth_type": "none",
                "backoff_base": 1.0,
            }
        )
        self.env["logistics.subscription"].create(
            {
                "backend_id": self.channel.id,
                "event_type_ids": [
                    (
                        6,
                        0,
                        [
                            self.env.ref("logistics_integration_base.event_type_shipped").id,
                            self.env.ref("logistics_integration_base.event_type_delivered").id,
                        ],
                    )
                ],
            }
        )

    def publications(self):
        return self.env["logistics.message"].search(
            [("backend_id", "=", self.channel.id), ("operation", "=", "publish_milestone")],
            order="id",
        )

    def test_subscriber_down_delays_only_itself_then_gets_its_backlog_in_order(self):
        self.partner.answer(503).answer(503)
        with trap_jobs():
            self.ingest(self.wms, [self.event("shipped", "2026-01-05T09:00:00Z", "p-1")])
            self.ingest(self.carrier, [self.event("in_transit", "2026-01-05T12:00:00Z", "p-2")])
            self.ingest(self.carrier, [self.event("delivered", "2026-01-06T09:00:00Z", "p-3")])
            # Execution went on while the subscriber is down.
            self.assertEqual(self.shipment.status_code, "delivered")
            first, second = self.publications()
            self.assertEqual(first.payload["type"], "shipped")
            self.assertEqual(second.payload["type"], "delivered")
            self.assertEqual(second.correlation_id, self.shipment.correlation_id)
            first._deliver()  # 503: retrying
            self.assertEqual(first.state, "retrying")
            with self.assertRaises(RetryableJobError):
                second._deliver()  # waits behind the first, without using an attempt
            self.assertEqual((second.state, second.attempts), ("queued", 0))
            first._deliver()  # 503 again
            first._deliver()  # the subscriber is back: 200
            self.assertEqual(first.state, "done")
            second._deliver()
            self.assertEqual(second.state, "done")
        bodies = [json.loads(body)["type"] for _m, path, _h, body in self.partner.requests]
        self.assertEqual(bodies, ["shipped", "shipped", "shipped", "delivered"])
        self.assertEqual({path for _m, path, _h, _b in self.partner.requests}, {"/milestones"})

    def test_one_shipments_failing_publication_holds_only_that_shipment(self):
        """The order is per shipment: a channel refusing one order's milestone (retrying)
        doesn't keep another order's milestones waiting behind it."""
        other = self.create_sale_order().picking_ids.logistics_shipment_ids
        self.partner.answer(503)
        with trap_jobs():
            self.ingest(self.wms, [self.event("shipped", "2026-01-05T09:00:00Z", "q-1")])
            self.ingest(
                self.wms,
                [self.event("shipped", "2026-01-05T10:00:00Z", "q-2", shipment_ref=other.name)],
            )
            first, second = self.publications()
            self.assertEqual(second.shipment_id, other)
            first._deliver()  # 503: retrying
            self.assertEqual(first.state, "retrying")
            second._deliver()  # another shipment: not held
            self.assertEqual(second.state, "done")

    def test_publications_run_on_the_publication_channel(self):
        # The backend's own channel is the operational default: the flow policy of
        # publish_milestone decides, so a slow subscriber never holds an operational slot.
        self.assertEqual(self.channel.channel, "root.logistics.operational")
        with trap_jobs() as trap:
            self.ingest(self.wms, [self.event("shipped", "2026-01-05T09:00:00Z", "c-1")])
            (job,) = [job for job in trap.enqueued_jobs if job.recordset == self.publications()]
        self.assertEqual(job.method_name, "_deliver")
        self.assertEqual((job.channel, job.priority), ("root.logistics.publication", 20))

    def test_unsubscribed_and_ignored_events_are_not_published(self):
        with trap_jobs():
            self.ingest(self.wms, [self.event("picked", "2026-01-05T09:00:00Z", "n-1")])
            # A WMS claiming delivery is not the owner: kept, not published.
            self.ingest(self.wms, [self.event("delivered", "2026-01-06T09:00:00Z", "n-2")])
        self.assertFalse(self.publications())

    def test_channel_that_never_confirms_raises_dispatch_confirmation_failed(self):
        self.partner.answer(422, {"error": "unknown order"})
        with trap_jobs() as trap:
            self.ingest(self.wms, [self.event("shipped", "2026-01-05T09:00:00Z", "p-9")])
            trap.perform_enqueued_jobs()
        publication = self.publications()
        self.assertEqual(publication.state, "dead")
        exception = self.shipment.exception_ids.filtered(
            lambda e: e.type_code == "dispatch_confirmation_failed"
        )
        self.assertEqual(len(exception), 1)
        self.assertEqual(exception.message_id, publication)
        self.assertIn("not confirmed", exception.name)
        # A later confirmation from the channel clears it.
        self.ingest(
            self.channel,
            [self.event("dispatch_confirmed", "2026-01-05T10:00:00Z", "p-10")],
        )
        self.assertTrue(exception.is_closed)


class TestRetention(LogisticsCase):
    def test_old_payloads_are_purged_messages_and_events_stay(self):
        self.ingest(
            self.wms,
            [self.event("picked", "2026-01-05T09:00:00Z", "r-1", payload={"big": "x" * 100})],
        )
        message = self.env["logistics.message"].create(
            {
                "direction": "inbound",
                "operation": "webhook",
                "state": "done",
                "payload": {"a": 1},
                "request_body": '{"a": 1}',
                "backend_id": self.wms.id,
            }
        )
        recent = self.env["logistics.message"].create(
            {
                "direction": "inbound",
                "operation": "webhook",
                "state": "done",
                "payload": {"b": 2},
                "backend_id": self.wms.id,
            }
        )
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE logistics_message SET create_date = now() - interval '100 days' WHERE id = %s",
            [message.id],
        )
        self.env.cr.execute(
            "UPDATE logistics_event SET recorded_at = now() - interval '100 days'"
            " WHERE source_event_id = 'r-1'"
        )
        self.env["ir.config_parameter"].set_param("logistics.payload_retention_days", 90)
        self.assertEqual(self.env["logistics.message"]._cron_purge_payloads(), 1)
        self.assertTrue(message.exists())
        self.assertTrue(message.payload_purged)
        self.assertFalse(message.payload)
        self.assertFalse(message.request_body)
        self.assertEqual(recent.payload, {"b": 2})
        event = self.shipment.event_ids
        self.assertEqual(len(event), 1)
        self.assertFalse(event.payload)
        self.assertEqual(event.type_id.code, "picked")
