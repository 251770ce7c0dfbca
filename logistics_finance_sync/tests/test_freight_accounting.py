from datetime import date

from freezegun import freeze_time

from odoo.tests import tagged

from .common import FreightCase, charge, invoice


@tagged("post_install", "-at_install")
class TestFreightAccounting(FreightCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.company
        Account = cls.env["account.account"]
        cls.expense = Account.search(
            [("account_type", "=", "expense"), ("company_ids", "in", company.id)], limit=1
        )
        cls.accrued = Account.create(
            {"name": "Accrued freight", "code": "211900", "account_type": "liability_current"}
        )
        cls.vendor = cls.env["res.partner"].create({"name": "USPS", "is_company": True})
        plan = cls.env["account.analytic.plan"].create({"name": "Warehouses"})
        cls.analytic = cls.env["account.analytic.account"].create(
            {"name": "Main warehouse", "plan_id": plan.id}
        )
        cls.warehouse = cls.env["stock.warehouse"].search(
            [("company_id", "=", company.id)], limit=1
        )
        cls.warehouse.logistics_analytic_account_id = cls.analytic
        cls.carrier.write(
            {
                "freight_vendor_id": cls.vendor.id,
                "freight_expense_account_id": cls.expense.id,
                "freight_accrual_account_id": cls.accrued.id,
                "freight_analytic_by": "warehouse",
            }
        )

    def bill_of(self, bill):
        self.env["logistics.carrier.invoice"]._bill_pending()
        return bill.move_id

    def ship(self, shipment, when):
        self.env["logistics.event"]._ingest(
            self.carrier,
            [
                {
                    "type": "shipped",
                    "event_id": f"shipped-{shipment.id}",
                    "shipment_ref": shipment.name,
                    "occurred_at": when,
                }
            ],
        )

    def test_audited_invoice_becomes_a_draft_vendor_bill_with_analytics(self):
        self.shipment([("TRK-B1", 7.5, 3.0)], warehouse_id=self.warehouse.id)
        self.shipment([("TRK-B2", 12.0, 5.0)], warehouse_id=self.warehouse.id)
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-BILL",
                [
                    charge("TRK-B1", "base", 6.8),
                    charge("TRK-B1", "fuel", 0.7),
                    charge("TRK-B2", "base", 12.0),
                ],
            )
        )
        move = self.bill_of(bill)
        self.assertEqual(move.move_type, "in_invoice")
        self.assertEqual(move.state, "draft")
        self.assertEqual(move.partner_id, self.vendor)
        self.assertEqual(move.ref, "INV-BILL")
        self.assertEqual(str(move.invoice_date), "2026-11-30")
        self.assertAlmostEqual(move.amount_total, 19.5)
        self.assertEqual(move.invoice_line_ids.account_id, self.expense)
        self.assertEqual(
            {line.name: line.price_subtotal for line in move.invoice_line_ids},
            {
                "Base Freight · INV-BILL · Main warehouse": 18.8,
                "Fuel Surcharge · INV-BILL · Main warehouse": 0.7,
            },
        )
        self.assertEqual(
            move.invoice_line_ids.mapped("analytic_distribution"),
            [{str(self.analytic.id): 100.0}] * 2,
        )
        # One bill per carrier invoice: the next batch makes none.
        self.env["logistics.carrier.invoice"]._bill_pending()
        self.assertEqual(self.env["account.move"].search_count([("ref", "=", "INV-BILL")]), 1)

    def test_posted_setting_posts_the_bill(self):
        self.carrier.freight_bill_state = "posted"
        self.shipment([("TRK-P1", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(invoice("INV-POST", [charge("TRK-P1", "base", 7.5)]))
        self.assertEqual(self.bill_of(bill).state, "posted")

    def test_no_bill_while_lines_wait_and_disputed_lines_are_held_back(self):
        self.shipment([("TRK-H1", 7.5, 3.0)], partner=self.business)
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-HOLD", [charge("TRK-H1", "base", 7.5), charge("TRK-H1", "residential", 5.1)]
            )
        )
        self.assertFalse(self.bill_of(bill))  # a mismatch waits for a person
        residential = bill.line_ids.filtered(lambda line: line.charge_code == "residential")
        residential._dispute("Commercial address", 5.1)
        move = self.bill_of(bill)
        self.assertAlmostEqual(move.amount_total, 7.5)
        self.assertTrue(
            any("1 disputed line(s) held back (5.1)" in m.body for m in bill.message_ids)
        )
        # A partial credit: what is left of the disputed line is billed with the credit note.
        (credit,), _dup = self.import_invoices(
            invoice("CR-HOLD", [charge("TRK-H1", "residential", -4.0)], credit_of="INV-HOLD")
        )
        self.assertAlmostEqual(self.bill_of(credit).amount_total, 1.1)

    def test_missing_settings_raise_posting_failed_and_wait(self):
        self.carrier.freight_vendor_id = False
        self.shipment([("TRK-M1", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(invoice("INV-MISS", [charge("TRK-M1", "base", 7.5)]))
        self.assertFalse(self.bill_of(bill))
        failed = self.exceptions("freight_posting_failed")
        self.assertEqual(len(failed), 1)
        self.assertIn("set Vendor", failed.description)
        self.carrier.freight_vendor_id = self.vendor
        self.assertTrue(self.bill_of(bill))

    def test_accrual_of_shipped_freight_and_its_reversal_in_the_next_period(self):
        self.carrier.freight_accounting = "accrual"
        shipped = self.shipment(
            [("TRK-A1", 7.5, 3.0)], warehouse_id=self.warehouse.id, freight_estimate=7.5
        )
        other = self.shipment([("TRK-A2", 12.0, 3.0)], freight_estimate=12.0)
        not_yet = self.shipment([("TRK-A3", 9.0, 3.0)], freight_estimate=9.0)
        self.ship(shipped, "2026-11-30T15:00:00+00:00")
        self.ship(other, "2026-11-29T09:00:00+00:00")
        self.ship(not_yet, "2026-12-01T09:00:00+00:00")
        move = self.env["logistics.backend"]._cron_accrue_freight(date(2026, 11, 30))
        self.assertEqual(len(move), 1)
        self.assertEqual(move.state, "posted")
        self.assertEqual(str(move.date), "2026-11-30")
        self.assertEqual(move.logistics_accrual_carrier_id, self.carrier)
        debits = {
            (line.account_id, str(line.analytic_distribution)): line.debit
            for line in move.line_ids
            if line.debit
        }
        self.assertEqual(
            debits,
            {
                (self.expense, str({str(self.analytic.id): 100.0})): 7.5,
                (self.expense, "False"): 12.0,
            },
        )
        self.assertEqual(move.line_ids.filtered("credit").account_id, self.accrued)
        self.assertAlmostEqual(move.line_ids.filtered("credit").credit, 19.5)
        reversal = move.reversal_move_ids
        self.assertEqual(str(reversal.date), "2026-12-01")
        self.assertEqual(reversal.state, "draft")
        self.assertEqual(reversal.auto_post, "at_date")
        # Once a day: the same day again accrues nothing more.
        self.assertFalse(self.env["logistics.backend"]._cron_accrue_freight(date(2026, 11, 30)))
        # Odoo's own cron posts the reversal on its date, not before.
        autopost = self.env.ref("account.ir_cron_auto_post_draft_entry")
        with freeze_time("2026-11-30 12:00:00"), self.enter_registry_test_mode():
            autopost.method_direct_trigger()
            self.assertEqual(reversal.state, "draft")
        with freeze_time("2026-12-01 06:00:00"), self.enter_registry_test_mode():
            autopost.method_direct_trigger()
            self.assertEqual(reversal.state, "posted")
        # Billed since: the next day's accrual leaves it out; the one shipped that day is in.
        with freeze_time("2026-12-01 09:00:00"):
            self.import_invoices(
                invoice("INV-ACR", [charge("TRK-A2", "base", 12.0)], invoice_date="2026-12-01")
            )
            self.env["logistics.carrier.invoice"]._bill_pending()
        december = self.env["logistics.backend"]._cron_accrue_freight(date(2026, 12, 1))
        self.assertAlmostEqual(december.amount_total, 7.5 + 9.0)

    def test_an_invoice_with_nothing_to_bill_is_left_alone_and_a_loose_credit_is_refunded(self):
        self.shipment([("TRK-N1", 7.5, 3.0)], partner=self.business)
        (bill,), _dup = self.import_invoices(
            invoice("INV-NONE", [charge("TRK-N1", "residential", 5.1)])
        )
        bill.line_ids._dispute("Commercial address", 5.1)
        self.assertFalse(self.bill_of(bill))
        self.assertTrue(bill.billed)  # nothing to bill: the batch won't try again
        # A credit note crediting a line nobody disputed: a person accepts it, it is refunded.
        self.shipment([("TRK-N2", 7.5, 3.0)])
        (credit,), _dup = self.import_invoices(
            invoice("CR-LOOSE", [charge("TRK-N2", "base", -2.0)], credit_of="INV-NONE")
        )
        self.assertEqual(credit.line_ids.audit_state, "unmatched")
        credit.line_ids.action_accept()
        refund = self.bill_of(credit)
        self.assertEqual(refund.move_type, "in_refund")
        self.assertAlmostEqual(refund.amount_total, 2.0)
