"""What the flow sets on a shipment (the transfer, order, customer and warehouse it was created
for, its tracking number) can't be changed by hand: read-only in the views, and refused over
JSON-2 for a Logistics User and a Logistics Manager alike; the fields a person owns (the promised
date) stay writable."""

from odoo.tests import HttpCase, new_test_user, tagged

from .common import GROUP_MANAGER, GROUP_USER, api_key, json2

FLOW_SET = ("partner_id", "warehouse_id", "picking_id", "sale_id", "tracking_number")


@tagged("post_install", "-at_install")
class TestShipmentReadonlyFields(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["logistics.subscription"].search([]).unlink()
        customer = cls.env["res.partner"].create({"name": "Flow Customer"})
        product = cls.env["product.product"].create({"name": "Flow Widget", "type": "consu"})
        sale = cls.env["sale.order"].create(
            {
                "partner_id": customer.id,
                "order_line": [(0, 0, {"product_id": product.id, "product_uom_qty": 1})],
            }
        )
        sale.action_confirm()
        cls.shipment = sale.picking_ids.logistics_shipment_ids
        cls.shipment.sudo().tracking_number = "1Z-FLOW"
        cls.other_customer = cls.env["res.partner"].create({"name": "Typed Customer"})
        cls.other_warehouse = cls.env["stock.warehouse"].create(
            {"name": "Typed Warehouse", "code": "TYPD"}
        )
        cls.other_sale = sale.copy()
        cls.user = new_test_user(cls.env, "ro_user", groups=f"base.group_user,{GROUP_USER}")
        cls.manager = new_test_user(
            cls.env, "ro_manager", groups=f"base.group_user,{GROUP_MANAGER}"
        )

    def test_flow_fields_are_read_only_in_the_views(self):
        described = self.env["logistics.shipment"].fields_get(FLOW_SET, ["readonly"])
        self.assertEqual(
            {name: described[name]["readonly"] for name in FLOW_SET}, dict.fromkeys(FLOW_SET, True)
        )

    def test_flow_fields_are_refused_over_rpc_for_users_and_managers(self):
        before = {name: self.shipment[name] for name in FLOW_SET}
        typed = {
            "partner_id": self.other_customer.id,
            "warehouse_id": self.other_warehouse.id,
            "picking_id": False,
            "sale_id": self.other_sale.id,
            "tracking_number": "1Z-TYPED",
        }
        for user in (self.user, self.manager):
            key = api_key(user)
            for name, value in typed.items():
                with self.subTest(user=user.login, field=name):
                    response = json2(
                        self,
                        key,
                        "logistics.shipment",
                        "write",
                        {"ids": self.shipment.ids, "vals": {name: value}},
                    )
                    self.assertEqual(response.status_code, 403, response.text)
                    self.assertIn("not by hand", response.text)
        self.shipment.invalidate_recordset()
        self.assertEqual({name: self.shipment[name] for name in FLOW_SET}, before)
        self.assertEqual(self.shipment.partner_id.name, "Flow Customer")

    def test_what_a_person_owns_stays_writable(self):
        response = json2(
            self,
            api_key(self.user),
            "logistics.shipment",
            "write",
            {"ids": self.shipment.ids, "vals": {"promised_date": "2026-12-24 12:00:00"}},
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.shipment.invalidate_recordset()
        self.assertEqual(str(self.shipment.promised_date), "2026-12-24 12:00:00")
