from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import charge, invoice
from .test_cod import CodCase, paid, remittance


@tagged("post_install", "-at_install")
class TestFinanceExport(CodCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.finance = cls.env["logistics.backend"].create(
            {
                "name": "Finance system",
                "code": "export_finance",
                "kind": "finance",
                "adapter": "finance_export",
                "protocol": "rest",
                "base_url": "http://127.0.0.1:9",
                "auth_type": "bearer",
            }
        )

    def exports(self):
        return self.env["logistics.message"].search(
            [("backend_id", "=", self.finance.id), ("operation", "=", "finance_export")],
            order="id",
        )

    def test_a_period_of_reconciled_freight_and_cod_goes_once_through_the_pipeline(self):
        first = self.shipment([("TRK-EX-1", 7.5, 3.0)], cod_amount=150.0)
        second = self.shipment([("TRK-EX-2", 12.0, 3.0)])
        self.import_invoices(
            invoice(
                "INV-EX",
                [
                    charge("TRK-EX-1", "base", 7.0),
                    charge("TRK-EX-1", "fuel", 0.5),
                    charge("TRK-EX-2", "base", 30.0),  # a mismatch: not exported
                ],
            )
        )
        self.import_remittances(
            remittance(
                "REM-EX", [paid(150.0, 3.0, 147.0, "TRK-EX-1")], remittance_date="2026-11-30"
            )
        )
        ids = self.finance.with_user(self.manager).action_export_finance("2026-11")
        freight, cod = self.exports()
        self.assertEqual(sorted(ids), [freight.id, cod.id])
        self.assertEqual(
            (freight.state, freight.direction, freight.endpoint),
            ("queued", "outbound", "/v1/exports"),
        )
        self.assertEqual(
            freight.payload,
            {
                "period": "2026-11",
                "kind": "freight",
                "company": self.env.company.name,
                "currency": "USD",
                "lines": [
                    {
                        "carrier": "Audit Carrier",
                        "shipment_ref": first.name,
                        "tracking_number": "TRK-EX-1",
                        "amount": "7.50",
                        "account": None,
                    }
                ],
            },
        )
        self.assertNotIn(second.name, str(freight.payload))
        self.assertEqual(cod.payload["kind"], "cod")
        self.assertEqual(
            cod.payload["lines"][0],
            {
                "carrier": "Audit Carrier",
                "shipment_ref": first.name,
                "tracking_number": "TRK-EX-1",
                "amount": "147.00",
                "collected": "150.00",
                "deduction": "3.00",
                "short": "0.00",
                "account": None,
            },
        )
        # Once: the same period again is refused, unless sent again as a correction.
        with self.assertRaisesRegex(UserError, "went before"):
            self.finance.with_user(self.manager).action_export_finance("2026-11", ["freight"])
        self.finance.with_user(self.manager).action_export_finance(
            "2026-11", ["freight"], again=True
        )
        self.assertEqual(len(self.exports()), 3)
        # Nothing in October: nothing sent.
        self.assertFalse(self.finance.with_user(self.manager).action_export_finance("2026-10"))

    def test_only_a_manager_exports_and_a_period_is_a_month(self):
        with self.assertRaises(AccessError):
            self.finance.with_user(self.user).action_export_finance("2026-11")
        with self.assertRaisesRegex(UserError, "A period is a month"):
            self.finance.with_user(self.manager).action_export_finance("November")

    def test_the_lines_of_an_export_that_died_go_with_the_next_one(self):
        """An export the finance system never took (its message dead) sent nothing: the period
        may go again without *Send Again*, and its lines with it; once that one went, they
        don't go a third time with the next period."""
        shipment = self.shipment([("TRK-EX-DEAD", 7.5, 3.0)])
        self.import_invoices(invoice("INV-EX-DEAD", [charge("TRK-EX-DEAD", "base", 7.5)]))
        (first,) = self.finance.with_user(self.manager).action_export_finance(
            "2026-11", ["freight"]
        )
        self.env["logistics.message"].browse(first)._set_state("dead", error="422")
        (second,) = self.finance.with_user(self.manager).action_export_finance(
            "2026-11", ["freight"]
        )
        sent = self.env["logistics.message"].browse(second)
        self.assertEqual(
            [(line["shipment_ref"], line["amount"]) for line in sent.payload["lines"]],
            [(shipment.name, "7.50")],
        )
        export = self.env["logistics.finance.export"].search([("message_id", "=", second)])
        self.assertEqual(
            (export.period, export.kind, export.currency_id.name), ("2026-11", "freight", "USD")
        )
        self.assertFalse(
            self.finance.with_user(self.manager).action_export_finance("2026-12", ["freight"])
        )
