"""Add shipping on a quotation with the demo shipping method backed by the sandbox carrier, in a
real headless Chromium, as a salesperson does it (static/tests/tours/logistics_delivery_*.js),
the carrier being the EasyPost sandbox (tests/sandboxes/carrier.py) on 127.0.0.1."""

from odoo import Command
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.partner_server import LoopbackPartnerMixin
from odoo.addons.logistics_integration_base.tests.sandbox_servers import sandbox_class

KEY = "EZTK_tour_key"


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
