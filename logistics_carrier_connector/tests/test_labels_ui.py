"""The labels of a shipment in a real headless Chromium: its packages, and one PDF that opens in
the browser rather than the attachment's technical form."""

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.common import GROUP_USER

from .common import label_pdf


@tagged("post_install", "-at_install")
class TestLabelScreens(HttpCase):
    def test_a_user_sees_the_packages_and_opens_the_labels_as_one_pdf(self):
        new_test_user(
            self.env, "label_user", password="label_user", groups=f"base.group_user,{GROUP_USER}"
        )
        carrier = self.env["logistics.backend"].create(
            {"name": "Label Carrier", "code": "label_carrier", "kind": "carrier"}
        )
        shipment = self.env["logistics.shipment"].create({"name": "SHP/LABELS/1"})
        types = {
            code: self.env["logistics.event.type"].search([("code", "=", code)])
            for code in ("delivered", "in_transit")
        }
        Attachment = self.env["ir.attachment"]
        for name, tracking, status in (
            ("PKG-A", "TRK-A", "delivered"),
            ("PKG-B", "TRK-B", "in_transit"),
        ):
            label = Attachment.create(
                {
                    "name": f"Label-{tracking}.pdf",
                    "raw": label_pdf(),
                    "mimetype": "application/pdf",
                    "res_model": "logistics.shipment",
                    "res_id": shipment.id,
                }
            )
            package = self.env["logistics.package"].create(
                {
                    "shipment_id": shipment.id,
                    "name": name,
                    "weight": 3.0,
                    "tracking_number": tracking,
                    "label_attachment_id": label.id,
                    "status_id": types[status].id,
                }
            )
            self.env["logistics.carrier.label"].create(
                {
                    "shipment_id": shipment.id,
                    "package_id": package.id,
                    "backend_id": carrier.id,
                    "state": "bought",
                    "tracking_number": tracking,
                    "label_attachment_id": label.id,
                }
            )
        shipment._refresh_label_pdf()
        merged = shipment.label_attachment_id
        self.assertTrue(merged.name.startswith("Labels-"))
        self.start_tour(
            f"/odoo/logistics.shipment/{shipment.id}",
            "logistics_carrier_labels",
            login="label_user",
        )
        # What the button opens: the PDF itself, inline, for that user.
        action = shipment.with_user(self.env.ref("base.user_admin")).action_open_labels()
        self.assertEqual(action["url"], f"/web/content/{merged.id}?download=false")
        self.authenticate("label_user", "label_user")
        response = self.url_open(action["url"])
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "application/pdf")
        self.assertTrue(response.headers["Content-Disposition"].startswith("inline"))
        self.assertTrue(response.content.startswith(b"%PDF"))
