import base64
import shutil
from pathlib import Path

from odoo.tests import tagged

from .common import FreightCase

DATA = Path(__file__).parent / "data"
CSV = (
    "invoice_number,invoice_date,currency,invoice_total,carrier,tracking_number,charge_code,"
    "amount,billed_weight,weight_unit\n"
    "CSV-1,2026-11-30,USD,12.60,USPS,TRK-CSV-1,base,7.50,3,kg\n"
    "CSV-1,2026-11-30,USD,12.60,USPS,TRK-CSV-1,residential,5.10,,\n"
)


@tagged("post_install", "-at_install")
class TestInvoiceImport(FreightCase):
    def upload(self, name, content):
        wizard = (
            self.env["logistics.carrier.invoice.import.wizard"]
            .with_user(self.manager)
            .create(
                {
                    "backend_id": self.billing.id,
                    "file": base64.b64encode(content),
                    "file_name": name,
                }
            )
        )
        return wizard.action_import()

    def test_a_csv_file_uploaded_is_one_message_per_invoice_then_audited(self):
        self.shipment([("TRK-CSV-1", 7.5, 3.0)], partner=self.business)
        action = self.upload("usps-november.csv", CSV.encode())
        bill = self.env["logistics.carrier.invoice"].search(action["domain"])
        self.assertEqual(bill.name, "CSV-1")
        self.assertEqual(bill.message_id.operation, "carrier_invoice")
        self.assertEqual(bill.message_id.state, "done")
        self.assertEqual(
            bill.line_ids.mapped("audit_state"), ["reconciled", "mismatch"]
        )  # residential on ACME Corp, a company
        # The same file again: refused as a duplicate, never a second bill.
        again = self.upload("usps-november-copy.csv", CSV.encode())
        self.assertIn("Already imported, refused: CSV-1", again["help"])
        self.assertEqual(
            self.env["logistics.carrier.invoice"].search_count([("name", "=", "CSV-1")]), 1
        )

    def test_an_x12_210_dropped_in_the_directory_is_imported(self):
        drop = Path(self.env["ir.attachment"]._filestore()) / "freight-drop-test"
        (drop / "inbound").mkdir(parents=True, exist_ok=True)
        self.addCleanup(shutil.rmtree, drop, ignore_errors=True)
        (drop / "inbound" / "odfl-20261201.edi").write_bytes((DATA / "sample_210.edi").read_bytes())
        self.billing.freight_drop_dir = str(drop)
        self.billing._import_carrier_invoices()
        messages = self.env["logistics.message"].search(
            [("backend_id", "=", self.billing.id), ("operation", "=", "carrier_invoice")]
        )
        self.assertEqual(
            sorted(messages.mapped("partner_event_id")),
            ["invoice:INV-2026-000123", "invoice:INV-2026-000124"],
        )
        self.billing._process_inbound(messages)
        invoices = self.env["logistics.carrier.invoice"].search(
            [("message_id", "in", messages.ids)]
        )
        first = invoices.filtered(lambda invoice: invoice.name == "INV-2026-000123")
        self.assertAlmostEqual(first.amount_total, 45.0)
        self.assertEqual(first.line_ids.mapped("charge_code"), ["base", "fuel", "residential"])

    def test_a_file_the_parser_refuses_is_kept_rejected_with_the_reason(self):
        stored, duplicates, error = self.billing._import_invoice_text(
            (DATA / "sample_210_malformed.edi").read_bytes(), "broken.edi"
        )
        self.assertFalse(stored or duplicates)
        self.assertTrue(error.startswith("broken.edi: "))
        rejected = self.env["logistics.message"].search(
            [("backend_id", "=", self.billing.id), ("state", "=", "rejected")]
        )
        self.assertEqual(rejected.error, error)
        # Uploaded: the person is told, and the rejected message keeps the file and the reason.
        action = self.upload("uploaded.edi", (DATA / "sample_210_malformed.edi").read_bytes())
        self.assertEqual(action["params"]["title"], "The file was not imported")
        self.assertTrue(action["params"]["message"].startswith("uploaded.edi: "))
        kept = self.env["logistics.message"].search(
            [("backend_id", "=", self.billing.id), ("state", "=", "rejected")], order="id desc"
        )[:1]
        self.assertEqual(kept.error, action["params"]["message"])
        self.assertIn("ISA", kept.request_body)

    def test_the_export_wizard_opens_on_last_month(self):
        finance = self.env["logistics.backend"].create(
            {
                "name": "Finance",
                "code": "wizard_finance",
                "kind": "finance",
                "adapter": "finance_export",
            }
        )
        wizard = self.env["logistics.finance.export.wizard"].with_user(self.manager).new({})
        self.assertRegex(wizard.period, r"^\d{4}-\d{2}$")
        self.assertTrue(wizard.backend_id)
        self.assertEqual(wizard.backend_id.adapter, finance.adapter)
