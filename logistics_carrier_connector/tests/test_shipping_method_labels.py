import copy
import json

from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import CarrierFlowCase, label_pdf


@tagged("post_install", "-at_install")
class TestShippingMethodLabels(CarrierFlowCase):
    """Odoo's shipping framework on a transfer whose shipping method is backed by a carrier
    backend: send_shipping starts the purchases, the pipeline books price and tracking
    reference the way Odoo does, cancel refunds, the Tracking button lists every package."""

    def setUp(self):
        super().setUp()
        product = self.env["product.product"].create(
            {"name": "Shipping (test)", "type": "service", "list_price": 0.0}
        )
        self.method = self.env["delivery.carrier"].create(
            {
                "name": "Test Carrier Method",
                "delivery_type": "logistics",
                "logistics_backend_id": self.carrier.id,
                "product_id": product.id,
                "margin": 0.1,
                "invoice_policy": "real",
            }
        )
        self.picking = self.shipment.picking_id
        self.picking.carrier_id = self.method
        self.pdf = label_pdf()
        cheapest = min(self.created["rates"], key=lambda rate: float(rate["rate"]))
        self.cost = float(cheapest["rate"])

    def stocked(self):
        picking = self.picking
        self.env["stock.quant"]._update_available_quantity(self.product, picking.location_id, 100)
        picking.action_assign()
        picking.move_ids.quantity = picking.move_ids.product_uom_qty
        picking.move_ids.picked = True
        return picking

    def test_validating_the_transfer_asks_the_labels_and_books_them_once_bought(self):
        """Odoo's validation calls send_shipping: the purchase starts through the pipeline (no
        tracking reference of nothing meanwhile), and once the label is bought the transfer
        gets Odoo's booking: tracking reference, carrier price with the method's margin, the
        delivery line of the sale order (invoice policy: real cost)."""
        picking = self.stocked()
        picking.picking_type_id.print_label = True
        self.partner.answer(201, self.created).answer(200, self.bought).answer(200, self.pdf)
        with trap_jobs() as trap:
            picking.button_validate()
            self.assertEqual(picking.state, "done")
            self.assertFalse(picking.carrier_tracking_ref)
            self.assertIn("Labels asked from", picking.message_ids[0].body)
            self.assertEqual(len(trap.enqueued_jobs), 1, "one purchase: one package")
            self.run_jobs(trap)
        tracking = self.bought["tracking_code"]
        self.assertEqual(picking.carrier_tracking_ref, tracking)
        self.assertAlmostEqual(picking.carrier_price, round(self.cost * 1.1, 2), places=2)
        self.assertTrue(
            any(tracking in (m.body or "") for m in picking.message_ids),
            "Odoo's 'Shipment sent to carrier' message",
        )
        line = self.sale.order_line.filtered("is_delivery")
        self.assertAlmostEqual(line.price_unit, picking.carrier_price, places=2)
        self.assertEqual(self.shipment.package_ids.source, "transfer")
        self.assertEqual(len(self.partner.requests), 3)

    def test_labels_bought_at_packing_are_booked_before_the_validation(self):
        self.buy_label()
        picking = self.picking
        self.assertEqual(picking.carrier_tracking_ref, self.bought["tracking_code"])
        self.assertAlmostEqual(picking.carrier_price, round(self.cost * 1.1, 2), places=2)
        self.stocked().button_validate()
        self.assertEqual(picking.state, "done")
        self.assertEqual(len(self.partner.requests), 3, "validation buys nothing more")

    def test_a_transfer_without_shipping_method_gets_the_backends_method(self):
        self.picking.carrier_id = False
        self.buy_label()
        self.assertEqual(self.picking.carrier_id, self.method)
        self.assertTrue(self.picking.carrier_tracking_url)

    def test_cancel_shipment_refunds_the_label(self):
        self.buy_label()
        picking = self.picking
        purchase = self.shipment.label_purchase_ids
        self.partner.answer(200, dict(self.bought, refund_status="submitted"))
        with trap_jobs() as trap:
            picking.cancel_shipment()
            self.run_jobs(trap)
        refund_path = f"/v2/shipments/{purchase.carrier_shipment_ref}/refund"
        self.assertEqual(self.partner.requests[-1][:2], ("POST", refund_path))
        self.assertEqual(purchase.state, "refund_submitted")
        self.assertFalse(picking.carrier_tracking_ref)
        self.assertFalse(self.shipment.tracking_number)
        self.assertFalse(self.shipment.package_ids.tracking_number)
        # Sent to the shipper again: a new label for the package, the refunded one aside.
        self.partner.answer(201, self.created).answer(200, self.bought).answer(200, self.pdf)
        with trap_jobs() as trap:
            picking.send_to_shipper()
            self.run_jobs(trap)
        self.assertEqual(
            self.shipment.label_purchase_ids.mapped("state"), ["bought", "refund_submitted"]
        )

    def test_the_tracking_button_lists_every_package(self):
        second = copy.deepcopy(self.bought)
        second["id"], second["tracking_code"] = "shp_second", "TRK-SECOND"
        second["tracker"] = dict(second.get("tracker") or {}, public_url="https://t.example/2")
        created = copy.deepcopy(self.created)
        created["id"] = "shp_second"
        self.partner.answer(201, self.created).answer(201, created)
        self.partner.answer(200, self.bought).answer(200, self.pdf)
        self.partner.answer(200, second).answer(200, self.pdf)
        self.packed(
            packages=[{"reference": "P1", "weight": 1.0}, {"reference": "P2", "weight": 2.0}]
        )
        picking = self.picking
        links = json.loads(picking.carrier_tracking_url)
        self.assertEqual(
            [number for number, _url in links],
            self.shipment.package_ids.mapped("tracking_number"),
        )
        self.assertIn("https://t.example/2", [url for _number, url in links])
        action = picking.open_website_url()
        self.assertEqual(action["xml_id"], "stock_delivery.act_delivery_trackers_url")

    def test_sending_twice_buys_one_label_per_package(self):
        picking = self.picking
        with trap_jobs() as trap:
            picking.carrier_id.send_shipping(picking)
            picking.carrier_id.send_shipping(picking)
            self.assertEqual(len(trap.enqueued_jobs), 1)
        self.assertEqual(len(self.shipment.label_purchase_ids), 1)

    def test_the_method_service_is_the_rate_bought(self):
        rates = self.created["rates"]
        wanted = max(rates, key=lambda rate: float(rate["rate"]))
        self.method.write(
            {"logistics_carrier": wanted["carrier"], "logistics_service": wanted["service"]}
        )
        self.buy_label()
        buy = next(r for r in self.partner.requests if r[1].endswith("/buy"))
        self.assertEqual(json.loads(buy[3]), {"rate": {"id": wanted["id"]}})
