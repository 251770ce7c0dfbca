import json
import tempfile
from datetime import timedelta
from pathlib import Path

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase
from odoo.addons.logistics_integration_base.tests.partner_server import (
    LoopbackPartnerMixin,
    ScriptedPartner,
)
from odoo.addons.queue_job.tests.common import trap_jobs


@tagged("post_install", "-at_install")
class TestWmsFlow(LoopbackPartnerMixin, LogisticsCase):
    """Release, confirmations, acknowledgements, stock and cancellations against a real HTTP
    partner on 127.0.0.1 (and a real drop directory for the file variant)."""

    def setUp(self):
        super().setUp()
        self.partner = ScriptedPartner().__enter__()
        self.addCleanup(self.partner.__exit__)
        self.warehouse = self.env["stock.warehouse"].search(
            [("company_id", "=", self.company.id)], limit=1
        )
        self.wms.write(
            {
                "adapter": "wms_rest",
                "base_url": self.partner.url,
                "auth_type": "bearer",
            }
        )
        self.wms.api_key = "wms-key"
        self.warehouse.logistics_wms_backend_id = self.wms
        self.product.default_code = "WIDGET-1"
        self.stock(10)

    def stock(self, quantity):
        self.env["stock.quant"]._update_available_quantity(
            self.product, self.warehouse.lot_stock_id, quantity
        )

    def run_jobs(self, trap):
        for _round in range(10):
            if not trap.enqueued_jobs:
                return
            trap.perform_enqueued_jobs()

    def released_order(self, quantity=3):
        """A confirmed order, released and accepted by the WMS."""
        with trap_jobs() as trap:
            sale = self.create_sale_order(quantity=quantity)
            self.run_jobs(trap)
        return sale.picking_ids, sale.picking_ids.logistics_shipment_ids

    def callback(self, shipment, name, event_id, lines=None, minutes=0):
        picking = shipment.picking_id
        at = fields.Datetime.now() + timedelta(minutes=minutes)
        return self.env["logistics.event"].ingest_events(
            self.wms.code,
            self.wms._parse_webhook_events(
                {
                    "event_id": event_id,
                    "event": name,
                    "order_ref": picking.name,
                    "shipment_ref": shipment.name,
                    "occurred_at": at.isoformat() + "+00:00",
                    "lines": lines or [],
                }
            ),
        )

    def lines(self, picking, done):
        return [
            {
                "line_id": str(move.id),
                "sku": move.product_id.default_code,
                "quantity_ordered": move.product_uom_qty,
                "quantity_done": done,
            }
            for move in picking.move_ids
        ]

    def test_ready_order_is_released_once_and_recorded(self):
        picking, shipment = self.released_order()
        self.assertEqual(picking.state, "assigned")
        self.assertEqual(len(self.partner.requests), 1)
        method, path, headers, body = self.partner.requests[0]
        self.assertEqual((method, path), ("POST", "/api/orders"))
        self.assertEqual(headers["Authorization"], "Bearer wms-key")
        self.assertEqual(headers["Idempotency-Key"], shipment.wms_release_message_id.uuid)
        document = json.loads(body)
        self.assertEqual(document["order_ref"], picking.name)
        self.assertEqual(document["shipment_ref"], shipment.name)
        self.assertEqual(
            document["lines"],
            [
                {
                    "line_id": str(picking.move_ids.id),
                    "sku": "WIDGET-1",
                    "quantity": 3.0,
                    "uom": "Units",
                    "quantity_base": 3.0,
                    "base_uom": "Units",
                }
            ],
        )
        self.assertEqual(shipment.status_code, "order_released")
        self.assertEqual(shipment.status_owner, "odoo")
        self.assertTrue(shipment.wms_released_at)
        self.assertEqual(shipment.wms_backend_id, self.wms)
        # A second reservation pass releases nothing more.
        picking.move_ids._action_assign()
        self.assertEqual(
            len(
                self.env["logistics.message"].search(
                    [("shipment_id", "=", shipment.id), ("operation", "=", "order_release")]
                )
            ),
            1,
        )

    def test_a_release_the_wms_already_has_is_done_with_its_answer(self):
        """Issue 12, item 6: the answer to the first call is lost (a 500 after the WMS took the
        order); the retry gets 409 ORDER_EXISTS, the WMS REST adapter's rule for "I have it"."""
        self.wms.backoff_base = 0.01
        exists = {"error": {"code": "ORDER_EXISTS", "message": "order WH/OUT/00001 already exists"}}
        self.partner.answer(500).answer(409, exists)
        _picking, shipment = self.released_order()
        message = shipment.wms_release_message_id
        self.assertEqual((message.state, message.attempts, message.http_status), ("done", 2, 409))
        self.assertIn("ORDER_EXISTS", message.response_body)
        self.assertIn("already has it", message.attempt_ids[-1].error)
        self.assertEqual(shipment.status_code, "order_released")
        self.assertFalse(self.env["logistics.exception"].search([("message_id", "=", message.id)]))

    def test_another_conflict_is_a_refusal(self):
        self.partner.answer(409, {"error": {"code": "SKU_LOCKED", "message": "inventory count"}})
        _picking, shipment = self.released_order()
        message = shipment.wms_release_message_id
        self.assertEqual((message.state, message.error_class), ("dead", "business"))
        self.assertEqual(
            self.env["logistics.exception"].search([("message_id", "=", message.id)]).type_code,
            "schema_invalid",
        )

    def test_a_release_dead_on_transient_errors_is_an_exception_for_a_person(self):
        self.wms.write({"max_attempts": 2, "backoff_base": 0.01, "circuit_threshold": 10})
        self.partner.answer(503).answer(503)
        _picking, shipment = self.released_order()
        message = shipment.wms_release_message_id
        self.assertEqual((message.state, message.error_class), ("dead", "transient"))
        exception = self.env["logistics.exception"].search([("message_id", "=", message.id)])
        self.assertEqual(exception.type_code, "order_release_failed")
        self.assertEqual(exception.shipment_id, shipment)
        self.assertIn("was not released", exception.description)
        self.assertIn("replay the release message", exception.description)
        # The replay (same key) that the WMS accepts releases the order and closes it.
        with trap_jobs() as trap:
            replay = message.with_user(self.manager).action_replay("WMS back up")
            self.run_jobs(trap)
        self.assertEqual((replay.state, replay.uuid), ("done", message.uuid))
        self.assertTrue(exception.is_closed)

    def test_order_without_stock_waits_for_it(self):
        self.env["stock.quant"].search([("product_id", "=", self.product.id)]).unlink()
        with trap_jobs() as trap:
            sale = self.create_sale_order(quantity=2)
            shipment = sale.picking_ids.logistics_shipment_ids
            self.assertFalse(shipment.wms_release_message_id)
            self.stock(5)
            sale.picking_ids.action_assign()
            self.assertTrue(shipment.wms_release_message_id)
            self.run_jobs(trap)
        self.assertEqual(shipment.status_code, "order_released")

    def test_full_shipment_validates_the_transfer(self):
        picking, shipment = self.released_order(quantity=3)
        self.callback(shipment, "order.acknowledged", "e1", minutes=1)
        self.callback(shipment, "order.picked", "e2", self.lines(picking, 3), minutes=2)
        result = self.callback(shipment, "order.shipped", "e3", self.lines(picking, 3), minutes=3)
        self.assertEqual(result["accepted"], 1)
        self.assertEqual(picking.state, "done")
        self.assertEqual(picking.move_ids.quantity, 3)
        self.assertFalse(picking.backorder_ids)
        self.assertEqual(shipment.status_code, "shipped")
        self.assertFalse(shipment.exception_ids)
        # The same confirmation again changes nothing.
        self.assertEqual(self.callback(shipment, "order.shipped", "e3")["duplicates"], 1)

    def test_partial_shipment_backorders_and_raises_a_mismatch(self):
        picking, shipment = self.released_order(quantity=3)
        self.callback(shipment, "order.shipped", "e3", self.lines(picking, 2), minutes=3)
        self.assertEqual(picking.state, "done")
        self.assertEqual(picking.move_ids.quantity, 2)
        self.assertEqual(len(picking.backorder_ids), 1)
        self.assertEqual(picking.backorder_ids.move_ids.product_uom_qty, 1)
        exception = shipment.exception_ids
        self.assertEqual(exception.type_code, "partial_shipment_mismatch")
        self.assertIn("ordered 3 Units, shipped 2", exception.description)
        self.assertIn(picking.backorder_ids.name, exception.description)
        # The backorder is a shipment of its own, released when ready.
        self.assertTrue(picking.backorder_ids.logistics_shipment_ids)

    def test_missing_acknowledgement_raises_delayed_ack_until_it_comes(self):
        """The WMS's acknowledgement promise is an SLA policy shipped as data (it replaced the
        backend's delay and its cron)."""
        _picking, shipment = self.released_order()
        policy = self.env.ref("logistics_wms_connector.sla_policy_wms_acknowledgement")
        Sla = self.env["logistics.shipment.sla"]
        row = shipment.sla_ids.filtered(lambda r: r.policy_id == policy)
        self.assertEqual(row.due_at, row.started_at + timedelta(minutes=30))
        self.assertEqual(Sla._evaluate_policy(policy, now=row.started_at), 0)
        Sla._evaluate_policy(policy, now=row.due_at + timedelta(minutes=1))
        Sla._evaluate_policy(policy, now=row.due_at + timedelta(minutes=2))
        exception = shipment.exception_ids
        self.assertEqual(exception.type_code, "delayed_ack")
        self.assertEqual(exception.occurrence_count, 1)
        self.assertFalse(exception.is_closed)
        self.callback(shipment, "order.acknowledged", "ack-1", minutes=1)
        self.assertEqual(row.state, "met")
        self.assertTrue(exception.is_closed)
        self.assertTrue(exception.auto_resolved)

    def test_stock_snapshot_differences_become_exceptions(self):
        other = self.env["product.product"].create(
            {"name": "Same Everywhere", "is_storable": True, "default_code": "SAME-1"}
        )
        self.env["stock.quant"]._update_available_quantity(other, self.warehouse.lot_stock_id, 4)
        self.partner.answer(
            200, {"items": [{"sku": "WIDGET-1", "quantity": 7}, {"sku": "SAME-1", "quantity": 4}]}
        )
        with trap_jobs() as trap:
            self.wms.action_sync_stock()
            # A snapshot is reporting work (flow stock_snapshot): on the reporting channel,
            # behind operational jobs.
            job = trap.enqueued_jobs[0]
            self.assertEqual((job.channel, job.priority), ("root.logistics.reporting", 50))
            self.run_jobs(trap)
        self.assertEqual(self.partner.requests[0][:2], ("GET", "/api/stock"))
        exceptions = self.env["logistics.exception"].search([("type_code", "=", "stock_mismatch")])
        self.assertEqual(exceptions.mapped("source_event_id"), ["stock:WIDGET-1"])
        self.assertIn("WMS 7, Odoo 10", exceptions.name)
        # Odoo's quantity is not overwritten.
        self.assertEqual(
            self.product.with_context(location=self.warehouse.lot_stock_id.id).qty_available, 10
        )

    def snapshot_exceptions(self, message, type_code):
        return self.env["logistics.exception"].search(
            [("message_id", "=", message.id), ("type_code", "=", type_code)]
        )

    def test_stock_snapshot_with_bad_items_compares_the_others(self):
        self.partner.answer(
            200,
            {
                "items": [
                    {"sku": "WIDGET-1", "quantity": 7},
                    {"sku": "GHOST-1", "quantity": [3]},
                    {"sku": "GHOST-2", "quantity": None},
                ]
            },
        )
        with trap_jobs() as trap:
            self.wms.action_sync_stock()
            self.run_jobs(trap)
        message = self.env["logistics.message"].search(
            [("backend_id", "=", self.wms.id), ("operation", "=", "stock_snapshot")]
        )
        self.assertEqual(message.state, "done")
        invalid = self.snapshot_exceptions(message, "stock_snapshot_invalid")
        self.assertEqual(len(invalid), 1)
        self.assertIn("- item 2 (GHOST-1): quantity [3] is not a number", invalid.description)
        self.assertIn("- item 3 (GHOST-2): quantity is null", invalid.description)
        self.assertEqual(invalid.team_id.code, "warehouse")
        self.assertIn("WMS 7, Odoo 10", self.snapshot_exceptions(message, "stock_mismatch").name)

    def test_stock_answer_that_is_no_snapshot_ends_dead(self):
        self.partner.answer(200, {"items": "none"})
        with trap_jobs() as trap:
            self.wms.action_sync_stock()
            self.run_jobs(trap)
        message = self.env["logistics.message"].search(
            [("backend_id", "=", self.wms.id), ("operation", "=", "stock_snapshot")]
        )
        self.assertEqual((message.state, message.error_class), ("dead", "business"))
        self.assertIn("not a stock snapshot", message.error)
        self.assertEqual(message.attempt_ids.error_class, "business")
        self.assertTrue(self.snapshot_exceptions(message, "schema_invalid"))
        self.assertFalse(
            self.env["logistics.exception"].search([("type_code", "=", "stock_mismatch")])
        )

    def test_stock_sync_refused_for_an_adapter_without_snapshots(self):
        self.wms.adapter = "generic"
        with self.assertRaisesRegex(UserError, f"{self.wms.name} can't provide stock snapshots"):
            self.wms.action_sync_stock()
        self.assertFalse(
            self.env["logistics.message"].search([("operation", "=", "stock_snapshot")])
        )

    def test_daily_stock_sync_asks_every_wms_that_can_answer(self):
        drop = self.wms.copy({"code": "wms_drop", "adapter": "wms_csv", "protocol": "file"})
        generic = self.wms.copy({"code": "wms_generic", "adapter": "generic"})
        with trap_jobs():
            # The generic one is skipped; the file drop without a directory reads nothing.
            self.env["logistics.backend"]._cron_sync_wms_stock()
        asked = self.env["logistics.message"].search([("operation", "=", "stock_snapshot")])
        self.assertIn(self.wms, asked.backend_id)
        self.assertNotIn(generic, asked.backend_id)
        self.assertIn("no drop directory", drop.action_sync_stock()["params"]["message"])

    def test_file_drop_stock_file_is_compared_like_a_rest_snapshot(self):
        drop = Path(tempfile.mkdtemp())
        self.wms.write({"adapter": "wms_csv", "protocol": "file", "wms_drop_dir": str(drop)})
        (drop / "inbound").mkdir()
        (drop / "inbound" / "stock-1.csv").write_text("sku,quantity\nWIDGET-1,12\nGHOST-1,-5\n")
        (drop / "inbound" / "stock-2.csv").write_text("article,count\nWIDGET-1,12\n")
        with trap_jobs() as trap:
            self.env["logistics.backend"]._cron_import_wms_files()
            self.env.cr.postcommit.run()
            self.run_jobs(trap)
        Message = self.env["logistics.message"]
        message = Message.search([("partner_event_id", "=", "file:stock-1.csv")])
        self.assertEqual((message.operation, message.state), ("stock_snapshot", "done"))
        invalid = self.snapshot_exceptions(message, "stock_snapshot_invalid")
        self.assertIn("- item 2 (GHOST-1): quantity -5 is negative", invalid.description)
        self.assertIn("WMS 12, Odoo 10", self.snapshot_exceptions(message, "stock_mismatch").name)
        broken = Message.search([("partner_event_id", "=", "file:stock-2.csv")])
        self.assertEqual(broken.state, "dead")
        self.assertIn("stock-2.csv: stock file without column(s): quantity, sku", broken.error)
        self.assertTrue(self.snapshot_exceptions(broken, "schema_invalid"))
        self.assertEqual(
            sorted(path.name for path in (drop / "inbound" / "processed").iterdir()),
            ["stock-1.csv", "stock-2.csv"],
        )
        # The Manager's button finds nothing more waiting, and says so.
        action = self.wms.action_sync_stock()
        self.assertIn("no stock file waiting", action["params"]["message"])

    def test_cancellation_after_release_reaches_the_wms(self):
        picking, shipment = self.released_order()
        with trap_jobs() as trap:
            picking.action_cancel()
            job = trap.enqueued_jobs[0]
            self.assertEqual((job.channel, job.priority), ("root.logistics.operational", 5))
            self.run_jobs(trap)
        method, path, _headers, _body = self.partner.requests[-1]
        self.assertEqual((method, path), ("POST", f"/api/orders/{picking.name}/cancel"))
        self.assertEqual(shipment.status_code, "cancelled")

    def test_file_drop_release_and_confirmations(self):
        drop = Path(tempfile.mkdtemp())
        self.wms.write({"adapter": "wms_csv", "protocol": "file", "wms_drop_dir": str(drop)})
        picking, shipment = self.released_order(quantity=3)
        files = list((drop / "outbound").glob("*.csv"))
        self.assertEqual(len(files), 1)
        self.assertIn(
            f"{picking.name},{shipment.name},{picking.move_ids.id},WIDGET-1,3.0",
            files[0].read_text(),
        )
        self.assertEqual(shipment.status_code, "order_released")
        inbound = drop / "inbound"
        inbound.mkdir()
        at = (fields.Datetime.now() + timedelta(minutes=1)).isoformat() + "+00:00"
        (inbound / "confirmations-1.csv").write_text(
            "event_id,event,order_ref,shipment_ref,occurred_at,line_id,sku,quantity_ordered,"
            "quantity_done\n"
            f"f1,order.shipped,{picking.name},{shipment.name},{at},{picking.move_ids.id},"
            "WIDGET-1,3,3\n"
        )
        with trap_jobs() as trap:
            self.env["logistics.backend"]._cron_import_wms_files()
            self.assertTrue((inbound / "confirmations-1.csv").exists(), "moved before commit")
            self.env.cr.postcommit.run()  # what the commit of the cron's transaction does
            self.run_jobs(trap)
        self.assertTrue((inbound / "processed" / "confirmations-1.csv").exists())
        self.assertEqual(picking.state, "done")
        self.assertEqual(shipment.status_code, "shipped")
        # The same file dropped again is a duplicate, not a second import.
        (inbound / "confirmations-1.csv").write_text(
            (inbound / "processed" / "confirmations-1.csv").read_text()
        )
        self.assertIsNone(self.wms._import_wms_file(inbound / "confirmations-1.csv"))

    def test_non_wms_shipped_event_does_not_touch_the_transfer(self):
        picking, shipment = self.released_order()
        self.env["logistics.event"].ingest_events(
            self.carrier.code,
            [
                self.event(
                    "shipped",
                    fields.Datetime.now().isoformat() + "+00:00",
                    "c1",
                    shipment_ref=shipment.name,
                    payload={"lines": self.lines(picking, 3)},
                )
            ],
        )
        self.assertEqual(picking.state, "assigned")

    def test_malformed_file_is_rejected_not_lost(self):
        drop = Path(tempfile.mkdtemp())
        self.wms.write({"adapter": "wms_csv", "protocol": "file", "wms_drop_dir": str(drop)})
        (drop / "inbound").mkdir(parents=True)
        bad = drop / "inbound" / "broken.csv"
        bad.write_text("event_id,event\n1,order.shipped\n")
        self.assertIsNone(self.wms._import_wms_file(bad))
        rejected = self.env["logistics.message"].search(
            [("backend_id", "=", self.wms.id), ("state", "=", "rejected")]
        )
        self.assertIn("broken.csv", rejected.error)
        self.assertIn("event_id,event", rejected.request_body)
