from odoo import Command, fields

from ..models.logistics_package import canonical_package, canonical_packages
from .common import LogisticsCase


class TestCanonicalPackage(LogisticsCase):
    def test_a_document_is_checked_and_normalised(self):
        self.assertEqual(
            canonical_package({"reference": " PKG-1 ", "weight": "2.5", "length": 30}),
            {
                "reference": "PKG-1",
                "weight": 2.5,
                "weight_unit": "kg",
                "length": 30.0,
                "width": None,
                "height": None,
                "dimension_unit": "cm",
                "tracking_number": None,
            },
        )
        for document, error in (
            ({"weight": 1}, "needs its 'reference'"),
            ({"reference": "P"}, "needs its 'weight'"),
            ({"reference": "P", "weight": -1}, "positive number"),
            ({"reference": "P", "weight": float("nan")}, "positive number"),
            ({"reference": "P", "weight": True}, "must be a number"),
            ({"reference": "P", "weight": 1, "weight_unit": "stone"}, "unknown weight unit"),
            ({"reference": "P", "weight": 1, "dimension_unit": "ft"}, "unknown dimension unit"),
            ({"reference": "P", "weight": 1, "tracking_number": 7}, "must be a string"),
            ("PKG", "must be an object"),
        ):
            with self.subTest(document=document), self.assertRaisesRegex(ValueError, error):
                canonical_package(document)
        with self.assertRaisesRegex(ValueError, "more than 200 packages"):
            canonical_packages([{"reference": f"P{n}", "weight": 1} for n in range(201)])
        with self.assertRaisesRegex(ValueError, "listed twice"):
            canonical_packages([{"reference": "P", "weight": 1}, {"reference": "P", "weight": 2}])

    def test_ingest_refuses_an_event_whose_packages_are_not_packages(self):
        result = self.env["logistics.event"].ingest_events(
            self.wms.code,
            [
                self.event(
                    "packed",
                    fields.Datetime.now().isoformat() + "+00:00",
                    "bad-packages",
                    payload={"packages": [{"package_id": "PKG-1", "weight_kg": 2.0}]},
                )
            ],
        )
        self.assertEqual(result["accepted"], 0)
        self.assertIn("'payload.packages': a package needs its 'reference'", str(result))

    def test_packed_packages_are_recorded_once_by_reference(self):
        packages = [
            {"reference": "PKG-1", "weight": 3.0},
            {"reference": "PKG-2", "weight": 9.9, "weight_unit": "lb", "height": 10},
        ]
        now = fields.Datetime.now().isoformat() + "+00:00"
        self.env["logistics.event"].ingest_events(
            self.wms.code, [self.event("packed", now, "packed-1", payload={"packages": packages})]
        )
        recorded = self.shipment.package_ids
        self.assertEqual(recorded.mapped("name"), ["PKG-1", "PKG-2"])
        self.assertEqual(recorded.mapped("source"), ["wms", "wms"])
        self.assertAlmostEqual(recorded[1]._weight_kg(), 9.9 * 0.45359237, places=4)
        self.assertEqual(recorded[1]._dimensions_cm(), (None, None, 10.0))
        packages[0]["weight"] = 3.2  # a corrected weight, sent again
        self.assertEqual(self.shipment._record_packages(packages, "wms"), recorded)
        self.assertEqual(recorded[0].weight, 3.2)


class TestPackagesToShip(LogisticsCase):
    """Without a package list from the WMS, the parcels are Odoo's: its packages of the
    transfer, or the whole transfer weighed by Odoo (quantities in the product's unit of
    measure, cancelled moves left out)."""

    def test_the_whole_transfer_weighs_its_moves_in_the_products_unit(self):
        self.product.weight = 0.5
        heavy = self.env["product.product"].create(
            {"name": "Cancelled Anvil", "is_storable": True, "weight": 40.0}
        )
        dozen = self.env.ref("uom.product_uom_dozen")
        sale = self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "order_line": [
                    Command.create(
                        {
                            "product_id": self.product.id,
                            "product_uom_qty": 2,
                            "product_uom_id": dozen.id,
                        }
                    ),
                    Command.create({"product_id": heavy.id, "product_uom_qty": 1}),
                ],
            }
        )
        sale.action_confirm()
        picking = sale.picking_ids
        picking.move_ids.filtered(lambda m: m.product_id == heavy)._action_cancel()
        shipment = picking.logistics_shipment_ids
        package = shipment._packages_to_ship()
        self.assertEqual((package.name, package.source), (picking.name, "transfer"))
        # 2 dozen = 24 units of 0.5 kg; the cancelled anvil weighs nothing.
        self.assertEqual((package.weight, package.weight_unit), (12.0, "kg"))
        self.assertEqual(shipment._packages_to_ship(), package, "asked again: the same parcel")

    def test_odoo_packages_of_the_transfer_are_the_parcels(self):
        self.product.weight = 1.5
        picking = self.sale.picking_ids
        self.env["stock.quant"]._update_available_quantity(self.product, picking.location_id, 10)
        picking.action_assign()
        box = self.env["stock.package.type"].create(
            {
                "name": "Box 30x20x10",
                "packaging_length": 300,
                "width": 200,
                "height": 100,
                "base_weight": 0.25,
            }
        )
        package = self.env["stock.package"].create({"name": "PACK-T1", "package_type_id": box.id})
        picking.move_line_ids.result_package_id = package
        parcels = self.shipment._packages_to_ship()
        self.assertEqual(parcels.mapped("name"), ["PACK-T1"])
        self.assertEqual(parcels.stock_package_id, package)
        # Odoo's weight: 2 units of 1.5 kg in a box of 0.25 kg; dimensions from mm to cm.
        self.assertEqual(parcels.weight, 3.25)
        self.assertEqual(parcels._dimensions_cm(), (30.0, 20.0, 10.0))
