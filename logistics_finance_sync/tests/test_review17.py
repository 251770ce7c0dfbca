"""Review of issue 17 (finance sync: freight audit, bills, accruals, export, cash on delivery):
each test shows a bug a user, an accountant or the finance system would hit. They fail on the
code under review; the docstring says what happens and what should."""

from datetime import date

from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.logistics_integration_base.models.logistics_message import AnswerNotUnderstood
from odoo.addons.queue_job.tests.common import trap_jobs

from .common import charge, invoice, moment
from .test_cod import CodCase, paid, remittance


@tagged("post_install", "-at_install")
class TestReview17(CodCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.company
        Account = cls.env["account.account"]
        cls.expense = Account.search(
            [("account_type", "=", "expense"), ("company_ids", "in", company.id)], limit=1
        )
        cls.accrued = Account.create(
            {
                "name": "Accrued freight (review)",
                "code": "211917",
                "account_type": "liability_current",
            }
        )
        cls.vendor = cls.env["res.partner"].create({"name": "USPS (review)", "is_company": True})
        cls.carrier.write(
            {
                "freight_vendor_id": cls.vendor.id,
                "freight_expense_account_id": cls.expense.id,
                "freight_accrual_account_id": cls.accrued.id,
                "freight_analytic_by": "none",
            }
        )
        cls.finance = cls.env["logistics.backend"].create(
            {
                "name": "Finance system (review)",
                "code": "review17_finance",
                "kind": "finance",
                "adapter": "finance_export",
                "protocol": "rest",
                "base_url": "http://127.0.0.1:9",
                "auth_type": "bearer",
            }
        )

    # --- helpers ------------------------------------------------------------------------------
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

    def line(self, bill, tracking_number, code="base"):
        return bill.line_ids.filtered(
            lambda line: line.tracking_number == tracking_number and line.charge_code == code
        )

    def exported(self, shipment):
        """What the finance exports queued so far say of ``shipment``'s freight."""
        messages = self.env["logistics.message"].search(
            [("backend_id", "=", self.finance.id), ("operation", "=", "finance_export")]
        )
        return round(
            sum(
                float(line["amount"])
                for message in messages
                if message.payload["kind"] == "freight"
                for line in message.payload["lines"]
                if line["shipment_ref"] == shipment.name
            ),
            2,
        )

    def november_freight_expense(self):
        lines = self.env["account.move.line"].search(
            [
                ("account_id", "=", self.expense.id),
                ("parent_state", "=", "posted"),
                ("date", ">=", "2026-11-01"),
                ("date", "<=", "2026-11-30"),
                "|",
                ("move_id.logistics_accrual_carrier_id", "=", self.carrier.id),
                ("move_id.partner_id", "=", self.vendor.id),
            ]
        )
        return round(sum(lines.mapped("balance")), 2)

    # --- freight audit ------------------------------------------------------------------------
    def test_a_package_billed_again_by_a_second_invoice_is_reconciled_and_billed_twice(self):
        """The carrier bills the same parcel's freight on two invoices (two numbers: the
        classic double billing a freight audit is there to catch). The second invoice is judged
        on its own against the label's rate, so it is reconciled, gets its freight_reconciled
        event and a second vendor bill: the parcel's 7.50 is paid twice. It should be a
        mismatch (expected nothing: the rate was billed already by INV-DBL-1).

        Cause: ``_judge`` / ``_rows_to_audit`` (logistics_freight_audit.py) compare each
        invoice's lines with the package's full rate, never subtracting what earlier invoices
        billed the package."""
        self.shipment([("TRK-DBL", 7.5, 3.0)])
        (first,), _dup = self.import_invoices(
            invoice("INV-DBL-1", [charge("TRK-DBL", "base", 7.5)])
        )
        self.assertEqual(first.line_ids.audit_state, "reconciled")
        (second,), _dup = self.import_invoices(
            invoice("INV-DBL-2", [charge("TRK-DBL", "base", 7.5)], invoice_date="2026-12-07")
        )
        self.assertEqual(second.line_ids.audit_state, "mismatch")

    def test_a_tracking_number_of_another_carrier_matches_the_wrong_shipment(self):
        """Two carriers' tracking numbers coincide (short numeric numbers of regional carriers
        do). Our carrier's invoice line is matched to the other carrier's package, created
        first: audited against the wrong label's rate (a false mismatch here), and the other
        carrier's shipment gets this carrier's freight. It should match the package of a
        shipment of the carrier the invoice bills.

        Cause: ``_match_lines`` (logistics_freight_audit.py:87-117) joins packages on the
        tracking number and the company only, not on the shipment's ``carrier_backend_id``;
        ``ORDER BY p.active DESC, p.id`` then takes the oldest (same in
        logistics_cod_reconciliation.py:85-110 for COD remittances)."""
        other_carrier = self.env["logistics.backend"].create(
            {"name": "Other Carrier", "code": "review17_other", "kind": "carrier"}
        )
        theirs = self.shipment([("100200300", 30.0, 3.0)], carrier_backend_id=other_carrier.id)
        ours = self.shipment([("100200300", 7.5, 3.0)])
        self.assertEqual(theirs.carrier_backend_id, other_carrier)
        (bill,), _dup = self.import_invoices(
            invoice("INV-SHARED", [charge("100200300", "base", 7.5)])
        )
        self.assertEqual(bill.line_ids.shipment_id, ours)
        self.assertEqual(bill.line_ids.audit_state, "reconciled")

    def test_a_recycled_tracking_number_matches_the_oldest_parcel(self):
        """Carriers recycle tracking numbers (FedEx and UPS reuse them after some months). An
        invoice of this month for the new parcel is matched to last year's parcel that had the
        number (still active, delivered long ago), judged against its rate (12.00 instead of
        7.50: a false mismatch) and its shipment gets the freight. It should match the newest
        parcel with the number (the one labelled before the invoice).

        Cause: ``_match_lines`` (logistics_freight_audit.py:97) orders the candidates by
        ``p.active DESC, p.id``: the oldest package wins."""
        self.shipment([("1Z-RECYCLED", 12.0, 3.0)])
        new = self.shipment([("1Z-RECYCLED", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice("INV-RECYCLED", [charge("1Z-RECYCLED", "base", 7.5)])
        )
        self.assertEqual(bill.line_ids.shipment_id, new)
        self.assertEqual(bill.line_ids.audit_state, "reconciled")

    def test_guarantee_is_judged_against_the_customer_promise_not_the_carrier(self):
        """An Express parcel the carrier estimated (guaranteed) for Nov 28 is delivered on
        Nov 27: the carrier kept its guarantee. The audit compares the delivery with the date
        promised to the *customer* (the order's commitment date, Nov 25), finds it late,
        expects no freight and raises a mismatch: a person disputes a charge the carrier owes
        nothing on (and, the other way round, a late carrier whose customer promise had slack
        is never claimed). The money-back guarantee is the carrier's delivery date.

        Cause: ``_rows_to_audit`` (logistics_freight_audit.py:159) takes
        ``COALESCE(s.promised_date, s.estimated_delivery)``: the customer's promise first."""
        self.shipment(
            [("TRK-GTD", 30.0, 1.0, "Express")],
            promised_date=moment("2026-11-25 18:00:00"),
            estimated_delivery=moment("2026-11-28 18:00:00"),
            delivered_at=moment("2026-11-27 10:00:00"),
        )
        (bill,), _dup = self.import_invoices(
            invoice("INV-GTD-R", [charge("TRK-GTD", "base", 30.0)])
        )
        self.assertEqual(bill.line_ids.audit_state, "reconciled")

    def test_disputing_a_packages_freight_asks_more_than_the_credit_given(self):
        """A package billed 15.00 + 2.00 fuel against a 7.50 rate: both lines are mismatched
        (the variance, 9.50, sits on the base line; the fuel line has none). A person selects
        both and disputes them with the wizard's expected credit, 9.50. The lines then ask
        9.50 + 1.00 = 10.50: the invoice's Disputed, the reconciliation report and the credit
        note's "credited x of the y asked" all show more than was asked. The lines should ask
        9.50 in all.

        Cause: ``_dispute`` (logistics_carrier_invoice_line.py:147-154) gives a line of
        weight 0 the weight 1.0 (``weight or 1.0``) while ``total`` is the sum of the real
        weights."""
        self.shipment([("TRK-SPREAD", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-SPREAD",
                [charge("TRK-SPREAD", "base", 15.0), charge("TRK-SPREAD", "fuel", 2.0)],
            )
        )
        self.assertEqual(set(bill.line_ids.mapped("audit_state")), {"mismatch"})
        wizard = (
            self.env["logistics.freight.dispute.wizard"]
            .with_user(self.manager)
            .with_context(active_model=bill.line_ids._name, active_ids=bill.line_ids.ids)
            .create({"note": "Billed over the label's rate"})
        )
        self.assertAlmostEqual(wizard.credit, 9.5)
        wizard.action_dispute()
        self.assertEqual(set(bill.line_ids.mapped("audit_state")), {"disputed"})
        self.assertAlmostEqual(sum(bill.line_ids.mapped("dispute_credit")), 9.5)
        self.assertAlmostEqual(bill.amount_disputed, 9.5)

    def test_a_dispute_the_carrier_refuses_stays_open_forever(self):
        """The carrier answers a dispute with "no": no credit note will ever come. The disputed
        line can't be accepted (only mismatched or unmatched lines can), nor disputed again,
        nor withdrawn: it stays disputed, held back from the vendor bill for ever, and the
        carrier is never paid the 5.10 it billed. A person should be able to close the dispute
        by accepting the line as billed (the bill of what was held back follows).

        Cause: ``action_accept`` (logistics_carrier_invoice_line.py:109) refuses a disputed
        line, and no other action leaves the state "disputed" but a credit note
        (``_apply_credit_notes``)."""
        self.shipment([("TRK-REFUSED", 7.5, 3.0)], partner=self.business)
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-REFUSED",
                [charge("TRK-REFUSED", "base", 7.5), charge("TRK-REFUSED", "residential", 5.1)],
            )
        )
        residential = self.line(bill, "TRK-REFUSED", "residential")
        residential._dispute("Commercial address", 5.1)
        self.assertEqual(residential.audit_state, "disputed")
        # The carrier refuses the dispute: the line is accepted as billed.
        try:
            residential.with_user(self.manager).action_accept()
        except UserError as error:
            self.fail(f"a refused dispute can't be closed: {error}")
        self.assertEqual(residential.audit_state, "accepted")

    def test_a_credit_note_for_a_line_not_disputed_is_never_booked(self):
        """The carrier credits an overcharge by itself (its own audit, a guaranteed-service
        refund) before anyone disputed the line. The credit note's line credits no disputed
        line, so it is "unmatched"; a person accepts it as billed, and accepts the original
        line too. The vendor bill books the 9.90 billed, but the credit note's 2.40 is never
        booked (no refund is created): the books overstate the freight. The accepted credit
        should be a vendor refund of 2.40.

        Cause: ``_bill_amounts`` (logistics_carrier_invoice_bill.py:83-87) books, for a credit
        note, only its lines that credit a disputed line (``credited_line_id``); accepted
        lines of a credit note are dropped."""
        self.shipment([("TRK-SELFCREDIT", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice("INV-SELFCREDIT", [charge("TRK-SELFCREDIT", "base", 9.9)])
        )
        self.assertEqual(bill.line_ids.audit_state, "mismatch")
        (credit,), _dup = self.import_invoices(
            invoice(
                "CR-SELFCREDIT",
                [charge("TRK-SELFCREDIT", "base", -2.4)],
                credit_of="INV-SELFCREDIT",
                invoice_date="2026-12-03",
            )
        )
        self.assertEqual(credit.line_ids.audit_state, "unmatched")
        (bill.line_ids | credit.line_ids).with_user(self.manager).action_accept()
        self.env["logistics.carrier.invoice"]._bill_pending()
        self.assertAlmostEqual(bill.move_id.amount_total, 9.9)
        self.assertTrue(credit.move_id, "the carrier's credit of 2.40 is booked nowhere")
        self.assertEqual(credit.move_id.move_type, "in_refund")
        self.assertAlmostEqual(credit.move_id.amount_total, 2.4)

    def test_accepting_a_mismatch_leaves_the_shipment_without_actual_freight(self):
        """A person accepts a mismatched line as billed (9.00 against a 7.50 rate): the vendor
        bill books 9.00, but the shipment's Actual Freight stays 0.00, for ever (no later
        audit touches the line). It should be 9.00, as the audit records it for reconciled
        lines (and as ``_record_actual_freight``'s docstring says: reconciled, accepted and
        credited lines).

        Cause: ``action_accept`` (logistics_carrier_invoice_line.py:106-130) never calls
        ``_record_actual_freight`` (only ``_audit`` and ``_apply_credit_notes`` do)."""
        shipment = self.shipment([("TRK-ACCEPTED", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice("INV-ACCEPTED", [charge("TRK-ACCEPTED", "base", 9.0)])
        )
        bill.line_ids.with_user(self.manager).action_accept()
        self.assertEqual(bill.line_ids.audit_state, "accepted")
        self.assertAlmostEqual(shipment.freight_actual, 9.0)

    def test_a_parcel_we_never_shipped_can_only_be_paid(self):
        """The carrier bills a tracking number no shipment of ours has (a parcel we never
        shipped with it): the line is unmatched and a freight_unmatched exception tells the
        Finance team to "Accept the lines, or dispute them with the carrier". Dispute is
        refused ("Only mismatched lines can be disputed"), so the invoice waits for ever
        (no vendor bill for its good lines either) unless someone accepts, i.e. pays, a charge
        that is not ours. An unmatched line should be disputable like a mismatched one.

        Cause: ``_dispute`` (logistics_carrier_invoice_line.py:141) accepts only ``mismatch``
        lines (and the view hides *Dispute* on unmatched lines)."""
        self.shipment([("TRK-OURS", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-NOT-OURS",
                [charge("TRK-OURS", "base", 7.5), charge("TRK-NOT-OURS", "base", 12.0)],
            )
        )
        stranger = self.line(bill, "TRK-NOT-OURS")
        self.assertEqual(stranger.audit_state, "unmatched")
        wizard = (
            self.env["logistics.freight.dispute.wizard"]
            .with_user(self.manager)
            .with_context(active_model=stranger._name, active_ids=stranger.ids)
            .create({"note": "Not our parcel", "credit": 12.0})
        )
        try:
            wizard.action_dispute()
        except UserError as error:
            self.fail(f"a parcel we never shipped can't be disputed: {error}")
        self.assertEqual(stranger.audit_state, "disputed")
        self.env["logistics.carrier.invoice"]._bill_pending()
        self.assertAlmostEqual(bill.move_id.amount_total, 7.5)

    def test_a_vendor_bill_that_failed_for_a_setting_is_never_made_again(self):
        """The carrier's Vendor was not set: the bill job raises freight_posting_failed and
        the invoice "waits" (the exception type says: fix it, "the next batch posts what
        waited"). A Manager sets the Vendor; the nightly batch runs: no bill is made, ever
        (nothing runs the billing again unless another invoice of any carrier gets audited to
        reconciled), and the freight_posting_failed exception stays open on the board after
        the bill exists. The nightly batch should bill what waited, and the exception close.

        Cause: ``_bill_pending`` (logistics_carrier_invoice_bill.py:40-59) is queued only by
        ``_update_audit_state`` (logistics_carrier_invoice_bill.py:157-165); the nightly
        ``_audit_pending`` returns early with "nothing to audit"; nothing closes the
        exception."""
        self.carrier.freight_vendor_id = False
        # No import of any billing backend (the tests' has no drop directory): the batch only.
        self.env["logistics.backend"].search([("adapter", "=", "freight_billing")]).paused = True
        self.shipment([("TRK-NOVENDOR", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice("INV-NOVENDOR", [charge("TRK-NOVENDOR", "base", 7.5)])
        )
        self.env["logistics.carrier.invoice"]._bill_pending()
        self.assertFalse(bill.move_id)
        failed = self.exceptions("freight_posting_failed")
        self.assertEqual(len(failed), 1)
        self.carrier.freight_vendor_id = self.vendor
        with trap_jobs() as trap:
            self.env["logistics.backend"]._cron_import_carrier_invoices()
            trap.perform_enqueued_jobs()
        self.assertTrue(bill.move_id, "the invoice is never billed")
        self.assertTrue(failed.is_closed)

    # --- accruals -----------------------------------------------------------------------------
    def test_an_invoice_waiting_for_a_person_drops_its_shipments_from_the_accrual(self):
        """Accrual model. Two parcels shipped in November; the carrier's invoice of Nov 25
        bills them, one of its lines is a mismatch: the invoice waits for a person and has no
        vendor bill. The Nov 30 accrual leaves both shipments out (they are "invoiced") and no
        bill books them: November's freight cost of the two is 0.00 instead of 19.50, until
        someone works the mismatch. A shipment should stay accrued until a vendor bill books
        its freight.

        Cause: ``_accrued_shipments`` (logistics_freight_accrual.py:93-95) drops a shipment as
        soon as any carrier invoice line of it exists, whatever the line's state or whether its
        invoice was billed."""
        self.carrier.freight_accounting = "accrual"
        fine = self.shipment([("TRK-ACR-OK", 7.5, 3.0)], freight_estimate=7.5)
        wrong = self.shipment([("TRK-ACR-BAD", 12.0, 3.0)], freight_estimate=12.0)
        self.ship(fine, "2026-11-20T10:00:00+00:00")
        self.ship(wrong, "2026-11-20T11:00:00+00:00")
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-ACR-WAIT",
                [charge("TRK-ACR-OK", "base", 7.5), charge("TRK-ACR-BAD", "base", 30.0)],
                invoice_date="2026-11-25",
            )
        )
        self.assertEqual(bill.audit_state, "exceptions")
        self.env["logistics.carrier.invoice"]._bill_pending()
        self.assertFalse(bill.move_id)
        accrual = self.env["logistics.backend"]._cron_accrue_freight(date(2026, 11, 30))
        self.assertAlmostEqual(sum(accrual.mapped("amount_total")), 19.5)

    def test_an_invoice_received_after_the_month_end_accrual_is_counted_twice(self):
        """Accrual model. A parcel shipped on Nov 20 is accrued by the Nov 30 accrual (made on
        Dec 1, when no invoice had come). The carrier's invoice, dated Nov 28, comes on Dec 3:
        its vendor bill is booked on Nov 28. November now carries the parcel's freight twice
        (7.50 accrued + 7.50 billed = 15.00); the accrual's reversal is in December. The bill
        should be booked in the first open day after the last accrual that counted the parcel
        (or the month-end accrual should not count it), so that November carries 7.50.

        Cause: ``_create_vendor_bill`` (logistics_carrier_invoice_bill.py:114-115) books the
        bill on the invoice date (``date``), into a period an accrual already covered."""
        self.carrier.write({"freight_accounting": "accrual", "freight_bill_state": "posted"})
        shipment = self.shipment([("TRK-LATEBILL", 7.5, 3.0)], freight_estimate=7.5)
        self.ship(shipment, "2026-11-20T10:00:00+00:00")
        with freeze_time("2026-12-01 01:00:00"):
            accrual = self.env["logistics.backend"]._cron_accrue_freight(date(2026, 11, 30))
        self.assertAlmostEqual(accrual.amount_total, 7.5)
        with freeze_time("2026-12-03 09:00:00"):
            (bill,), _dup = self.import_invoices(
                invoice(
                    "INV-LATEBILL", [charge("TRK-LATEBILL", "base", 7.5)], invoice_date="2026-11-28"
                )
            )
            self.env["logistics.carrier.invoice"]._bill_pending()
        self.assertEqual(bill.move_id.state, "posted")
        self.assertAlmostEqual(self.november_freight_expense(), 7.5)

    # --- finance export -----------------------------------------------------------------------
    def test_a_line_settled_after_its_period_went_is_never_exported(self):
        """November's invoice bills 7.50 freight and a 5.10 residential surcharge, disputed.
        November is exported (7.50: the disputed line is held back). In December the carrier's
        credit note gives back 4.00: the disputed line is settled (5.10 - 4.00 = 1.10 is
        billed). December's export sends the credit, -4.00, but the 5.10 it credits never goes
        anywhere (its invoice date is in November, which went). The finance system holds
        3.50 for the shipment; the carrier was paid 8.60. Lines settled (accepted, credited)
        after their period went should go with the next export.

        Cause: ``_finance_export_lines_freight`` (logistics_backend_finance_export.py:145)
        picks lines by their invoice date, with no record of which lines went; a period goes
        once (``_sent_exports``)."""
        shipment = self.shipment([("TRK-EXP-LATE", 7.5, 3.0)], partner=self.business)
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-EXP-LATE",
                [charge("TRK-EXP-LATE", "base", 7.5), charge("TRK-EXP-LATE", "residential", 5.1)],
            )
        )
        self.line(bill, "TRK-EXP-LATE", "residential")._dispute("Commercial address", 5.1)
        self.finance.with_user(self.manager).action_export_finance("2026-11", ["freight"])
        self.assertAlmostEqual(self.exported(shipment), 7.5)
        self.import_invoices(
            invoice(
                "CR-EXP-LATE",
                [charge("TRK-EXP-LATE", "residential", -4.0)],
                credit_of="INV-EXP-LATE",
                invoice_date="2026-12-10",
            )
        )
        self.assertEqual(self.line(bill, "TRK-EXP-LATE", "residential").audit_state, "credited")
        self.finance.with_user(self.manager).action_export_finance("2026-12", ["freight"])
        self.assertAlmostEqual(self.exported(shipment), 8.6)

    def test_the_monthly_export_stops_when_a_manager_sent_part_of_the_period(self):
        """A Manager sends November's freight with the wizard on Dec 1 (before the cron). The
        cron of Dec 1 then raises "went before" on the freight and stops: November's cash on
        delivery is never sent (nor the periods of the finance backends after this one), and
        next month's cron sends December only. A period that went is left out, the rest goes.

        Cause: ``_cron_export_finance`` (logistics_backend_finance_export.py:44) calls
        ``_export_finance`` without ``again`` and without catching its UserError."""
        self.shipment([("TRK-CRON", 7.5, 3.0)], cod_amount=150.0)
        self.import_invoices(invoice("INV-CRON", [charge("TRK-CRON", "base", 7.5)]))
        self.import_remittances(
            remittance(
                "REM-CRON", [paid(150.0, 3.0, 147.0, "TRK-CRON")], remittance_date="2026-11-30"
            )
        )
        self.finance.with_user(self.manager).action_export_finance("2026-11", ["freight"])
        with freeze_time("2026-12-01 03:00:00"):
            try:
                self.env["logistics.backend"]._cron_export_finance()
            except UserError as error:
                self.fail(f"the monthly export stopped: {error}")
        cod = (
            self.env["logistics.message"]
            .search([("backend_id", "=", self.finance.id), ("operation", "=", "finance_export")])
            .filtered(lambda message: message.payload["kind"] == "cod")
        )
        self.assertEqual(len(cod), 1)

    def test_a_period_goes_twice_once_its_payload_is_purged(self):
        """November's freight went to the finance system (done). After the payload retention
        (90 days), Odoo's purge empties the message's payload, and with it the only record of
        which period and kind it sent: a Manager exporting November again, without *Send
        Again*, is no longer stopped, and the finance system books November's freight a second
        time. A period that went should stay "gone" after the purge.

        Cause: ``_sent_exports`` (logistics_backend_finance_export.py:106-127) finds the
        exports by ``payload->>'period'`` / ``'kind'`` / ``'currency'``, which
        ``_cron_purge_payloads`` sets to NULL."""
        self.shipment([("TRK-PURGE", 7.5, 3.0)])
        self.import_invoices(invoice("INV-PURGE", [charge("TRK-PURGE", "base", 7.5)]))
        (sent,) = self.finance.with_user(self.manager).action_export_finance("2026-11", ["freight"])
        # Delivered, 100 days ago.
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE logistics_message SET state = 'done', create_date = now() - interval '100 days'"
            " WHERE id = %s",
            [sent],
        )
        self.env["logistics.message"].invalidate_model()
        self.env["logistics.message"]._cron_purge_payloads()
        self.assertTrue(self.env["logistics.message"].browse(sent).payload_purged)
        with self.assertRaisesRegex(UserError, "went before"):
            self.finance.with_user(self.manager).action_export_finance("2026-11", ["freight"])

    # --- billing API --------------------------------------------------------------------------
    def test_one_bad_invoice_in_an_api_page_stops_the_carrier_for_good(self):
        """The billing API serves a page with a good invoice and one the parser refuses (a
        charge type it doesn't know, "hazmat_surcharge"; X12 maps unknown codes to "other", the
        API refuses them). The whole page is refused, the fetch message dies and the cursor
        stays: the next night asks for the same page and dies again, for ever. Neither the
        good invoice nor any invoice the carrier issues later is ever imported. The good
        invoices of the page should be imported, the bad one kept (a rejected message, a
        person told) and the cursor moved past it, as a file drop does with a bad file.

        Cause: ``_on_delivered_carrier_invoice_fetch`` (logistics_message.py:22-26 of
        logistics_finance_sync) raises AnswerNotUnderstood on the first invoice
        ``freight_billing.invoices`` refuses (same for remittances in
        logistics_message_cod.py)."""
        api = self.billing.copy(
            {"code": "review17_billing_api", "name": "Billing API", "protocol": "rest"}
        )
        self.shipment([("TRK-API-GOOD", 7.5, 3.0)])

        def api_invoice(ident, number, kind, tracking):
            return {
                "id": ident,
                "object": "Invoice",
                "number": number,
                "issued_on": "2026-11-30",
                "currency": "USD",
                "amount_due": "7.50",
                "carrier": "USPS",
                "credit_of": None,
                "charges": [
                    {
                        "tracking_code": tracking,
                        "reference": None,
                        "type": kind,
                        "amount": "7.50",
                        "billed_weight_oz": None,
                        "service": "Priority",
                        "description": None,
                    }
                ],
            }

        page = {
            "invoices": [
                api_invoice("inv_0001", "FB-2026-000901", "base_rate", "TRK-API-GOOD"),
                api_invoice("inv_0002", "FB-2026-000902", "hazmat_surcharge", "TRK-API-GOOD"),
            ],
            "has_more": False,
        }
        api._import_carrier_invoices()
        fetch = self.env["logistics.message"].search(
            [("backend_id", "=", api.id), ("operation", "=", "carrier_invoice_fetch")]
        )
        try:
            fetch._on_delivered_carrier_invoice_fetch(page)
        except AnswerNotUnderstood as error:
            self.fail(f"the page is refused and will be for ever: {error}")
        stored = self.env["logistics.message"].search(
            [("backend_id", "=", api.id), ("operation", "=", "carrier_invoice")]
        )
        self.assertIn("invoice:FB-2026-000901", stored.mapped("partner_event_id"))
        self.assertEqual(api.freight_invoice_cursor, "inv_0002")

    # --- cash on delivery ---------------------------------------------------------------------
    def test_a_shipment_remitted_twice_is_reconciled_twice(self):
        """The carrier pays one parcel's cash on delivery in two remittances (two numbers: a
        remittance re-issued, or its own double payment). The second line is reconciled like
        the first, no cod_mismatch is raised, and the finance export of the period sends
        294.00 for a 150.00 cash on delivery. The second line should not be reconciled (the
        shipment is remitted already) and a person should be told.

        Cause: ``_judge`` (logistics_cod_reconciliation.py:152-243) compares each line with the
        shipment's full cash on delivery, never with what other remittance lines paid it."""
        shipment = self.shipment([("TRK-COD-TWICE", 7.5, 3.0)], cod_amount=150.0)
        self.import_remittances(
            remittance("REM-TWICE-1", [paid(150.0, 3.0, 147.0, "TRK-COD-TWICE")])
        )
        (second,), _dup = self.import_remittances(
            remittance("REM-TWICE-2", [paid(150.0, 3.0, 147.0, "TRK-COD-TWICE")])
        )
        self.assertEqual(second.line_ids.shipment_id, shipment)
        self.assertNotEqual(second.line_ids.state, "reconciled")
        self.assertTrue(
            self.exceptions("cod_mismatch", shipment_id=shipment.id),
            "nobody is told the carrier paid the parcel twice",
        )

    def test_the_cash_of_a_short_cod_line_is_never_exported(self):
        """A carrier remits 140.00 of a 150.00 cash on delivery (3.00 fee: 7.00 short). The
        line is short, a cod_mismatch tells, and the 140.00 is registered as a payment on the
        customer invoice: the cash is in the books. November's COD export sends nothing for
        the shipment (only reconciled lines go) and no action ever makes a short line
        reconciled: the finance system never hears of cash Odoo booked. What was remitted
        should be exported, its shortage with it.

        Cause: ``_finance_export_lines_cod`` (logistics_backend_finance_export.py:184) keeps
        ``l.state = 'reconciled'`` only."""
        order = self.order()
        self.invoice(order)
        shipment = order.picking_ids.logistics_shipment_ids
        (rem,), _dup = self.import_remittances(
            remittance(
                "REM-SHORT-EXP",
                [paid(150.0, 3.0, 140.0, shipment_ref=shipment.name)],
                remittance_date="2026-11-30",
            )
        )
        self.assertEqual((rem.line_ids.state, rem.line_ids.payment_state), ("short", "posted"))
        self.finance.with_user(self.manager).action_export_finance("2026-11", ["cod"])
        lines = [
            line
            for message in self.env["logistics.message"].search(
                [("backend_id", "=", self.finance.id), ("operation", "=", "finance_export")]
            )
            for line in message.payload["lines"]
            if line["shipment_ref"] == shipment.name
        ]
        self.assertEqual([line["amount"] for line in lines], ["140.00"])

    # --- access -------------------------------------------------------------------------------
    def test_an_accountant_can_not_accept_or_dispute_a_line(self):
        """An accountant (Odoo's Billing group, no Logistics group) works the invoice lines:
        the ACLs give the group write access to them and the dispute wizard, and the views
        show *Accept as Billed* and *Dispute* to it. Both end in an AccessError on
        ``logistics.exception``, a model the Billing group can't read: nothing is accepted
        nor disputed. Both should work for an accountant.

        Cause: ``_close_settled_exceptions`` (logistics_carrier_invoice_line.py:179-192), called
        by ``action_accept`` and by the dispute wizard, reads the lines' exceptions with the
        user's rights."""
        accountant = new_test_user(
            self.env, "review17_accountant", groups="base.group_user,account.group_account_invoice"
        )
        self.shipment([("TRK-ACCT-1", 7.5, 3.0)])
        self.shipment([("TRK-ACCT-2", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-ACCT",
                [charge("TRK-ACCT-1", "base", 9.9), charge("TRK-ACCT-2", "base", 9.9)],
            )
        )
        first, second = bill.line_ids
        self.assertEqual((first.audit_state, second.audit_state), ("mismatch", "mismatch"))
        try:
            first.with_user(accountant).action_accept()
        except AccessError as error:
            self.fail(f"an accountant can't accept a line: {error}")
        wizard = (
            self.env["logistics.freight.dispute.wizard"]
            .with_user(accountant)
            .with_context(active_model=second._name, active_ids=second.ids)
            .create({"note": "Billed over the label's rate"})
        )
        try:
            wizard.action_dispute()
        except AccessError as error:
            self.fail(f"an accountant can't dispute a line: {error}")
        self.assertEqual((first.audit_state, second.audit_state), ("accepted", "disputed"))

    def test_a_read_only_user_runs_the_audit_over_rpc(self):
        """A Logistics User (read-only on carrier invoices: the *Audit Now* button is for
        Managers and Billing) calls ``action_audit`` over RPC: the audit runs as superuser,
        writes the lines' states, raises exceptions, posts freight_reconciled events, sets
        the shipments' actual freight and queues the vendor bills. It should be refused
        (AccessError), as ``action_reconcile`` of remittances is.

        Cause: ``action_audit`` (logistics_carrier_invoice.py:235-238) checks nothing before
        ``_audit`` (which works in sudo)."""
        self.shipment([("TRK-RPC", 7.5, 3.0)])
        stored, _dup = self.billing._store_carrier_invoices(
            [invoice("INV-RPC", [charge("TRK-RPC", "base", 7.5)])], {}, "test"
        )
        self.billing._process_inbound(stored)
        bill = self.env["logistics.carrier.invoice"].search([("message_id", "in", stored.ids)])
        self.assertEqual(bill.audit_state, "to_audit")
        with self.assertRaises(AccessError):
            bill.with_user(self.user).action_audit()

    def test_an_accountant_of_another_company_posts_payments_in_this_one(self):
        """An accountant (Billing group) of another company calls ``action_reconcile`` (or
        ``action_post_payments``) over RPC with the id of this company's remittance, which he
        can't even read: the remittance is reconciled and its payments are registered in this
        company's bank journal, by him. It should be refused (AccessError).

        Cause: ``_check_may_post`` (logistics_cod_remittance.py:217-226) checks the groups
        only, and the work runs in sudo (``self.sudo()``), past the multi-company rule."""
        other = self.env["res.company"].create({"name": "Other Company (review17)"})
        stranger = new_test_user(
            self.env,
            "review17_other_accountant",
            groups="base.group_user,account.group_account_invoice",
            company_id=other.id,
            company_ids=[other.id],
        )
        order = self.order()
        self.invoice(order)
        shipment = order.picking_ids.logistics_shipment_ids
        stored, _dup = self.billing._store_cod_remittances(
            [remittance("REM-OTHER", [paid(150.0, 3.0, 147.0, shipment_ref=shipment.name)])],
            {},
            "test",
        )
        self.billing._process_inbound(stored)
        rem = self.env["logistics.cod.remittance"].search([("message_id", "in", stored.ids)])
        self.assertEqual(rem.state, "to_reconcile")
        with self.assertRaises(AccessError):
            rem.with_user(stranger).with_company(other).action_reconcile()
        self.assertFalse(rem.line_ids.payment_id)
