from odoo.modules.module import get_manifest
from odoo.tests import HttpCase, TransactionCase, tagged

SUITE = (
    "logistics_integration_base",
    "logistics_wms_connector",
    "logistics_carrier_connector",
    "logistics_monitoring",
    "logistics_finance_sync",
)


class TestSuiteInstalled(TransactionCase):
    def test_all_addons_installed(self):
        modules = self.env["ir.module.module"].search([("name", "in", SUITE)])
        self.assertEqual(
            {module.name: module.state for module in modules},
            dict.fromkeys(SUITE, "installed"),
        )
        self.assertEqual(
            {module.name: module.latest_version for module in modules},
            {name: get_manifest(name)["version"] for name in SUITE},
        )
        self.assertTrue(all(module.latest_version.startswith("19.0.") for module in modules))

    def test_queue_job_installed(self):
        queue_job = self.env["ir.module.module"].search([("name", "=", "queue_job")])
        self.assertEqual(queue_job.state, "installed")

    def test_groups_and_hierarchy(self):
        user = self.env.ref("logistics_integration_base.group_logistics_user")
        manager = self.env.ref("logistics_integration_base.group_logistics_manager")
        auditor = self.env.ref("logistics_integration_base.group_logistics_auditor")
        privilege = self.env.ref("logistics_integration_base.res_groups_privilege_logistics")
        self.assertEqual((user | manager | auditor).privilege_id, privilege)
        # A manager can do what a user and an auditor can; a user is not an auditor.
        self.assertIn(user, manager.all_implied_ids)
        self.assertIn(auditor, manager.all_implied_ids)
        self.assertNotIn(auditor, user.all_implied_ids)
        self.assertIn(self.env.ref("base.user_admin"), manager.all_user_ids)

    def test_one_logistics_app_menu(self):
        root = self.env.ref("logistics_integration_base.menu_logistics_root")
        self.assertFalse(root.parent_id)
        self.assertEqual(root.name, "Logistics")
        apps = self.env["ir.ui.menu"].search(
            [("parent_id", "=", False), ("name", "=", "Logistics")]
        )
        self.assertEqual(apps, root, "the suite must have exactly one top-level Logistics menu")

    def test_app_menu_only_for_logistics_groups(self):
        employee = self.env["res.users"].create(
            {
                "name": "Plain Employee",
                "login": "plain.employee@example.com",
                "group_ids": [(6, 0, [self.env.ref("base.group_user").id])],
            }
        )
        root = self.env.ref("logistics_integration_base.menu_logistics_root")
        visible = self.env["ir.ui.menu"].with_user(employee)._visible_menu_ids()
        self.assertNotIn(root.id, visible)
        user_group = self.env.ref("logistics_integration_base.group_logistics_user")
        employee.group_ids = [(4, user_group.id)]
        self.env.registry.clear_cache()
        visible = self.env["ir.ui.menu"].with_user(employee)._visible_menu_ids()
        self.assertIn(root.id, visible)


@tagged("post_install", "-at_install")
class TestLogisticsAppInBrowser(HttpCase):
    def test_logistics_app_opens_from_the_app_menu(self):
        """A real Chromium logs in as admin, opens the app menu and enters the Logistics app."""
        self.start_tour("/odoo", "logistics_app_menu", login="admin")
