from odoo.exceptions import AccessError

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase


class TestWmsAccess(LogisticsCase):
    def test_stock_sync_sends_the_wms_key_only_for_a_manager(self):
        """An Auditor (read-only) or a User asking for a stock snapshot would send a request
        with the WMS's API key: refused in the method, nothing queued."""
        self.wms.adapter = "wms_rest"
        Message = self.env["logistics.message"]
        before = Message.search_count([("operation", "=", "stock_snapshot")])
        for user in (self.auditor, self.user):
            with (
                self.subTest(user=user.login),
                self.assertRaisesRegex(
                    AccessError, "^Only Logistics Managers can ask a WMS for its stock.$"
                ),
            ):
                self.wms.with_user(user).action_sync_stock()
        self.assertEqual(Message.search_count([("operation", "=", "stock_snapshot")]), before)
        self.wms.with_user(self.manager).action_sync_stock()
        self.assertEqual(Message.search_count([("operation", "=", "stock_snapshot")]), before + 1)
