import requests

from odoo.tests import tagged

from odoo.addons.logistics_integration_base.tests.partner_server import LoopbackPartnerMixin
from odoo.addons.logistics_integration_base.tests.sandbox_servers import sandbox_class
from odoo.addons.queue_job.tests.common import trap_jobs

from .common import FreightCase

KEY = "sandbox-finance-test-key"
OZ_PER_KG = 35.27396195


@tagged("post_install", "-at_install")
class TestFinanceSandboxFlow(LoopbackPartnerMixin, FreightCase):
    """End to end over real HTTP: the finance sandbox bills labels with faults; Odoo imports its
    invoices through the billing API, audits them, bills them, and exports the period."""

    def setUp(self):
        super().setUp()
        self.sandbox = sandbox_class("finance", "FinanceSandbox")(api_key=KEY)
        self.sandbox.start()
        self.addCleanup(self.sandbox.stop)
        self.billing.write(
            {"protocol": "rest", "base_url": self.sandbox.url, "auth_type": "bearer"}
        )
        self.billing.api_key = KEY
        self.finance = self.env["logistics.backend"].create(
            {
                "name": "Finance system",
                "code": "audit_finance",
                "kind": "finance",
                "adapter": "finance_export",
                "protocol": "rest",
                "base_url": self.sandbox.url,
                "auth_type": "bearer",
            }
        )
        self.finance.api_key = KEY
        self.carrier.write(
            {
                "freight_vendor_id": self.business.id,
                "freight_expense_account_id": self.env["account.account"]
                .search([("account_type", "=", "expense")], limit=1)
                .id,
            }
        )

    def admin(self, path, document=None):
        response = requests.post(f"{self.sandbox.url}/_admin/{path}", json=document, timeout=10)
        response.raise_for_status()
        return response.json()

    def state(self):
        return requests.get(f"{self.sandbox.url}/_admin/state", timeout=10).json()

    def run_jobs(self, trap):
        for _round in range(10):
            if not trap.enqueued_jobs:
                return
            trap.perform_enqueued_jobs()

    def test_invoices_with_faults_are_imported_audited_billed_and_exported(self):
        shipments = {}
        billable = []
        for n in range(24):
            number = f"9400FIN{n:04d}"
            residential = n % 4 == 0
            shipments[number] = self.shipment(
                [(number, 8.0 + n, 2.0)],
                partner=self.person if residential else self.business,
            )
            billable.append(
                {
                    "tracking_code": number,
                    "reference": shipments[number].name,
                    "carrier": "USPS",
                    "service": "Priority",
                    "rate": f"{8.0 + n:.2f}",
                    "currency": "USD",
                    "weight_oz": round(2.0 * OZ_PER_KG, 1),
                    "residential": residential,
                }
            )
        self.admin(
            "config",
            {
                "seed": 17,
                "lines_per_invoice": 6,
                "overcharge_rate": 0.2,
                "residential_rate": 0.2,
                "address_correction_rate": 0.1,
                "unknown_tracking_rate": 0.1,
                "duplicate_invoice_rate": 0.3,
            },
        )
        self.admin("shipments", {"shipments": billable})
        self.admin("bill", {"issued_on": "2026-11-30"})
        truth = self.state()
        faults = truth["faults"]
        self.assertTrue(
            faults["overcharge"] and faults["residential"] and faults["duplicate_invoices"]
        )

        with trap_jobs() as trap:
            self.billing._import_carrier_invoices()
            self.run_jobs(trap)
        Invoice = self.env["logistics.carrier.invoice"]
        numbers = [invoice["number"] for invoice in truth["invoices"]]
        self.assertEqual(
            sorted(Invoice.search([("source_backend_id", "=", self.billing.id)]).mapped("name")),
            sorted(set(numbers)),
        )
        # Every copy served twice is refused once, never billed twice.
        duplicates = self.exceptions("duplicate_message", backend_id=self.billing.id)
        self.assertEqual(
            sorted(duplicates.mapped("source_event_id")),
            sorted(f"invoice:{number}" for number in faults["duplicate_invoices"]),
        )
        lines = self.env["logistics.carrier.invoice.line"].search(
            [("invoice_id.source_backend_id", "=", self.billing.id)]
        )
        self.assertFalse(lines.filtered(lambda line: line.audit_state == "to_audit"))
        mismatched = set(
            lines.filtered(lambda line: line.audit_state == "mismatch").mapped("tracking_number")
        )
        expected_mismatch = set(
            faults["overcharge"] + faults["residential"] + faults["address_correction"]
        )
        self.assertEqual(mismatched, expected_mismatch)
        unmatched = set(
            lines.filtered(lambda line: line.audit_state == "unmatched").mapped("tracking_number")
        )
        self.assertEqual(unmatched, set(faults["unknown_tracking"]))
        clean = set(shipments) - expected_mismatch
        for number in clean:
            self.assertEqual(
                set(
                    lines.filtered(lambda line, n=number: line.tracking_number == n).mapped(
                        "audit_state"
                    )
                ),
                {"reconciled"},
                number,
            )
            billed = float(truth["shipments"][number]["billed"])
            self.assertAlmostEqual(shipments[number].freight_actual, billed)
        self.assertEqual(
            set(
                self.exceptions("freight_mismatch").shipment_id.package_ids.mapped(
                    "tracking_number"
                )
            ),
            expected_mismatch,
        )
        # The cursor moved past what was read: a second import reads nothing new.
        self.assertEqual(self.billing.freight_invoice_cursor, truth["invoices"][-1]["id"])

        # Work the mismatches: accept them all; the bills follow, then the export of the month.
        with trap_jobs() as trap:
            lines.filtered(
                lambda line: line.audit_state in ("mismatch", "unmatched")
            ).action_accept()
            self.run_jobs(trap)
        bills = Invoice.search([("source_backend_id", "=", self.billing.id)]).move_id
        self.assertEqual(len(bills), len(set(numbers)))
        self.assertAlmostEqual(
            sum(bills.mapped("amount_total")), round(sum(lines.mapped("amount")), 2)
        )
        with trap_jobs() as trap:
            self.finance.action_export_finance("2026-11", ["freight"])
            self.run_jobs(trap)
        exports = self.state()["exports"]
        self.assertEqual(len(exports), 1)
        body = exports[0]["document"]
        self.assertEqual(
            (body["period"], body["kind"], body["currency"]), ("2026-11", "freight", "USD")
        )
        self.assertEqual(
            {line["shipment_ref"] for line in body["lines"]},
            {shipment.name for shipment in shipments.values()},
        )
