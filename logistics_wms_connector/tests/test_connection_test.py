"""Test Connection of the WMS adapters: the REST adapter's ping against the WMS sandbox
(tests/sandboxes/wms.py, a real HTTP server on 127.0.0.1), with a refused token and a WMS that is
not there; the file drop's probe file in a real directory, and a drop directory that can't be
used. Nothing is released, stored or left behind."""

import tempfile
from pathlib import Path

from odoo.tests import tagged

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase
from odoo.addons.logistics_integration_base.tests.partner_server import (
    LoopbackPartnerMixin,
    closed_port,
)
from odoo.addons.logistics_integration_base.tests.sandbox_servers import sandbox_class

TOKEN = "wms-connection-test-token"


@tagged("post_install", "-at_install")
class TestWmsConnectionTest(LoopbackPartnerMixin, LogisticsCase):
    def setUp(self):
        super().setUp()
        self.sandbox = sandbox_class("wms", "WmsSandbox")(api_key=TOKEN, step_seconds=0)
        self.sandbox.start()
        self.addCleanup(self.sandbox.stop)
        self.wms.write({"adapter": "wms_rest", "base_url": self.sandbox.url, "auth_type": "bearer"})
        self.wms.api_key = TOKEN

    def test(self, backend=None):
        messages = self.env["logistics.message"].search_count([])
        action = (backend or self.wms).with_user(self.manager).action_test_connection()
        self.assertEqual(self.env["logistics.message"].search_count([]), messages)
        return action["params"]

    def test_rest_ping_reports_status_and_latency(self):
        notification = self.test()
        self.assertEqual(notification["type"], "success")
        self.assertRegex(
            notification["message"],
            rf"^GET {self.sandbox.url}/api/ping answered HTTP 200 in \d+ ms\.$",
        )
        [call] = self.sandbox.received()
        self.assertEqual((call["method"], call["path"]), ("GET", "/api/ping"))
        self.assertEqual(self.sandbox.business_state()["orders"], {})

    def test_rest_refused_token_reads_as_credentials_refused(self):
        self.wms.api_key = "wms-stale-token"
        notification = self.test()
        self.assertEqual(notification["type"], "danger")
        self.assertIn("Credentials refused (HTTP 401 / 403)", notification["message"])
        self.assertIn("HTTP 401", notification["message"])
        self.assertNotIn("wms-stale-token", notification["message"])

    def test_rest_unreachable_wms_reads_as_a_temporary_failure(self):
        self.wms.base_url = f"http://127.0.0.1:{closed_port()}"
        self.wms.api_key = TOKEN
        notification = self.test()
        self.assertEqual(notification["type"], "danger")
        self.assertIn("Temporary failure", notification["message"])
        self.assertIn("connection error", notification["message"])

    def test_file_drop_writes_and_removes_a_probe_file(self):
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "inbound").mkdir()
            (Path(folder) / "inbound" / "confirmations-1.csv").write_text("event_id\n")
            self.wms.write({"adapter": "wms_csv", "protocol": "file", "wms_drop_dir": folder})
            notification = self.test()
            self.assertEqual(notification["type"], "success")
            self.assertIn(f"{folder}/outbound is writable", notification["message"])
            self.assertIn("holds 1 file(s) waiting", notification["message"])
            # Nothing left behind for the WMS to read.
            self.assertEqual(list((Path(folder) / "outbound").iterdir()), [])

    def test_file_drop_that_cant_be_used_reads_as_a_failure(self):
        with tempfile.NamedTemporaryFile() as not_a_folder:
            self.wms.write(
                {"adapter": "wms_csv", "protocol": "file", "wms_drop_dir": not_a_folder.name}
            )
            notification = self.test()
        self.assertEqual(notification["type"], "danger")
        self.assertIn("The drop directory can't be used", notification["message"])
        self.assertIn("Temporary failure", notification["message"])
        self.wms.wms_drop_dir = False
        self.assertIn("No drop directory", self.test()["message"])
