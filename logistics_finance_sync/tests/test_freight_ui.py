"""The freight audit's screens in a real headless Chromium: a finance person finds an invoice
with exceptions, disputes a line from the evidence, and reads the reconciliation report."""

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.common import GROUP_MANAGER

from .common import charge, invoice


@tagged("post_install", "-at_install")
class TestFreightScreens(HttpCase):
    def test_a_finance_person_disputes_a_mismatch_and_reads_the_report(self):
        new_test_user(
            self.env,
            "freight_ui",
            password="freight_ui",
            groups=f"base.group_user,{GROUP_MANAGER}",
        )
        Backend = self.env["logistics.backend"]
        carrier = Backend.create(
            {"name": "Tour Carrier", "code": "tour_carrier", "kind": "carrier"}
        )
        billing = Backend.create(
            {
                "name": "Tour Billing",
                "code": "tour_billing",
                "kind": "finance",
                "adapter": "freight_billing",
                "protocol": "file",
                "billed_carrier_id": carrier.id,
            }
        )
        company = self.env["res.partner"].create({"name": "ACME Tour", "is_company": True})
        shipment = self.env["logistics.shipment"].create(
            {"partner_id": company.id, "carrier_backend_id": carrier.id}
        )
        self.env["logistics.package"].create(
            {
                "shipment_id": shipment.id,
                "name": "PKG-TOUR",
                "tracking_number": "TRK-TOUR-2",
                "rate_amount": 7.5,
                "rate_currency_id": self.env.company.currency_id.id,
                "weight": 2.0,
            }
        )
        currency = self.env.company.currency_id.name
        stored, _dup = billing._store_carrier_invoices(
            [
                invoice(
                    "INV-TOUR",
                    [charge("TRK-TOUR-2", "base", 7.5), charge("TRK-TOUR-2", "residential", 5.1)],
                    currency=currency,
                )
            ],
            {},
            "test",
        )
        billing._process_inbound(stored)
        bill = self.env["logistics.carrier.invoice"].search([("name", "=", "INV-TOUR")])
        self.env["logistics.carrier.invoice.line"]._audit(bill)
        self.assertEqual(bill.audit_state, "exceptions")
        self.start_tour(
            "/odoo/action-logistics_finance_sync.logistics_carrier_invoice_action",
            "logistics_freight_audit",
            login="freight_ui",
        )
        line = bill.line_ids.filtered(lambda line: line.charge_code == "residential")
        self.assertEqual(line.audit_state, "disputed")
        self.assertEqual(line.dispute_note, "Commercial address: no residential surcharge")
        self.assertAlmostEqual(line.dispute_credit, 5.1)
        self.assertEqual(bill.audit_state, "disputed")
