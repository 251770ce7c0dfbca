"""Test Connection of an EasyPost backend, against the EasyPost sandbox (tests/sandboxes/carrier.py,
a real HTTP server on 127.0.0.1): a harmless authenticated GET of one saved address; a refused
key reads as credentials refused, a partner that is not there as a temporary failure. Nothing is
created at the carrier or in Odoo."""

from odoo.tests import tagged

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase
from odoo.addons.logistics_integration_base.tests.partner_server import (
    LoopbackPartnerMixin,
    closed_port,
)
from odoo.addons.logistics_integration_base.tests.sandbox_servers import sandbox_class

KEY = "EZTK_connection_test_key"


@tagged("post_install", "-at_install")
class TestEasyPostConnectionTest(LoopbackPartnerMixin, LogisticsCase):
    def setUp(self):
        super().setUp()
        self.sandbox = sandbox_class("carrier", "CarrierSandbox")(api_key=KEY, step_seconds=0)
        self.sandbox.start()
        self.addCleanup(self.sandbox.stop)
        self.carrier.write(
            {"adapter": "easypost", "base_url": self.sandbox.url, "auth_type": "basic"}
        )
        self.carrier.api_key = KEY

    def test(self):
        messages = self.env["logistics.message"].search_count([])
        action = self.carrier.with_user(self.manager).action_test_connection()
        self.assertEqual(self.env["logistics.message"].search_count([]), messages)
        return action["params"]

    def test_success_reports_status_and_latency(self):
        self.sandbox.set_faults({"latency_ms": 30})
        notification = self.test()
        self.assertEqual(notification["type"], "success")
        self.assertRegex(
            notification["message"],
            rf"^GET {self.sandbox.url}/v2/addresses\?page_size=1 answered HTTP 200 in \d+ ms\.$",
        )
        [call] = self.sandbox.received()
        self.assertEqual((call["method"], call["path"]), ("GET", "/v2/addresses"))
        # Harmless: nothing was created or bought at the carrier.
        state = self.sandbox.business_state()
        self.assertEqual((state["shipments"], state["purchases_total"]), ({}, 0))

    def test_a_refused_key_reads_as_credentials_refused(self):
        self.carrier.api_key = "EZTK_revoked"
        notification = self.test()
        self.assertEqual(notification["type"], "danger")
        self.assertTrue(notification["sticky"])
        self.assertIn("Credentials refused (HTTP 401 / 403)", notification["message"])
        self.assertIn("HTTP 401", notification["message"])
        self.assertIn("APIKEY.INACTIVE", notification["message"])
        self.assertNotIn("EZTK_revoked", notification["message"])

    def test_an_unreachable_carrier_reads_as_a_temporary_failure(self):
        self.carrier.write({"base_url": f"http://127.0.0.1:{closed_port()}"})
        self.carrier.api_key = KEY
        notification = self.test()
        self.assertEqual(notification["type"], "danger")
        self.assertIn("Temporary failure", notification["message"])
        self.assertIn("connection error", notification["message"])

    def test_a_carrier_that_is_down_reads_as_a_temporary_failure(self):
        self.sandbox.set_faults({"down": True})
        notification = self.test()
        self.assertIn("Temporary failure", notification["message"])
        self.assertIn("HTTP 503", notification["message"])
