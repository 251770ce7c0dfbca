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
        self.assertEqual(
            event["payload"]["packages"],
            [
                {
                    "reference": "PKG-1",
                    "weight": 1.5,
                    "weight_unit": "kg",
                    "length": None,
                    "width": None,
                    "height": None,
                    "dimension_unit": "cm",
                    "tracking_number": None,
                }
            ],
        )

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

    def test_stock_snapshot_items(self):
        items = [{"sku": "A", "quantity": 4}]
        self.assertEqual(wms_rest.stock_items({"warehouse": "WH", "items": items}), items)
        for document in (None, [], {"items": "none"}, {"stock": []}, "items"):
            with self.assertRaisesRegex(ValueError, "object with a list of items"):
                wms_rest.stock_items(document)

    def test_stock_levels_name_each_item_they_cannot_compare(self):
        levels, problems = wms_rest.stock_levels(
            [
                {"sku": "A", "quantity": 4},
                {"sku": "B", "quantity": 0},
                {"sku": "C", "quantity": [3]},
                {"sku": "D", "quantity": "abc"},
                {"sku": "E", "quantity": None},
                {"sku": "F", "quantity": -5},
                {"sku": "G"},
                {"sku": "H", "quantity": True},
                {"sku": "I", "quantity": float("nan")},
                {"sku": "J", "quantity": float("inf")},
                {"quantity": 1},
                {"sku": "  ", "quantity": 1},
                "K",
                {"sku": "L", "quantity": 2.5},
                {"sku": "L", "quantity": 2.5},
                {"sku": "M", "quantity": 1},
                {"sku": "M", "quantity": 2},
                {"sku": 12, "quantity": 1},
            ]
        )
        # Null is not 0, -5 is not a count, a duplicate with the same quantity counts once.
        self.assertEqual(levels, {"A": 4.0, "B": 0.0, "L": 2.5, "12": 1.0})
        self.assertEqual(
            problems,
            [
                ("item 3 (C)", "quantity [3] is not a number"),
                ("item 4 (D)", 'quantity "abc" is not a number'),
                ("item 5 (E)", "quantity is null"),
                ("item 6 (F)", "quantity -5 is negative"),
                ("item 7 (G)", "no quantity"),
                ("item 8 (H)", "quantity true is not a number"),
                ("item 9 (I)", "quantity NaN is not a number"),
                ("item 10 (J)", "quantity Infinity is not a number"),
                ("item 11", "no SKU"),
                ("item 12", "no SKU"),
                ("item 13", 'not an object ("K")'),
                ("items 16, 17 (M)", "reported with different quantities: 1, 2"),
            ],
        )

    def test_stock_file_becomes_a_snapshot_document(self):
        document = wms_csv.stock_snapshot(
            "sku,quantity\nA,4\nB, 2.5 \nC,[3]\nD,abc\nE,\nF,-5\n,1\nG,nan\nH\n"
        )
        self.assertEqual(
            document["items"],
            [
                {"sku": "A", "quantity": 4.0},
                {"sku": "B", "quantity": 2.5},
                {"sku": "C", "quantity": "[3]"},
                {"sku": "D", "quantity": "abc"},
                {"sku": "E"},
                {"sku": "F", "quantity": -5.0},
                {"sku": "", "quantity": 1.0},
                {"sku": "G", "quantity": "nan"},
                {"sku": "H"},
            ],
        )
        levels, problems = wms_rest.stock_levels(wms_rest.stock_items(document))
        self.assertEqual(levels, {"A": 4.0, "B": 2.5})
        self.assertEqual(
            [reason for _item, reason in problems],
            [
                'quantity "[3]" is not a number',
                'quantity "abc" is not a number',
                "no quantity",
                "quantity -5 is negative",
                "no SKU",
                'quantity "nan" is not a number',
                "no quantity",
            ],
        )
        with self.assertRaisesRegex(ValueError, "without column.*quantity, sku"):
            wms_csv.stock_snapshot("article,count\nA,1\n")
        with self.assertRaisesRegex(ValueError, "without column"):
            wms_csv.stock_snapshot("")

    def test_order_exists_is_a_409_with_that_code(self):
        exists = {"error": {"code": "ORDER_EXISTS", "message": "order WH/OUT/1 already exists"}}
        self.assertTrue(wms_rest.order_exists(409, exists))
        self.assertFalse(wms_rest.order_exists(422, exists))
        self.assertFalse(wms_rest.order_exists(409, {"error": {"code": "SKU_LOCKED"}}))
        self.assertFalse(wms_rest.order_exists(409, {"error": "duplicate_order"}))
        self.assertFalse(wms_rest.order_exists(409, None))
        self.assertFalse(wms_rest.order_exists(409, ["ORDER_EXISTS"]))

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
                "order_ref,shipment_ref,line_id,sku,quantity,uom,quantity_base,base_uom",
                "WH/OUT/1,SHP/1,5,A,2.0,,,",
                "WH/OUT/1,SHP/1,6,B,1.0,,,",
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

    def test_confirmation_lines_carry_their_unit_and_lots(self):
        line = wms_rest.canonical_line(
            {
                "line_id": 17,
                "sku": "FURN_1",
                "quantity_done": "24",
                "uom": "Units",
                "lots": [{"lot": "B-1", "quantity": 20}, {"lot": "B-2", "quantity": 4}],
            }
        )
        self.assertEqual(
            line,
            {
                "line_id": "17",
                "sku": "FURN_1",
                "quantity_ordered": 0.0,
                "quantity_done": 24.0,
                "uom": "Units",
                "lots": [{"lot": "B-1", "quantity": 20.0}, {"lot": "B-2", "quantity": 4.0}],
            },
        )
        for bad, reason in (
            ({"quantity_done": -5}, "not a quantity"),
            ({"quantity_done": [3]}, "not a number"),
            ({"quantity_done": True}, "not a quantity"),
            ({"lots": "B-1"}, "'lots' must be a list"),
            ({"lots": [{"quantity": 1}]}, "its 'lot' number"),
        ):
            with self.subTest(bad), self.assertRaisesRegex(ValueError, reason):
                wms_rest.canonical_line({"line_id": "1", "sku": "A", **bad})
        # In a confirmation file: the optional uom and lot columns, one row per lot.
        documents = wms_csv.confirmations(
            "event_id,event,order_ref,shipment_ref,occurred_at,line_id,sku,quantity_ordered,"
            "quantity_done,uom,lot\n"
            "e1,order.shipped,WH/OUT/1,SHP/1,2026-11-22T10:00:00+00:00,5,A,2,1,Dozens,L-1\n"
            "e1,order.shipped,WH/OUT/1,SHP/1,2026-11-22T10:00:00+00:00,5,A,2,1,Dozens,L-2\n"
        )
        (event,) = wms_rest.canonical_events(documents)
        self.assertEqual(
            [(line["uom"], line["lots"]) for line in event["payload"]["lines"]],
            [
                ("Dozens", [{"lot": "L-1", "quantity": 1.0}]),
                ("Dozens", [{"lot": "L-2", "quantity": 1.0}]),
            ],
        )
