"""Add shipping on a quotation with the demo shipping method backed by the sandbox carrier, in a
real headless Chromium, as a salesperson does it (static/tests/tours/logistics_delivery_*.js),
the carrier being the EasyPost sandbox (tests/sandboxes/carrier.py) on 127.0.0.1."""

import importlib.util

from odoo import Command
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.partner_server import LoopbackPartnerMixin
from odoo.addons.logistics_integration_base.tests.sandbox_servers import (
    REPOSITORY_TESTS,
    sandbox_class,
)

KEY = "EZTK_tour_key"
DEMO_STREAM = REPOSITORY_TESTS.parent / "setup" / "demo_stream.py"


def demo_stream():
    """setup/demo_stream.py (the demo of setup/run), loaded as a module."""
    spec = importlib.util.spec_from_file_location("logistics_demo_stream", DEMO_STREAM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestDeliveryScreens(LoopbackPartnerMixin, HttpCase):
    def setUp(self):
        super().setUp()
        self.sandbox = sandbox_class("carrier", "CarrierSandbox")(api_key=KEY, step_seconds=0)
        self.sandbox.start()
        self.addCleanup(self.sandbox.stop)
        self.method = self.env.ref("logistics_carrier_connector.demo_delivery_carrier_sandbox")
        backend = self.method.logistics_backend_id
        backend.write({"base_url": self.sandbox.url, "carrier_rate_rule": "cheapest"})
        backend.api_key = KEY
        self.salesperson = new_test_user(
            self.env,
            "tour_salesperson",
            password="tour_salesperson",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        customer = self.env["res.partner"].create(
            {
                "name": "Tour Customer",
                "street": "179 N Harbor Dr",
                "city": "Redondo Beach",
                "zip": "90277",
                "country_id": self.env.ref("base.us").id,
            }
        )
        product = self.env["product.product"].create(
            {"name": "Tour Widget", "type": "consu", "weight": 1.5, "list_price": 40.0}
        )
        self.order = self.env["sale.order"].create(
            {
                "partner_id": customer.id,
                "user_id": self.salesperson.id,
                "order_line": [Command.create({"product_id": product.id, "product_uom_qty": 2})],
            }
        )

    def test_a_salesperson_adds_the_carrier_rate_and_confirms(self):
        self.start_tour(
            f"/odoo/sale.order/{self.order.id}",
            "logistics_delivery_rate",
            login="tour_salesperson",
        )
        self.assertEqual(self.order.state, "sale")
        line = self.order.order_line.filtered("is_delivery")
        self.assertEqual(line.product_id, self.method.product_id)
        # The sandbox's cheapest rate (USPS GroundAdvantage, 7.37 USD) plus the method's 10 %.
        self.assertAlmostEqual(line.price_unit, 8.11)
        self.assertEqual(self.order.picking_ids.carrier_id, self.method)
        [rate_request] = [
            call for call in self.sandbox.received() if call["path"] == "/v2/shipments"
        ]
        self.assertEqual(rate_request["body"]["shipment"]["reference"], self.order.name)
        # 2 units of 1.5 kg, in ounces.
        self.assertEqual(rate_request["body"]["shipment"]["parcel"]["weight"], 105.8)
        self.assertEqual(self.sandbox.business_state()["purchases_total"], 0)

    def test_the_demo_stream_ships_its_orders_with_the_demo_method(self):
        """setup/run's demo stream puts the method on its orders over JSON-RPC as the wizard
        does (rate, then Add), so their transfers get it as their carrier."""
        stream = demo_stream()
        odoo = stream.Odoo(self.base_url(), self.env.cr.dbname)
        self.env.flush_all()
        # Requests of an HTTP client of its own, as the demo stream is (not the test's opener).
        with self.allow_requests(all_requests=True):
            method_id = stream.demo_shipping_method(odoo)
            self.assertEqual(method_id, self.method.id)
            stream.add_shipping(odoo, self.order.id, method_id)
            odoo.call("sale.order", "action_confirm", [self.order.id])
        self.env.invalidate_all()
        line = self.order.order_line.filtered("is_delivery")
        self.assertAlmostEqual(line.price_unit, 8.11)
        self.assertEqual(self.order.picking_ids.carrier_id, self.method)
