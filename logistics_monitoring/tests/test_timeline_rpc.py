"""``logistics.shipment.get_timeline`` as external clients call it: XML-RPC against the real
HTTP server, as a Logistics User."""

import xmlrpc.client
from datetime import timedelta
from unittest.mock import patch

from odoo.tests import HttpCase, tagged

from .common import PARTNER_TRACE, TRACKING, build_story


@tagged("post_install", "-at_install")
class TestTimelineOverXmlRpc(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        build_story(cls)
        cls.other_company = cls.env["res.company"].create({"name": "Timeline Other Co"})
        cls.hidden = cls.env["logistics.shipment"].create(
            {"name": "SHP/TL/OTHER", "company_id": cls.other_company.id}
        )

    def setUp(self):
        super().setUp()
        self.uid = self.xmlrpc_common.authenticate(
            self.env.cr.dbname, "timeline_user", "timeline-user", {}
        )
        self.assertEqual(self.uid, self.user.id)
        Shipment = self.registry["logistics.shipment"]
        self.in_transit_due = self.t0 + timedelta(minutes=30)
        # The connectors' rules read their own backends' settings (tested with them); here the
        # hook answers for the story: the first carrier scan was due 30 minutes after t0.
        patcher = patch.object(
            Shipment,
            "_expected_milestone_due",
            lambda shipments: {self.shipment.id: {"in_transit": self.in_transit_due}},
        )
        patcher.start()
        self.addCleanup(patcher.stop)

    def call(self, method, *args):
        return self.xmlrpc_object.execute_kw(
            self.env.cr.dbname,
            self.uid,
            "timeline-user",
            "logistics.shipment",
            method,
            list(args),
        )

    def assertXmlRpcSafe(self, value):
        """Core XML-RPC carries it: the standard marshaller, without extensions, raises on
        None and on integers past 32 bits."""
        xmlrpc.client.dumps((value,), methodresponse=True)

    def test_the_story_of_a_shipment_in_order(self):
        answer = self.call("get_timeline", self.shipment.name)
        self.assertXmlRpcSafe(answer)
        self.assertEqual(
            set(answer),
            {
                "reference",
                "found",
                "message",
                "generated_at",
                "shipments",
                "entries",
                "handoffs",
                "gaps",
            },
        )
        self.assertTrue(answer["found"])
        self.assertEqual(answer["message"], "")
        self.assertTrue(answer["generated_at"].endswith("Z"))
        [shipment] = answer["shipments"]
        self.assertEqual(shipment["id"], self.shipment.id)
        self.assertEqual(shipment["name"], self.shipment.name)
        self.assertEqual(shipment["status_code"], "label_created")
        self.assertEqual(shipment["tracking_number"], TRACKING)
        self.assertEqual(shipment["order"], self.sale.name)
        self.assertEqual(shipment["transfer"], self.picking.name)
        self.assertEqual(shipment["customer"], "Timeline Customer")
        self.assertEqual(shipment["correlation_id"], self.shipment.correlation_id)
        self.assertEqual(
            [(b["name"], b["kind"]) for b in shipment["backends"]],
            [("Timeline WMS", "wms"), ("Timeline Carrier", "carrier")],
        )

        entries = answer["entries"]
        times = [entry["at"] for entry in entries]
        self.assertEqual(times, sorted(times), "one list, ordered by occurrence")
        self.assertEqual(len({entry["key"] for entry in entries}), len(entries))
        events = [entry for entry in entries if entry["kind"] == "event"]
        self.assertEqual(
            [(e["type_code"], e["mark"], e["marks"], e["duplicate_count"]) for e in events],
            [
                ("order_released", "applied", [], 0),
                ("wms_acknowledged", "applied", [], 0),
                ("picked", "applied", ["duplicate"], 1),
                ("packed", "late", ["late"], 0),
                ("label_created", "applied", [], 0),
                ("shipped", "not_owner", ["not_owner"], 0),
            ],
        )
        by_type = {e["type_code"]: e for e in events}
        self.assertEqual(by_type["packed"]["mark_label"], "Arrived late")
        self.assertEqual(by_type["shipped"]["mark_label"], "Not owner")
        self.assertEqual(by_type["shipped"]["owner"], "wms")
        self.assertEqual(by_type["shipped"]["source"]["name"], "Timeline Carrier")
        released = by_type["order_released"]
        self.assertEqual(
            (released["source"]["name"], released["source"]["is_odoo"], released["owner"]),
            ("Odoo", True, "odoo"),
        )
        self.assertEqual(
            (by_type["picked"]["source"]["name"], by_type["picked"]["source"]["kind"]),
            ("Timeline WMS", "wms"),
        )
        label = by_type["label_created"]
        self.assertTrue(label["is_status"])
        self.assertEqual(label["location"], "HOUSTON, TX 77063")
        self.assertEqual(label["signed_by"], "")
        self.assertEqual(label["detail"], "Label created")
        self.assertEqual(label["occurred_at"], (self.t0 + timedelta(minutes=20)).isoformat() + "Z")
        self.assertTrue(label["recorded_at"].endswith("Z"))
        self.assertGreater(label["lag_seconds"], 2 * 3600)
        self.assertEqual((label["model"], label["res_id"] > 0), ("logistics.event", True))
        self.assertTrue(label["raw_available"])
        self.assertEqual(by_type["wms_acknowledged"]["message_res_id"], self.inbound.id)

        messages = {e["res_id"]: e for e in entries if e["kind"] == "message"}
        dead, replay = messages[self.dead.id], messages[self.replay.id]
        self.assertEqual(
            (dead["direction"], dead["state"], dead["operation"], dead["operation_label"]),
            ("outbound", "dead", "label_buy", "Label buy"),
        )
        self.assertTrue(dead["odoo_action"])
        self.assertEqual(
            (dead["error_class"], dead["error_class_label"]), ("transient", "Transient")
        )
        self.assertEqual(
            [
                (a["number"], a["http_status"], a["latency_ms"], a["error_class_label"])
                for a in dead["attempts"]
            ],
            [(1, 503, 120, "Transient"), (2, 503, 240, "Transient")],
        )
        self.assertEqual(
            dead["attempts"][0]["at"],
            (self.t0 + timedelta(minutes=20, seconds=1)).isoformat() + "Z",
        )
        self.assertEqual(dead["replay_ids"], [self.replay.id])
        self.assertEqual(dead["replay_of"], False)
        self.assertEqual(
            replay["replay_of"], {"res_id": self.dead.id, "name": f"label_buy #{self.dead.id}"}
        )
        self.assertEqual((replay["state"], replay["attempts"]), ("queued", []))
        inbound = messages[self.inbound.id]
        self.assertEqual((inbound["direction"], inbound["odoo_action"]), ("inbound", False))
        # The dead message comes before its replay; messages before exceptions of the same time.
        keys = [entry["key"] for entry in entries]
        self.assertLess(
            keys.index(f"message-{self.dead.id}"), keys.index(f"message-{self.replay.id}")
        )

        exceptions = [e for e in entries if e["kind"] == "exception"]
        self.assertEqual(
            [(e["action"], e["res_id"], e["by"]) for e in exceptions],
            [("raised", self.exception.id, ""), ("resolved", self.exception.id, self.manager.name)],
        )
        self.assertEqual(exceptions[1]["note"], "Bought by hand on the carrier's site")
        self.assertEqual(exceptions[0]["type_code"], "label_failed")
        self.assertLess(keys.index(f"message-{self.replay.id}"), keys.index(exceptions[0]["key"]))

        self.assertEqual(
            [(h["from_code"], h["to_code"], h["seconds"]) for h in answer["handoffs"]],
            [
                ("order_released", "wms_acknowledged", 120),
                ("wms_acknowledged", "picked", 480),
                ("picked", "packed", 300),
                ("packed", "label_created", 300),
            ],
        )
        gaps = answer["gaps"]
        self.assertEqual(
            [g["type_code"] for g in gaps],
            ["tracking_published", "shipped", "in_transit", "out_for_delivery", "delivered"],
        )
        in_transit = next(g for g in gaps if g["type_code"] == "in_transit")
        self.assertEqual(in_transit["due_at"], self.in_transit_due.isoformat() + "Z")
        self.assertTrue(in_transit["overdue"])
        self.assertEqual((gaps[0]["due_at"], gaps[0]["overdue"]), ("", False))

    def test_every_kind_of_reference_finds_the_shipment(self):
        traceparent = f"00-{PARTNER_TRACE}-{'2' * 16}-01"
        for reference in (
            self.shipment.name,
            self.picking.name,
            self.sale.name,
            TRACKING,
            f"  {TRACKING} ",
            self.shipment.correlation_id,
            PARTNER_TRACE,
            traceparent,
        ):
            with self.subTest(reference=reference):
                answer = self.call("get_timeline", reference)
                self.assertTrue(answer["found"], answer["message"])
                self.assertEqual([s["id"] for s in answer["shipments"]], [self.shipment.id])
                self.assertEqual(answer["reference"], reference.strip())
                self.assertTrue(answer["entries"])

    def test_an_unknown_reference_is_a_clear_answer(self):
        answer = self.call("get_timeline", "NO-SUCH-REF")
        self.assertXmlRpcSafe(answer)
        self.assertFalse(answer["found"])
        self.assertIn("No shipment found for NO-SUCH-REF", answer["message"])
        self.assertEqual(
            (answer["shipments"], answer["entries"], answer["handoffs"], answer["gaps"]),
            ([], [], [], []),
        )
        self.assertFalse(self.call("get_timeline", "   ")["found"])
        with self.assertRaises(xmlrpc.client.Fault) as refused:
            self.call("get_timeline", 42)
        self.assertEqual(refused.exception.faultCode, 2)  # UserError
        self.assertIn("A timeline reference is a text", refused.exception.faultString)

    def test_raw_bodies_pretty_printed_with_the_callers_rights(self):
        answer = self.call("get_timeline", TRACKING)
        label = next(e for e in answer["entries"] if e.get("type_code") == "label_created")
        raw = self.call("get_timeline_raw", "logistics.event", label["res_id"])
        self.assertXmlRpcSafe(raw)
        [payload] = raw["parts"]
        self.assertIn('\n  "location": {\n    "', payload["body"])  # indented
        self.assertIn('\n    "city": "HOUSTON",', payload["body"])
        ack = next(e for e in answer["entries"] if e.get("type_code") == "wms_acknowledged")
        raw = self.call("get_timeline_raw", "logistics.event", ack["res_id"])
        self.assertEqual(raw["parts"][-1]["label"], f"Raw message webhook #{self.inbound.id}")
        self.assertIn('"event_id": "wms-ack-tl"', raw["parts"][-1]["body"])
        raw = self.call("get_timeline_raw", "logistics.message", self.dead.id)
        self.assertEqual([part["label"] for part in raw["parts"]], ["Payload"])
        # Another company's shipment is not the caller's to read, whatever its id.
        self.assertFalse(self.call("get_timeline", "SHP/TL/OTHER")["found"])
        event = self.env["logistics.event"].search([("source_event_id", "=", "ep-shipped-tl")])
        self.env.cr.execute(
            "UPDATE logistics_event SET shipment_id = %s WHERE id = %s", (self.hidden.id, event.id)
        )
        with self.assertRaises(xmlrpc.client.Fault) as refused:
            self.call("get_timeline_raw", "logistics.event", event.id)
        self.assertEqual(refused.exception.faultCode, 4)  # AccessError
        with self.assertRaises(xmlrpc.client.Fault) as refused:
            self.call("get_timeline_raw", "res.users", self.user.id)
        self.assertEqual(refused.exception.faultCode, 2)  # UserError
