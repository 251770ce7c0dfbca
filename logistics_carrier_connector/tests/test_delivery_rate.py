"""Rates of a shipping method backed by a carrier backend (``delivery_type`` logistics), on
sale orders, against the EasyPost sandbox (tests/sandboxes/carrier.py, a real HTTP server on
127.0.0.1; its rates are USPS GroundAdvantage 7.37 in 5 days, USPS Priority 9.20 in 2 days and
UPSDAP Ground 11.45 in 3 days, in USD). Odoo's own ``rate_shipment`` applies the margin and
*free over*; the provider gives the carrier's cost in the order's currency."""

import json

from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.partner_server import (
    LoopbackPartnerMixin,
    ScriptedPartner,
    closed_port,
)
from odoo.addons.logistics_integration_base.tests.sandbox_servers import sandbox_class

from ..adapters import easypost

KEY = "EZTK_rate_test_key"
OUNCES_PER_KG = easypost.OUNCES_PER_KG


@tagged("post_install", "-at_install")
class TestDeliveryRate(LoopbackPartnerMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.backend = cls.env["logistics.backend"].create(
            {
                "name": "Rate Carrier",
                "code": "t_rate_carrier",
                "kind": "carrier",
                "adapter": "easypost",
                "auth_type": "basic",
                "carrier_rate_rule": "cheapest",
                "carrier_default_weight": 2.0,
                "circuit_threshold": 2,
            }
        )
        delivery_product = cls.env["product.product"].create(
            {"name": "Rate Carrier shipping", "type": "service", "taxes_id": [Command.clear()]}
        )
        cls.method = cls.env["delivery.carrier"].create(
            {
                "name": "Rate Carrier (EasyPost)",
                "delivery_type": "logistics",
                "product_id": delivery_product.id,
                "logistics_backend_id": cls.backend.id,
                "margin": 0.1,
                "free_over": True,
                "amount": 500,
            }
        )
        us = cls.env.ref("base.us")
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "Rate Customer",
                "street": "179 N Harbor Dr",
                "city": "Redondo Beach",
                "state_id": cls.env.ref("base.state_us_5").id,
                "zip": "90277",
                "country_id": us.id,
                "email": "rate.customer@example.com",
            }
        )
        cls.product = cls.env["product.product"].create(
            {
                "name": "Rate Widget",
                "type": "consu",
                "is_storable": True,
                "weight": 0.5,
                "list_price": 20.0,
                "taxes_id": [Command.clear()],
            }
        )

    def setUp(self):
        super().setUp()
        self.sandbox = sandbox_class("carrier", "CarrierSandbox")(api_key=KEY, step_seconds=0)
        self.sandbox.start()
        self.addCleanup(self.sandbox.stop)
        self.point_backend_at(self.sandbox.url)

    def point_backend_at(self, url, key=KEY):
        self.backend.write({"base_url": url})
        # After the URL: a new base URL clears the key stored for the old one.
        self.backend.api_key = key

    def quotation(self, lines=((2, "uom.product_uom_unit"),), pricelist=None, product=None):
        values = {
            "partner_id": self.customer.id,
            "order_line": [
                Command.create(
                    {
                        "product_id": (product or self.product).id,
                        "product_uom_qty": quantity,
                        "product_uom_id": self.env.ref(uom).id,
                    }
                )
                for quantity, uom in lines
            ],
        }
        if pricelist:
            values["pricelist_id"] = pricelist.id
        return self.env["sale.order"].create(values)

    def rate_requests(self):
        return [
            json.loads(call["body"]) if isinstance(call["body"], str) else call["body"]
            for call in self.sandbox.received()
            if (call["method"], call["path"]) == ("POST", "/v2/shipments")
        ]

    def test_a_method_needs_an_easypost_carrier_backend(self):
        wms = self.env["logistics.backend"].create(
            {"name": "Some WMS", "code": "t_rate_wms", "kind": "wms"}
        )
        with self.assertRaisesRegex(ValidationError, "not a carrier backend"):
            self.method.logistics_backend_id = wms
        with self.assertRaisesRegex(ValidationError, "needs a carrier backend"):
            self.method.logistics_backend_id = False
        # Another provider needs none.
        self.method.write({"delivery_type": "fixed", "logistics_backend_id": False})

    # --- prices -----------------------------------------------------------------------------------
    def test_add_shipping_prices_the_carrier_cost_with_the_margin(self):
        order = self.quotation()
        wizard = self.env["choose.delivery.carrier"].create(
            {"order_id": order.id, "carrier_id": self.method.id}
        )
        wizard.update_price()
        # The cheapest of the sandbox's rates (the backend's rule), 7.37 USD, plus 10 %.
        self.assertAlmostEqual(wizard.display_price, 7.37 * 1.1)
        self.assertAlmostEqual(wizard.delivery_price, 7.37 * 1.1)
        self.assertFalse(wizard.delivery_message)
        wizard.button_confirm()
        line = order.order_line.filtered("is_delivery")
        self.assertEqual(line.product_id, self.method.product_id)
        self.assertAlmostEqual(line.price_unit, 8.11)
        self.assertEqual(order.carrier_id, self.method)
        # One rate request, nothing bought at the carrier.
        self.assertEqual(len(self.rate_requests()), 1)
        self.assertEqual(self.sandbox.business_state()["purchases_total"], 0)
        order.action_confirm()
        self.assertEqual(order.picking_ids.carrier_id, self.method)

    def test_the_price_is_converted_to_the_order_currency(self):
        eur = self.env.ref("base.EUR")
        eur.active = True
        self.env["res.currency.rate"].create(
            {
                "name": fields.Date.today(),
                "rate": 0.5,  # 1 USD = 0.5 EUR
                "currency_id": eur.id,
                "company_id": self.company.id,
            }
        )
        pricelist = self.env["product.pricelist"].create({"name": "Euro", "currency_id": eur.id})
        order = self.quotation(pricelist=pricelist)
        self.assertEqual(order.currency_id, eur)
        # 7.37 USD is 3.685 EUR, rounded to the euro's cents by the conversion.
        self.assertEqual(self.method.logistics_rate_shipment(order)["price"], 3.69)
        result = self.method.rate_shipment(order)
        self.assertTrue(result["success"], result)
        self.assertAlmostEqual(result["price"], 3.69 * 1.1)

    def test_free_over_the_amount_keeps_the_cost_and_charges_nothing(self):
        order = self.quotation(lines=((30, "uom.product_uom_unit"),))  # 600 >= 500
        result = self.method.rate_shipment(order)
        self.assertTrue(result["success"], result)
        self.assertEqual(result["price"], 0.0)
        self.assertAlmostEqual(result["carrier_price"], 7.37 * 1.1)
        self.assertIn("The shipping is free", result["warning_message"])

    def test_a_salesperson_without_logistics_rights_gets_rates_and_failures(self):
        salesperson = new_test_user(
            self.env, "rate_salesperson", groups="base.group_user,sales_team.group_sale_salesman"
        )
        order = self.quotation().with_user(salesperson)
        method = self.method.with_user(salesperson)
        self.assertAlmostEqual(method.rate_shipment(order)["price"], 7.37 * 1.1)
        self.sandbox.set_faults({"down": True})
        result = method.rate_shipment(order)
        self.assertIn("Rate Carrier is unavailable (HTTP 503)", result["error_message"])
        # The failure counts on the backend's health all the same.
        self.assertEqual(self.backend.consecutive_failures, 1)

    # --- which rate: the method's service, else the backend's rule --------------------------------
    def test_the_method_service_beats_the_backend_rule(self):
        order = self.quotation()
        self.method.write({"logistics_carrier": "usps", "logistics_service": "PRIORITY"})
        result = self.method.rate_shipment(order)
        self.assertAlmostEqual(result["price"], 9.20 * 1.1)
        self.assertFalse(result["warning_message"])

    def test_without_a_service_the_backend_rule_chooses(self):
        order = self.quotation()
        self.backend.carrier_rate_rule = "fastest"
        self.assertAlmostEqual(self.method.rate_shipment(order)["price"], 9.20 * 1.1)
        self.backend.write({"carrier_rate_rule": "preferred", "carrier_preferred": "UPSDAP"})
        self.assertAlmostEqual(self.method.rate_shipment(order)["price"], 11.45 * 1.1)
        # A carrier alone: its cheapest service, whatever the backend prefers.
        self.method.logistics_carrier = "USPS"
        self.assertAlmostEqual(self.method.rate_shipment(order)["price"], 7.37 * 1.1)

    def test_a_service_not_offered_falls_back_to_the_backend_rule_and_says_so(self):
        order = self.quotation()
        self.method.write({"logistics_carrier": "FedEx", "logistics_service": "Overnight"})
        result = self.method.rate_shipment(order)
        self.assertTrue(result["success"], result)
        self.assertAlmostEqual(result["price"], 7.37 * 1.1)
        self.assertIn("FedEx Overnight is not offered", result["warning_message"])
        self.assertIn("USPS GroundAdvantage", result["warning_message"])

    def test_choose_rate_is_the_one_rule_for_rates_and_labels(self):
        def rate(carrier, service, amount, days):
            return easypost.Rate(f"rate_{service}", carrier, service, amount, "USD", days, None)

        rates = [
            rate("USPS", "GroundAdvantage", 7.37, 5),
            rate("USPS", "Priority", 9.20, 2),
            rate("UPSDAP", "Ground", 11.45, 3),
        ]
        choose = self.method._logistics_choose_rate
        self.assertEqual(choose(rates).id, "rate_GroundAdvantage")
        self.method.logistics_service = "ground"
        self.assertEqual(choose(rates).id, "rate_Ground")
        self.method.write({"logistics_carrier": "DHL", "logistics_service": False})
        self.backend.carrier_rate_rule = "fastest"
        self.assertEqual(choose(rates).id, "rate_Priority")
        with self.assertRaisesRegex(ValueError, "offered no rate"):
            choose([])

    # --- the parcel -------------------------------------------------------------------------------
    def test_the_parcel_weighs_the_ordered_quantity_in_the_product_unit(self):
        # 2 dozens and 1 unit of a 0.5 kg product: 25 units, 12.5 kg.
        order = self.quotation(lines=((2, "uom.product_uom_dozen"), (1, "uom.product_uom_unit")))
        self.assertTrue(self.method.rate_shipment(order)["success"])
        [request] = self.rate_requests()
        shipment = request["shipment"]
        self.assertEqual(shipment["parcel"]["weight"], round(12.5 * OUNCES_PER_KG, 1))
        self.assertEqual(shipment["reference"], order.name)
        self.assertEqual(shipment["to_address"]["zip"], "90277")
        self.assertEqual(shipment["to_address"]["name"], "Rate Customer")
        self.assertEqual(shipment["from_address"]["name"], order.warehouse_id.partner_id.name)

    def test_a_weight_in_pounds_is_converted(self):
        self.env["ir.config_parameter"].sudo().set_param("product.weight_in_lbs", "1")
        order = self.quotation(lines=((1, "uom.product_uom_unit"),))  # 0.5 lb = 8 oz
        self.assertTrue(self.method.rate_shipment(order)["success"])
        [request] = self.rate_requests()
        self.assertEqual(request["shipment"]["parcel"]["weight"], 8.0)

    def test_a_weightless_order_gets_the_backend_default_weight(self):
        weightless = self.env["product.product"].create({"name": "Voucher", "type": "consu"})
        order = self.quotation(product=weightless)
        self.assertTrue(self.method.rate_shipment(order)["success"])
        [request] = self.rate_requests()
        self.assertEqual(request["shipment"]["parcel"]["weight"], round(2.0 * OUNCES_PER_KG, 1))

    # --- the partner unavailable, or refusing -----------------------------------------------------
    def test_an_open_circuit_gives_a_clear_message_and_makes_no_call(self):
        self.backend.write(
            {
                "circuit_state": "open",
                "circuit_opened_at": fields.Datetime.now(),
                "last_error": "HTTP 503",
            }
        )
        result = self.method.rate_shipment(self.quotation())
        self.assertFalse(result["success"])
        self.assertIn("Rate Carrier is unavailable", result["error_message"])
        self.assertIn("HTTP 503", result["error_message"])
        self.assertIn("Choose another shipping method", result["error_message"])
        self.assertEqual(self.sandbox.received(), [])

    def test_a_paused_backend_makes_no_call(self):
        self.backend.paused = True
        result = self.method.rate_shipment(self.quotation())
        self.assertFalse(result["success"])
        self.assertIn("paused", result["error_message"])
        self.assertEqual(self.sandbox.received(), [])

    def test_a_partner_down_gives_a_clear_message_and_opens_the_circuit(self):
        self.sandbox.set_faults({"down": True})
        order = self.quotation()
        result = self.method.rate_shipment(order)
        self.assertFalse(result["success"])
        self.assertEqual(
            result["error_message"],
            "Rate Carrier is unavailable (HTTP 503): no rate now. Try again in a few minutes, "
            "or choose another shipping method.",
        )
        self.assertEqual(self.backend.consecutive_failures, 1)
        self.assertEqual(self.backend.circuit_state, "closed")
        self.method.rate_shipment(order)
        # The threshold (2 in a row) opens the circuit; the next rate makes no call.
        self.assertEqual(self.backend.circuit_state, "open")
        self.assertEqual(len(self.sandbox.received()), 2)
        result = self.method.rate_shipment(order)
        self.assertIn("Rate Carrier is unavailable: its last calls failed", result["error_message"])
        self.assertEqual(len(self.sandbox.received()), 2)
        exception = self.env["logistics.exception"].search(
            [("backend_id", "=", self.backend.id), ("type_code", "=", "partner_unavailable")]
        )
        self.assertEqual(len(exception), 1)
        # The partner back and the cool-down over: the next rate probes and closes the circuit.
        self.sandbox.set_faults({"down": False})
        self.backend.circuit_opened_at = fields.Datetime.subtract(
            fields.Datetime.now(), seconds=self.backend.circuit_cooldown + 1
        )
        self.assertTrue(self.method.rate_shipment(order)["success"])
        self.assertEqual(self.backend.circuit_state, "closed")
        self.assertEqual(self.backend.consecutive_failures, 0)

    def test_a_partner_not_listening_gives_a_clear_message(self):
        self.point_backend_at(f"http://127.0.0.1:{closed_port()}")
        order = self.quotation()
        result = self.method.rate_shipment(order)
        self.assertFalse(result["success"])
        self.assertIn("Rate Carrier is unavailable (connection error", result["error_message"])
        # Get rate in Add shipping shows the same message.
        wizard = self.env["choose.delivery.carrier"].create(
            {"order_id": order.id, "carrier_id": self.method.id}
        )
        with self.assertRaisesRegex(UserError, "Rate Carrier is unavailable \\(connection error"):
            wizard.update_price()

    def test_a_partner_too_slow_times_out_within_the_backend_timeout(self):
        self.backend.read_timeout = 0.5
        self.sandbox.set_faults({"timeout_rate": 1.0, "hang_seconds": 3})
        result = self.method.rate_shipment(self.quotation())
        self.assertFalse(result["success"])
        self.assertIn("Rate Carrier is unavailable (timeout", result["error_message"])
        self.assertEqual(self.backend.last_error_class, "transient")

    def test_a_refused_key_gives_easypost_error_text_and_no_further_calls(self):
        self.backend.api_key = "EZTK_revoked"
        order = self.quotation()
        result = self.method.rate_shipment(order)
        self.assertFalse(result["success"])
        self.assertIn("Rate Carrier refused the rate request (HTTP 401)", result["error_message"])
        self.assertIn("This api key is no longer active", result["error_message"])
        self.assertNotIn("EZTK_revoked", result["error_message"])
        self.assertEqual(self.backend.circuit_state, "credentials_refused")
        result = self.method.rate_shipment(order)
        self.assertIn("refuses our credentials", result["error_message"])
        self.assertEqual(len(self.sandbox.received()), 1)

    def test_an_error_body_gives_its_text(self):
        with ScriptedPartner() as partner:
            partner.answer(
                422,
                {
                    "error": {
                        "code": "ADDRESS.VERIFY.FAILURE",
                        "message": "Unable to verify address.",
                        "errors": [{"field": "street1", "message": "Address not found"}],
                    }
                },
            )
            self.point_backend_at(partner.url)
            result = self.method.rate_shipment(self.quotation())
        self.assertFalse(result["success"])
        self.assertEqual(
            result["error_message"],
            "Rate Carrier refused the rate request (HTTP 422): ADDRESS.VERIFY.FAILURE: Unable "
            "to verify address. (street1: Address not found)",
        )
        # A partner that answers is up: its circuit stays closed.
        self.assertEqual(self.backend.circuit_state, "closed")
        self.assertEqual(self.backend.last_error_class, "business")

    def test_no_rate_gives_the_carriers_reasons(self):
        with ScriptedPartner() as partner:
            partner.answer(
                201,
                {
                    "object": "Shipment",
                    "id": "shp_norate",
                    "rates": [],
                    "messages": [
                        {"carrier": "USPS", "type": "rate_error", "message": "Invalid zip"}
                    ],
                },
            )
            self.point_backend_at(partner.url)
            result = self.method.rate_shipment(self.quotation())
        self.assertFalse(result["success"])
        self.assertEqual(
            result["error_message"],
            "Rate Carrier gave no rate for this order: the carrier offered no rate to choose "
            "from (USPS: Invalid zip).",
        )
