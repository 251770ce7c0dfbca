"""A WMS backend's form in a real headless Chromium, as a Logistics Manager uses it: its counts,
its webhook URL, and Test Connection through Odoo to the WMS sandbox (tests/sandboxes/wms.py)."""

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.common import GROUP_MANAGER, GROUP_USER
from odoo.addons.logistics_integration_base.tests.partner_server import LoopbackPartnerMixin
from odoo.addons.logistics_integration_base.tests.sandbox_servers import sandbox_class

TOKEN = "wms-tour-token"


@tagged("post_install", "-at_install")
class TestWmsBackendForm(LoopbackPartnerMixin, HttpCase):
    def test_a_manager_tests_the_connection_from_the_form(self):
        new_test_user(
            self.env,
            "wms_form_manager",
            password="wms_form_manager",
            groups=f"base.group_user,{GROUP_USER},{GROUP_MANAGER}",
        )
        sandbox = sandbox_class("wms", "WmsSandbox")(api_key=TOKEN, step_seconds=0).start()
        self.addCleanup(sandbox.stop)
        backend = self.env["logistics.backend"].create(
            {
                "name": "Tour WMS",
                "code": "tour_wms",
                "kind": "wms",
                "adapter": "wms_rest",
                "base_url": sandbox.url,
                "auth_type": "bearer",
            }
        )
        backend.api_key = TOKEN
        Message = self.env["logistics.message"]
        released, dead = Message.create(
            [
                {"direction": "outbound", "operation": "order_release", "backend_id": backend.id}
                for _index in range(2)
            ]
        )
        dead._set_state("dead")
        self.start_tour(
            f"/odoo/logistics.backend/{backend.id}",
            "logistics_wms_backend_form",
            login="wms_form_manager",
        )
        [ping] = sandbox.received()
        self.assertEqual((ping["method"], ping["path"]), ("GET", "/api/ping"))
        self.assertEqual(sandbox.business_state()["orders"], {})
        self.assertEqual(Message.search_count([("backend_id", "=", backend.id)]), 2)
        self.assertEqual(released.state, "received")
