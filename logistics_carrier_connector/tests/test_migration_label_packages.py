import importlib.util
from pathlib import Path

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase

MIGRATION = (
    Path(__file__).parents[1] / "migrations" / "19.0.1.2.0" / "post-migrate-label-packages.py"
)


def run_migration(cr):
    spec = importlib.util.spec_from_file_location("post_migrate_label_packages", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.migrate(cr, "19.0.1.1.0")


class TestLabelPackagesMigration(LogisticsCase):
    """A database of 19.0.1.1.0 had one label purchase per shipment: the upgrade gives each such
    shipment one package (the whole transfer) holding its purchases and its bought label."""

    def test_a_shipment_with_a_bought_label_gets_its_package(self):
        shipment = self.shipment
        label = self.env["ir.attachment"].create(
            {"name": "Label-9400.pdf", "raw": b"%PDF-1.4", "mimetype": "application/pdf"}
        )
        shipment.write(
            {
                "tracking_number": "9400",
                "tracking_url": "https://track.example/9400",
                "carrier_name": "USPS",
                "carrier_service": "Priority",
                "label_attachment_id": label.id,
                "freight_actual": 7.37,
            }
        )
        Label = self.env["logistics.carrier.label"]
        failed = Label.create(
            {"shipment_id": shipment.id, "backend_id": self.carrier.id, "state": "failed"}
        )
        bought = Label.create(
            {
                "shipment_id": shipment.id,
                "backend_id": self.carrier.id,
                "state": "bought",
                "tracking_number": "9400",
            }
        )
        other = self.create_sale_order().picking_ids.logistics_shipment_ids
        run_migration(self.env.cr)
        package = shipment.package_ids
        self.assertEqual(len(package), 1)
        self.assertEqual((package.name, package.source), (shipment.picking_id.name, "transfer"))
        self.assertEqual((failed | bought).package_id, package)
        self.assertEqual(package.tracking_number, "9400")
        self.assertEqual(package.label_attachment_id, label)
        self.assertEqual(bought.label_attachment_id, label)
        self.assertEqual(package.carrier_name, "USPS")
        self.assertEqual(
            (package.rate_amount, package.rate_currency_id), (7.37, shipment.currency_id)
        )
        self.assertFalse(other.package_ids, "a shipment without purchases gets no package")
        run_migration(self.env.cr)
        self.assertEqual(shipment.package_ids, package, "run twice: nothing more")
