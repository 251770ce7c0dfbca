"""Messages and events as a person reads them: payloads indented, operations and error classes in
words, a carrier checkpoint's place and signer out of the JSON, and groups of messages that add
up nothing meaningless (no sum of HTTP status codes)."""

import json
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .common import LogisticsCase


@tagged("post_install", "-at_install")
class TestMessageReading(LogisticsCase):
    def message(self, **values):
        return self.env["logistics.message"].create(
            dict({"direction": "outbound", "operation": "x", "backend_id": self.wms.id}, **values)
        )

    def test_grouping_messages_by_state_adds_up_no_http_status(self):
        Message = self.env["logistics.message"]
        self.message(http_status=404, latency_ms=100, attempts=1)
        self.message(http_status=500, latency_ms=300, attempts=3)
        # What a grouped list asks for: each numeric column with its field's aggregator.
        columns = ["http_status", "latency_ms", "attempts"]
        described = Message.fields_get(columns, ["aggregator"])
        aggregates = [
            f"{name}:{described[name]['aggregator']}"
            for name in columns
            if "aggregator" in described[name]
        ]
        self.assertEqual(aggregates, ["latency_ms:avg", "attempts:avg"])
        [group] = Message.formatted_read_group(
            [("backend_id", "=", self.wms.id)], ["state"], ["__count", *aggregates]
        )
        self.assertEqual(group["__count"], 2)
        self.assertFalse([key for key in group if key.startswith("http_status")])
        self.assertEqual((group["latency_ms:avg"], group["attempts:avg"]), (200, 2))
        # The attempts' history is grouped the same way.
        attempts = self.env["logistics.message.attempt"].fields_get(["http_status"], ["aggregator"])
        self.assertNotIn("aggregator", attempts["http_status"])

    def test_payload_and_bodies_are_indented_json(self):
        message = self.message(
            payload={"order_ref": "WH/OUT/1", "lines": [{"sku": "A", "quantity": 2}]},
            request_body='{"order_ref":"WH/OUT/1"}',
            response_body="<html>502 Bad Gateway</html>",
        )
        self.assertEqual(
            message.payload_pretty,
            '{\n  "order_ref": "WH/OUT/1",\n  "lines": [\n    {\n      "sku": "A",\n'
            '      "quantity": 2\n    }\n  ]\n}',
        )
        self.assertEqual(message.request_body_pretty, '{\n  "order_ref": "WH/OUT/1"\n}')
        # Not JSON: shown as it is.
        self.assertEqual(message.response_body_pretty, "<html>502 Bad Gateway</html>")
        # The list view reads no payload column.
        list_arch = self.env["logistics.message"].get_view(view_type="list")["arch"]
        for name in ("payload", "request_body", "response_body", "_pretty"):
            self.assertNotIn(name, list_arch)

    def test_operations_and_error_classes_read_in_words(self):
        webhook = self.message(direction="inbound", operation="webhook_batch")
        published = self.message(operation="publish_milestone")
        unknown = self.message(operation="custom_sync")
        self.env["logistics.flow"].create({"name": "Sync the widgets", "code": "custom_flow"})
        flowing = self.message(operation="custom_flow")
        self.assertEqual(webhook.operation_name, "Webhook (batch of events)")
        self.assertEqual(published.operation_name, "Publish a milestone to a subscriber")
        self.assertEqual(flowing.operation_name, "Sync the widgets")
        self.assertEqual(unknown.operation_name, "Custom sync")
        # The code the pipeline dispatches on is unchanged.
        self.assertEqual(webhook.operation, "webhook_batch")
        refused = self.message(error_class="security", http_status=401)
        self.assertTrue(refused.error_class_words.startswith("Credentials refused"))
        self.assertFalse(webhook.error_class_words)

    def test_message_age_and_latency_are_measures(self):
        Message = self.env["logistics.message"]
        old = self.message(latency_ms=40)
        self.env.cr.execute(
            "UPDATE logistics_message SET create_date = %s WHERE id = %s",
            (fields.Datetime.now() - timedelta(hours=10), old.id),
        )
        old.invalidate_recordset()
        self.message(latency_ms=20)
        [group] = Message.formatted_read_group(
            [("backend_id", "=", self.wms.id)],
            ["backend_id"],
            ["__count", "age_hours:avg", "age_hours:max", "latency_ms:avg"],
        )
        self.assertEqual(group["__count"], 2)
        self.assertAlmostEqual(group["age_hours:max"], 10, delta=0.1)
        self.assertAlmostEqual(group["age_hours:avg"], 5, delta=0.1)
        self.assertEqual(group["latency_ms:avg"], 30)
        self.assertAlmostEqual(old.age_hours, 10, delta=0.1)
        described = Message.fields_get(["age_hours"], ["aggregator"])
        self.assertEqual(described["age_hours"]["aggregator"], "avg")

    def test_shipment_measures_age_and_hours_to_delivery(self):
        Shipment = self.env["logistics.shipment"]
        self.env.cr.execute(
            "UPDATE logistics_shipment SET create_date = %s, delivered_at = %s WHERE id = %s",
            (
                fields.Datetime.now() - timedelta(hours=30),
                fields.Datetime.now() - timedelta(hours=6),
                self.shipment.id,
            ),
        )
        self.shipment.invalidate_recordset()
        [group] = Shipment.formatted_read_group(
            [("id", "=", self.shipment.id)],
            [],
            ["__count", "age_hours:avg", "delivery_hours:avg"],
        )
        self.assertAlmostEqual(group["age_hours:avg"], 30, delta=0.1)
        self.assertAlmostEqual(group["delivery_hours:avg"], 24, delta=0.1)
        self.assertAlmostEqual(self.shipment.delivery_hours, 24, delta=0.1)
        described = Shipment.fields_get(
            ["age_hours", "delivery_hours", "status_rank"], ["aggregator"]
        )
        self.assertEqual(described["delivery_hours"]["aggregator"], "avg")
        self.assertNotIn("aggregator", described["status_rank"])
        for model in ("logistics.shipment", "logistics.message"):
            action = self.env["ir.actions.act_window"].search([("res_model", "=", model)])
            self.assertTrue(
                any("pivot" in a.view_mode and "graph" in a.view_mode for a in action), model
            )
            for view_type in ("pivot", "graph"):
                self.assertTrue(self.env[model].get_view(view_type=view_type)["id"], view_type)

    def test_a_carrier_checkpoint_shows_its_place_and_signer(self):
        self.ingest(
            self.carrier,
            [
                self.event(
                    "delivered",
                    "2026-11-22T10:00:00+00:00",
                    "pod-1",
                    payload={
                        "status": "delivered",
                        "message": "Delivered, Front Door/Porch",
                        "location": {
                            "city": "Memphis",
                            "state": "TN",
                            "zip": "38118",
                            "country": "US",
                        },
                        "signed_by": "J. Smith",
                    },
                ),
                self.event(
                    "in_transit",
                    "2026-11-21T10:00:00+00:00",
                    "scan-1",
                    payload={"location": "Memphis, TN"},
                ),
                self.event("picked", "2026-11-20T10:00:00+00:00", "pick-1"),
            ],
        )
        events = {e.source_event_id: e for e in self.shipment.event_ids}
        delivered = events["pod-1"]
        self.assertEqual(delivered.checkpoint_location, "Memphis, TN 38118, US")
        self.assertEqual(delivered.signed_by, "J. Smith")
        self.assertEqual(delivered.checkpoint_message, "Delivered, Front Door/Porch")
        self.assertEqual(json.loads(delivered.payload_pretty)["signed_by"], "J. Smith")
        self.assertIn('\n  "signed_by": "J. Smith"', delivered.payload_pretty)
        self.assertEqual(events["scan-1"].checkpoint_location, "Memphis, TN")
        self.assertFalse(events["scan-1"].signed_by)
        self.assertFalse(events["pick-1"].checkpoint_location or events["pick-1"].signed_by)
        form = self.env["logistics.event"].get_view(view_type="form")["arch"]
        for name in ("checkpoint_location", "signed_by", "payload_pretty"):
            self.assertIn(f'name="{name}"', form)
