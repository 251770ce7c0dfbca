import re

from .common import LogisticsCase


class TestShipmentCreation(LogisticsCase):
    def test_confirmed_delivery_gets_one_shipment(self):
        picking = self.sale.picking_ids
        self.assertEqual(len(picking), 1)
        shipment = picking.logistics_shipment_ids
        self.assertEqual(len(shipment), 1)
        self.assertEqual(shipment.sale_id, self.sale)
        self.assertEqual(shipment.partner_id, self.customer)
        self.assertEqual(shipment.direction, "outgoing")
        self.assertEqual(shipment.warehouse_id, picking.picking_type_id.warehouse_id)
        self.assertRegex(shipment.name, r"^SHP/\d{4}/\d{5}$")
        self.assertTrue(re.fullmatch(r"[0-9a-f]{32}", shipment.correlation_id))
        self.assertFalse(shipment.status_id)

    def test_confirming_again_creates_no_second_shipment(self):
        picking = self.sale.picking_ids
        self.env["logistics.shipment"]._create_for_pickings(picking)
        picking.move_ids._action_confirm()
        self.assertEqual(len(picking.logistics_shipment_ids), 1)

    def test_each_shipment_has_its_own_reference_and_correlation(self):
        other = self.create_sale_order().picking_ids.logistics_shipment_ids
        self.assertNotEqual(other.name, self.shipment.name)
        self.assertNotEqual(other.correlation_id, self.shipment.correlation_id)

    def test_return_gets_a_return_shipment(self):
        picking = self.sale.picking_ids
        self.env["stock.quant"]._update_available_quantity(self.product, picking.location_id, 10)
        picking.action_assign()
        picking.move_ids.quantity = 2
        picking.move_ids.picked = True
        picking._action_done()
        wizard = (
            self.env["stock.return.picking"]
            .with_context(active_id=picking.id, active_model="stock.picking")
            .create({})
        )
        wizard.product_return_moves.quantity = 1
        returned = wizard._create_return()
        shipment = returned.logistics_shipment_ids
        self.assertEqual(len(shipment), 1)
        self.assertEqual(shipment.direction, "return")
        self.assertEqual(shipment.sale_id, self.sale)

    def test_receipts_get_no_shipment(self):
        receipt_type = self.env["stock.picking.type"].search(
            [("code", "=", "incoming"), ("company_id", "=", self.company.id)], limit=1
        )
        receipt = self.env["stock.picking"].create(
            {
                "picking_type_id": receipt_type.id,
                "location_id": self.env.ref("stock.stock_location_suppliers").id,
                "location_dest_id": receipt_type.default_location_dest_id.id,
                "move_ids": [
                    (
                        0,
                        0,
                        {
                            "product_id": self.product.id,
                            "product_uom_qty": 1,
                            "location_id": self.env.ref("stock.stock_location_suppliers").id,
                            "location_dest_id": receipt_type.default_location_dest_id.id,
                        },
                    )
                ],
            }
        )
        receipt.action_confirm()
        self.assertFalse(receipt.logistics_shipment_ids)

    def test_exception_flag_follows_open_exceptions(self):
        exception = self.env["logistics.exception"]._raise(
            "delivery_failed", [{"name": "Not delivered", "shipment_id": self.shipment.id}]
        )
        self.assertTrue(self.shipment.has_exception)
        self.assertEqual(exception.severity, "high")  # the type's default
        self.assertTrue(exception.deadline)
        exception.stage_id = self.env.ref("logistics_integration_base.exception_stage_resolved")
        self.assertFalse(self.shipment.has_exception)
