import json

from odoo import Command
from odoo.tests import tagged

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase
from odoo.addons.queue_job.tests.common import trap_jobs


@tagged("post_install", "-at_install")
class TestWmsInboundIsolation(LogisticsCase):
    """One shipment confirmation that Odoo refuses to apply does not block the WMS's other
    confirmations: three stored callbacks, the middle one for a lot-tracked product whose stock
    was counted without lots, so that validating its transfer raises Odoo's "You need to supply
    a Lot/Serial number" (the WMS reports no lots)."""

    def setUp(self):
        super().setUp()
        self.wms.adapter = "wms_rest"
        self.location = (
            self.env["stock.warehouse"]
            .search([("company_id", "=", self.company.id)], limit=1)
            .lot_stock_id
        )
        self.product.default_code = "WIDGET-1"
        self.lotted = self.env["product.product"].create(
            {
                "name": "Lotted Widget",
                "default_code": "LOT-1",
                "type": "consu",
                "is_storable": True,
                "tracking": "lot",
            }
        )
        Quant = self.env["stock.quant"]
        Quant._update_available_quantity(self.product, self.location, 10)
        Quant._update_available_quantity(self.lotted, self.location, 10)
        self.pickings = [
            self.order(self.product, 3),
            self.order(self.lotted, 3),
            self.order(self.product, 2),
        ]

    def order(self, product, quantity):
        sale = self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "order_line": [
                    Command.create({"product_id": product.id, "product_uom_qty": quantity})
                ],
            }
        )
        sale.action_confirm()
        picking = sale.picking_ids
        self.assertEqual(picking.state, "assigned")
        return picking

    def store_shipped(self):
        """The WMS's shipped callbacks of the three transfers, stored as the webhook stores
        them (queued)."""
        Message = self.env["logistics.message"]
        ids = []
        for number, picking in enumerate(self.pickings):
            document = {
                "event_id": f"ship-{number}",
                "event": "order.shipped",
                "order_ref": picking.name,
                "shipment_ref": picking.logistics_shipment_ids.name,
                "occurred_at": f"2026-03-01T1{number}:00:00+00:00",
                "lines": [
                    {
                        "line_id": str(move.id),
                        "sku": move.product_id.default_code,
                        "quantity_ordered": move.product_uom_qty,
                        "quantity_done": move.product_uom_qty,
                    }
                    for move in picking.move_ids
                ],
            }
            message_id, _pending = Message._store_inbound(
                self.wms, "webhook", document, json.dumps(document), document["event_id"], None
            )
            ids.append(message_id)
        return Message.browse(ids)

    def run_inbound_jobs(self, messages):
        with trap_jobs() as trap:
            self.wms._enqueue_inbound_processing(messages)
            jobs = list(trap.enqueued_jobs)
            for job in jobs:
                self.assertEqual(job.max_retries, self.wms.max_attempts)
            trap.perform_enqueued_jobs()
        return jobs

    def refusal(self):
        """Why the confirmation of the lot-tracked product (no lot reported) is not applied."""
        return (
            f"The WMS's shipped confirmation for {self.pickings[1].name} was not applied (the "
            f"transfer keeps its reservation): {self.lotted.display_name}: tracked by lot or "
            "serial number, shipped without one"
        )

    def assert_poison_isolated(self, messages):
        first, refused, third = messages
        refusal = self.refusal()
        # The other two are applied: events stored, transfers validated.
        self.assertEqual((first.state, third.state), ("done", "done"))
        for picking in (self.pickings[0], self.pickings[2]):
            self.assertEqual(picking.state, "done")
            self.assertEqual(picking.logistics_shipment_ids.status_code, "shipped")
        # The refused one is dead with Odoo's reason and nothing of it applied.
        self.assertEqual(
            (refused.state, refused.error_class, refused.error), ("dead", "business", refusal)
        )
        shipment = self.pickings[1].logistics_shipment_ids
        self.assertEqual(refused.shipment_id, shipment)
        self.assertEqual(self.pickings[1].state, "assigned")
        self.assertFalse(shipment.event_ids)
        self.assertFalse(shipment.status_code)
        exception = self.env["logistics.exception"].search([("message_id", "=", refused.id)])
        self.assertEqual(
            (len(exception), exception.type_code, exception.shipment_id, exception.backend_id),
            (1, "wms_confirmation_unapplied", shipment, self.wms),
        )
        self.assertEqual(
            exception.name, f"t_wms: message #{refused.id} not applied: {refusal}"[:200]
        )
        self.assertEqual(exception.source_event_id, "ship-1")
        self.assertFalse(
            self.env["logistics.exception"].search([("message_id", "in", (first | third).ids)])
        )

    def test_refused_confirmation_is_dead_and_the_rest_of_the_batch_applied(self):
        messages = self.store_shipped()
        jobs = self.run_inbound_jobs(messages)
        self.assertEqual(len(jobs), 1)  # one batch job
        self.assertEqual(
            jobs[0].result, "3 message(s): 2 accepted, 0 duplicates, 0 rejected, 1 dead"
        )
        self.assert_poison_isolated(messages)

        # Replayed before the cause is fixed: dead again, with an exception of its own.
        refused = messages[1]
        with trap_jobs() as trap:
            first_replay = refused.with_user(self.manager).action_replay("try again")
            trap.perform_enqueued_jobs()
        self.assertEqual(first_replay.state, "dead")
        # The cause fixed (the product is not tracked by lot after all), the replay of the
        # replay applies it, and closes both exceptions.
        self.lotted.product_tmpl_id.tracking = "none"
        with trap_jobs() as trap:
            replay = first_replay.with_user(self.manager).action_replay(
                "Lotted Widget is not lot-tracked"
            )
            self.assertEqual(replay.state, "queued")
            trap.perform_enqueued_jobs()
        self.assertEqual(replay.state, "done")
        self.assertTrue(
            self.env["logistics.exception"].search([("message_id", "=", first_replay.id)]).is_closed
        )
        self.assertEqual(self.pickings[1].state, "done")
        shipment = self.pickings[1].logistics_shipment_ids
        self.assertEqual(shipment.status_code, "shipped")
        self.assertEqual(shipment.event_ids.message_id, replay)
        # Its exception is closed: what it reported is applied.
        exception = self.env["logistics.exception"].search([("message_id", "=", refused.id)])
        self.assertTrue(exception.is_closed)
        self.assertTrue(exception.auto_resolved)
        self.assertEqual(exception.resolution_note, f"Applied by its replay, message #{replay.id}.")

    def test_per_message_jobs_isolate_the_refused_confirmation_too(self):
        self.wms.inbound_batch = False
        messages = self.store_shipped()
        jobs = self.run_inbound_jobs(messages)
        self.assertEqual(len(jobs), 3)
        self.assertEqual(
            [job.identity_key for job in jobs],
            [f"logistics-inbound-message-{message.id}" for message in messages],
        )
        self.assertEqual(
            jobs[1].result, "1 message(s): 0 accepted, 0 duplicates, 0 rejected, 1 dead"
        )
        self.assert_poison_isolated(messages)

    def test_rpc_ingest_rejects_the_refused_event_and_applies_the_others(self):
        """The same confirmations sent as canonical events over RPC (ingest_events): the one
        Odoo refuses comes back rejected with its index, the others are applied."""
        messages = self.store_shipped()
        events = [
            event
            for message in messages
            for event in self.wms._parse_webhook_events(message.payload)
        ]
        for event in events:
            event["event_id"] = f"rpc-{event['event_id']}"
        result = self.env["logistics.event"].with_user(self.user).ingest_events("t_wms", events)
        refusal = self.refusal()
        self.assertEqual(
            result,
            {
                "accepted": 2,
                "duplicates": 0,
                "rejected": [{"index": 1, "error": f"not applied: {refusal}"}],
            },
        )
        self.assertEqual([p.state for p in self.pickings], ["done", "assigned", "done"])
        exception = self.env["logistics.exception"].search(
            [
                ("type_code", "=", "wms_confirmation_unapplied"),
                ("source_event_id", "=", "rpc-ship-1"),
            ]
        )
        self.assertEqual(exception.name, f"t_wms: event #1 not applied: {refusal}"[:200])
