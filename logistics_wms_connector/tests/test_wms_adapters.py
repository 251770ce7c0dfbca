from odoo.tests import BaseCase, tagged

from ..adapters import wms_csv, wms_rest

CALLBACK = {
    "event_id": "wms-evt-7",
    "event": "order.shipped",
    "order_ref": "WH/OUT/00012",
    "shipment_ref": "SHP/00012",
    "occurred_at": "2026-11-22T10:00:00+00:00",
    "lines": [{"line_id": "17", "sku": "FURN_1", "quantity_ordered": 3, "quantity_done": 2}],
    "packages": [{"package_id": "PKG-1", "weight_kg": 1.5}],
}


@tagged("post_install", "-at_install")
class TestWmsAdapters(BaseCase):
    def test_callback_becomes_canonical_event(self):
        event = wms_rest.canonical_event(CALLBACK)
        self.assertEqual(event["type"], "shipped")
        self.assertEqual(event["event_id"], "wms-evt-7")
        self.assertEqual(event["shipment_ref"], "SHP/00012")
        self.assertEqual(event["payload"]["lines"][0]["quantity_done"], 2.0)
        self.assertEqual(event["payload"]["packages"], [{"package_id": "PKG-1", "weight_kg": 1.5}])

    def test_every_partner_event_has_a_canonical_type(self):
        for name, canonical in wms_rest.EVENT_TYPES.items():
            self.assertEqual(
                wms_rest.canonical_event(dict(CALLBACK, event=name))["type"], canonical
            )

    def test_order_ref_stands_in_for_a_missing_shipment_ref(self):
        event = wms_rest.canonical_event(dict(CALLBACK, shipment_ref=None))
        self.assertEqual(event["shipment_ref"], "WH/OUT/00012")

    def test_bad_callbacks_are_refused_with_the_reason(self):
        for document, reason in (
            ([], "JSON object"),
            (dict(CALLBACK, event="order.lost"), "unknown WMS event 'order.lost'"),
            (dict(CALLBACK, event_id=""), "without 'event_id'"),
            (dict(CALLBACK, lines="x"), "'lines' must be a list"),
        ):
            with self.assertRaisesRegex(ValueError, reason):
                wms_rest.canonical_event(document)

    def test_order_exists_is_a_409_with_that_code(self):
        exists = {"error": {"code": "ORDER_EXISTS", "message": "order WH/OUT/1 already exists"}}
        self.assertTrue(wms_rest.order_exists(409, exists))
        self.assertFalse(wms_rest.order_exists(422, exists))
        self.assertFalse(wms_rest.order_exists(409, {"error": {"code": "SKU_LOCKED"}}))
        self.assertFalse(wms_rest.order_exists(409, {"error": "duplicate_order"}))
        self.assertFalse(wms_rest.order_exists(409, None))
        self.assertFalse(wms_rest.order_exists(409, ["ORDER_EXISTS"]))

    def test_stock_snapshot(self):
        levels = wms_rest.stock_levels({"items": [{"sku": "A", "quantity": 4}, {"sku": "B"}]})
        self.assertEqual(levels, {"A": 4.0, "B": 0.0})
        with self.assertRaises(ValueError):
            wms_rest.stock_levels({"items": [{"quantity": 1}]})

    def test_csv_order_and_confirmations_round_trip(self):
        release = wms_rest.release_request(
            "WH/OUT/1",
            "SHP/1",
            "WH",
            {"name": "Deco", "city": ""},
            [
                {"line_id": 5, "sku": "A", "quantity": 2.0},
                {"line_id": 6, "sku": "B", "quantity": 1.0},
            ],
        )
        self.assertEqual(release["ship_to"], {"name": "Deco"})
        text = wms_csv.order_csv(release)
        self.assertEqual(
            text.splitlines(),
            [
                "order_ref,shipment_ref,line_id,sku,quantity",
                "WH/OUT/1,SHP/1,5,A,2.0",
                "WH/OUT/1,SHP/1,6,B,1.0",
            ],
        )
        confirmation = (
            "event_id,event,order_ref,shipment_ref,occurred_at,line_id,sku,quantity_ordered,"
            "quantity_done\n"
            "e1,order.shipped,WH/OUT/1,SHP/1,2026-11-22T10:00:00+00:00,5,A,2,2\n"
            "e1,order.shipped,WH/OUT/1,SHP/1,2026-11-22T10:00:00+00:00,6,B,1,0\n"
            "e0,order.acknowledged,WH/OUT/1,SHP/1,2026-11-22T09:00:00+00:00,,,,\n"
        )
        documents = wms_csv.confirmations(confirmation)
        self.assertEqual([d["event_id"] for d in documents], ["e1", "e0"])
        self.assertEqual([line["quantity_done"] for line in documents[0]["lines"]], [2.0, 0.0])
        self.assertEqual(documents[1]["lines"], [])
        events = wms_rest.canonical_events(documents)
        self.assertEqual([e["type"] for e in events], ["shipped", "wms_acknowledged"])
        with self.assertRaisesRegex(ValueError, "without column"):
            wms_csv.confirmations("event_id,event\n1,order.shipped\n")
