from odoo.tests import tagged

from .common import FreightCase, charge, invoice, moment


@tagged("post_install", "-at_install")
class TestFreightAudit(FreightCase):
    def test_within_tolerance_is_reconciled_with_event_and_actual_freight(self):
        shipment = self.shipment([("TRK-OK", 7.50, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice("INV-OK", [charge("TRK-OK", "base", 6.90), charge("TRK-OK", "fuel", 0.80)])
        )
        self.assertEqual(bill.audit_state, "reconciled")
        self.assertEqual(set(bill.line_ids.mapped("audit_state")), {"reconciled"})
        base = bill.line_ids.filtered(lambda line: line.charge_code == "base")
        self.assertEqual(base.package_id, shipment.package_ids)
        self.assertAlmostEqual(base.expected_amount, 7.50)
        self.assertAlmostEqual(base.variance, 0.20)
        self.assertAlmostEqual(bill.amount_variance, 0.20)
        self.assertAlmostEqual(shipment.freight_actual, 7.70)
        event = shipment.event_ids.filtered(lambda e: e.type_id.code == "freight_reconciled")
        self.assertEqual(len(event), 1)
        self.assertEqual(event.payload["invoice"], "INV-OK")
        self.assertFalse(self.exceptions("freight_mismatch"))

    def test_overcharge_outside_tolerance_raises_mismatch_with_expected_and_billed(self):
        shipment = self.shipment([("TRK-OVER", 7.50, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-OVER", [charge("TRK-OVER", "base", 9.10), charge("TRK-OVER", "fuel", 0.80)]
            )
        )
        self.assertEqual(bill.audit_state, "exceptions")
        self.assertEqual(set(bill.line_ids.mapped("audit_state")), {"mismatch"})
        exception = self.exceptions("freight_mismatch", shipment_id=shipment.id)
        self.assertEqual(len(exception), 1)
        self.assertIn("billed 9.9, expected 7.5 USD", exception.name)
        self.assertIn("Freight billed 9.9 against the label's rate 7.5", exception.description)
        self.assertIn("variance 2.4, tolerance 0.5", exception.description)
        self.assertIn("declared 3.00 kg", exception.description)
        self.assertEqual(bill.line_ids.exception_id, exception)
        self.assertFalse(
            shipment.event_ids.filtered(lambda e: e.type_id.code == "freight_reconciled")
        )
        self.assertFalse(shipment.freight_actual)

    def test_percentage_tolerance_wins_when_larger(self):
        self.env.ref("logistics_finance_sync.freight_tolerance_freight").tolerance_percent = 10
        self.shipment([("TRK-PCT", 50.0, 3.0)])
        (bill,), _dup = self.import_invoices(invoice("INV-PCT", [charge("TRK-PCT", "base", 54.0)]))
        self.assertEqual(bill.audit_state, "reconciled")  # 4.00 <= 10 % of 50

    def test_carrier_rule_wins_over_every_carrier_rule(self):
        self.env["logistics.freight.tolerance"].create(
            {"carrier_backend_id": self.carrier.id, "code": "freight", "tolerance_amount": 5.0}
        )
        self.shipment([("TRK-RULE", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice("INV-RULE", [charge("TRK-RULE", "base", 11.0)])
        )
        self.assertEqual(bill.audit_state, "reconciled")

    def test_residential_surcharge_on_a_commercial_address_is_a_mismatch(self):
        business = self.shipment([("TRK-BIZ", 7.5, 3.0)], partner=self.business)
        home = self.shipment([("TRK-HOME", 7.5, 3.0)], partner=self.person)
        contact = self.env["res.partner"].create(
            {"name": "Ann at ACME", "parent_id": self.business.id}
        )
        self.shipment([("TRK-CONTACT", 7.5, 3.0)], partner=contact)
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-RES",
                [
                    charge("TRK-BIZ", "base", 7.5),
                    charge("TRK-BIZ", "residential", 5.10),
                    charge("TRK-HOME", "base", 7.5),
                    charge("TRK-HOME", "residential", 5.10),
                    charge("TRK-CONTACT", "base", 7.5),
                    charge("TRK-CONTACT", "residential", 5.10),
                ],
            )
        )
        lines = {(line.tracking_number, line.charge_code): line for line in bill.line_ids}
        self.assertEqual(lines["TRK-BIZ", "residential"].audit_state, "mismatch")
        self.assertEqual(lines["TRK-BIZ", "residential"].expected_amount, 0.0)
        self.assertIn("ACME Corp is a company", lines["TRK-BIZ", "residential"].audit_note)
        self.assertEqual(lines["TRK-BIZ", "base"].audit_state, "reconciled")
        self.assertEqual(lines["TRK-HOME", "residential"].audit_state, "reconciled")
        # A contact of a company delivers to the company's (commercial) address too.
        self.assertEqual(lines["TRK-CONTACT", "residential"].audit_state, "mismatch")
        exception = self.exceptions("freight_mismatch", shipment_id=business.id)
        self.assertIn("Residential Surcharge | PKG-", exception.description)
        self.assertIn("| 5.10 | 0.00 | +5.10 | mismatch", exception.description)
        # One reconciled line of a shipment with a mismatch: no freight_reconciled for it.
        reconciled = self.env["logistics.event"].search(
            [("type_id.code", "=", "freight_reconciled")]
        )
        self.assertEqual(reconciled.shipment_id, home)

    def test_reweigh_is_judged_against_the_declared_weight(self):
        self.shipment([("TRK-HEAVY", 7.5, 3.0)])
        self.shipment([("TRK-SAME", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-RWT",
                [
                    charge("TRK-HEAVY", "base", 7.5),
                    charge("TRK-HEAVY", "reweigh", 3.75, billed_weight=9.92, weight_unit="lb"),
                    charge("TRK-SAME", "base", 7.5),
                    charge("TRK-SAME", "reweigh", 1.0, billed_weight=3.1, weight_unit="kg"),
                ],
            )
        )
        lines = {(line.tracking_number, line.charge_code): line for line in bill.line_ids}
        heavy = lines["TRK-HEAVY", "reweigh"]
        self.assertAlmostEqual(heavy.billed_weight_kg, 4.4996, places=3)
        self.assertEqual(heavy.audit_state, "reconciled")
        self.assertIn("over the declared 3.00 kg", heavy.audit_note)
        same = lines["TRK-SAME", "reweigh"]
        self.assertEqual(same.audit_state, "mismatch")
        self.assertIn("reweigh is not justified", same.audit_note)

    def test_address_correction_needs_a_person_with_the_tracking_events(self):
        shipment = self.shipment([("TRK-ADC", 7.5, 3.0)])
        self.env["logistics.event"]._ingest(
            self.carrier,
            [
                {
                    "type": "exception",
                    "event_id": "adc-1",
                    "tracking_number": "TRK-ADC",
                    "occurred_at": "2026-11-28T10:00:00+00:00",
                    "payload": {"message": "Address corrected by driver"},
                }
            ],
        )
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-ADC",
                [charge("TRK-ADC", "base", 7.5), charge("TRK-ADC", "address_correction", 18.0)],
            )
        )
        line = bill.line_ids.filtered(lambda line: line.charge_code == "address_correction")
        self.assertEqual(line.audit_state, "mismatch")
        exception = self.exceptions("freight_mismatch", shipment_id=shipment.id)
        self.assertIn("Tracking events (newest first):", exception.description)
        self.assertIn("2026-11-28 10:00", exception.description)

    def test_late_delivery_on_a_guaranteed_service_expects_no_freight(self):
        self.shipment(
            [("TRK-LATE", 30.0, 1.0, "Express")],
            promised_date=moment("2026-11-27 18:00:00"),
            delivered_at=moment("2026-11-29 10:00:00"),
        )
        self.shipment(
            [("TRK-ONTIME", 30.0, 1.0, "Express")],
            promised_date=moment("2026-11-27 18:00:00"),
            delivered_at=moment("2026-11-27 10:00:00"),
        )
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-GTD", [charge("TRK-LATE", "base", 30.0), charge("TRK-ONTIME", "base", 30.0)]
            )
        )
        late, on_time = bill.line_ids
        self.assertEqual(late.audit_state, "mismatch")
        self.assertEqual(late.expected_amount, 0.0)
        self.assertIn("Late delivery on a guaranteed service (Express)", late.audit_note)
        self.assertEqual(on_time.audit_state, "reconciled")

    def test_unmatched_lines_raise_one_exception_per_invoice(self):
        self.shipment([("TRK-KNOWN", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-UNK",
                [
                    charge("TRK-KNOWN", "base", 7.5),
                    charge("TRK-NOBODY-1", "base", 12.0),
                    charge("TRK-NOBODY-2", "base", 3.0),
                ],
            )
        )
        unmatched = bill.line_ids.filtered(lambda line: line.audit_state == "unmatched")
        self.assertEqual(unmatched.mapped("tracking_number"), ["TRK-NOBODY-1", "TRK-NOBODY-2"])
        exception = self.exceptions("freight_unmatched")
        self.assertEqual(len(exception), 1)
        self.assertEqual(exception.name, "INV-UNK: 2 line(s) match no shipment")
        self.assertIn("- TRK-NOBODY-1: base 12.00", exception.description)
        self.assertEqual(bill.audit_state, "exceptions")

    def test_line_by_shipment_reference_matches_its_only_package(self):
        shipment = self.shipment([("TRK-REF", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-REF", [{"shipment_ref": shipment.name, "charge_code": "base", "amount": 7.5}]
            )
        )
        self.assertEqual(bill.line_ids.package_id, shipment.package_ids)
        self.assertEqual(bill.audit_state, "reconciled")

    def test_rate_in_another_currency_is_converted_at_the_invoice_date(self):
        self.env["res.currency.rate"].create(
            {"name": "2026-11-01", "rate": 0.5, "currency_id": self.eur.id}
        )
        self.shipment([("TRK-EUR", 10.0, 3.0)], currency=self.eur)  # 10 EUR = 20 USD
        (bill,), _dup = self.import_invoices(invoice("INV-EUR", [charge("TRK-EUR", "base", 20.0)]))
        self.assertAlmostEqual(bill.line_ids.expected_amount, 20.0)
        self.assertEqual(bill.audit_state, "reconciled")

    def test_parcel_without_a_label_rate_is_a_mismatch(self):
        shipment = self.shipment([("TRK-NORATE", 0.0, 3.0)])
        shipment.package_ids.rate_currency_id = False
        (bill,), _dup = self.import_invoices(
            invoice("INV-NORATE", [charge("TRK-NORATE", "base", 9.0)])
        )
        self.assertEqual(bill.line_ids.audit_state, "mismatch")
        self.assertIn("No label rate is recorded", bill.line_ids.audit_note)


@tagged("post_install", "-at_install")
class TestDuplicatesAndDisputes(FreightCase):
    def test_a_second_copy_is_a_duplicate_never_a_second_bill(self):
        self.shipment([("TRK-DUP", 7.5, 3.0)])
        document = invoice("INV-DUP", [charge("TRK-DUP", "base", 7.5)])
        first, _dup = self.import_invoices(document)
        again, duplicates = self.import_invoices(document)
        self.assertEqual(len(first), 1)
        self.assertFalse(again)
        self.assertEqual(duplicates, ["INV-DUP"])
        # By another path (a second billing backend of the same carrier): refused too.
        other = self.billing.copy({"code": "audit_billing_2", "name": "Billing files"})
        third, _dup = self.import_invoices(document, backend=other)
        self.assertFalse(third)
        message = self.env["logistics.message"].search(
            [("backend_id", "=", other.id), ("operation", "=", "carrier_invoice")]
        )
        self.assertEqual(message.state, "ignored")
        self.assertIn("imported before", message.error)
        self.assertEqual(
            self.env["logistics.carrier.invoice"].search_count([("name", "=", "INV-DUP")]), 1
        )
        duplicates = self.exceptions("duplicate_message")
        self.assertEqual(len(duplicates), 2)  # one per backend that received a copy
        self.assertTrue(all("INV-DUP" in exception.name for exception in duplicates))
        # A third copy on the first backend counts as an occurrence of its exception.
        self.import_invoices(document)
        first_path = duplicates.filtered(lambda exception: exception.backend_id == self.billing)
        self.assertEqual(first_path.occurrence_count, 2)

    def test_dispute_then_credit_note_closes_it(self):
        shipment = self.shipment([("TRK-DSP", 7.5, 3.0)], partner=self.business)
        (bill,), _dup = self.import_invoices(
            invoice(
                "INV-DSP", [charge("TRK-DSP", "base", 7.5), charge("TRK-DSP", "residential", 5.1)]
            )
        )
        residential = bill.line_ids.filtered(lambda line: line.charge_code == "residential")
        wizard = (
            self.env["logistics.freight.dispute.wizard"]
            .with_user(self.manager)
            .with_context(active_model=residential._name, active_ids=residential.ids)
            .create({"note": "Commercial address: no residential surcharge"})
        )
        self.assertAlmostEqual(wizard.credit, 5.1)
        wizard.action_dispute()
        self.assertEqual(residential.audit_state, "disputed")
        self.assertEqual(bill.audit_state, "disputed")
        self.assertAlmostEqual(bill.amount_disputed, 5.1)
        self.assertTrue(self.exceptions("freight_mismatch").is_closed)
        (credit,), _dup = self.import_invoices(
            invoice("CR-DSP", [charge("TRK-DSP", "residential", -5.1)], credit_of="INV-DSP")
        )
        self.assertEqual(credit.credit_of_id, bill)
        self.assertEqual(residential.audit_state, "credited")
        self.assertAlmostEqual(residential.credited_amount, 5.1)
        self.assertEqual(bill.audit_state, "reconciled")
        self.assertAlmostEqual(shipment.freight_actual, 7.5)

    def test_accept_a_mismatch_as_billed(self):
        self.shipment([("TRK-ACC", 7.5, 3.0)])
        (bill,), _dup = self.import_invoices(invoice("INV-ACC", [charge("TRK-ACC", "base", 9.0)]))
        bill.line_ids.with_user(self.manager).action_accept()
        self.assertEqual(bill.line_ids.audit_state, "accepted")
        self.assertEqual(bill.audit_state, "reconciled")
        self.assertTrue(self.exceptions("freight_mismatch").is_closed)


@tagged("post_install", "-at_install")
class TestAuditNotification(FreightCase):
    def test_the_finance_team_is_told_once_per_audit(self):
        team = self.env.ref("logistics_integration_base.team_finance")
        team.member_ids = self.manager
        for n in range(3):
            self.shipment([(f"TRK-NOTE-{n}", 7.5, 3.0)])
        self.import_invoices(
            invoice("INV-NOTE", [charge(f"TRK-NOTE-{n}", "base", 12.0) for n in range(3)])
        )
        exceptions = self.exceptions("freight_mismatch")
        self.assertEqual(len(exceptions), 3)
        told = self.env["mail.message"].search(
            [
                ("model", "=", "logistics.exception"),
                ("res_id", "in", exceptions.ids),
                ("partner_ids", "in", self.manager.partner_id.ids),
            ]
        )
        self.assertEqual(len(told), 1)
        self.assertIn("Freight audit: 3 exception(s) to work", told.body)
