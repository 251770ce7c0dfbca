import importlib.util
import json
import tempfile
from pathlib import Path

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.modules.module import get_module_path
from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import FreightCase, day

REMITTANCE_DATE = "2026-12-02"


def remittance(number, lines, currency="USD", remittance_date=REMITTANCE_DATE, total=None):
    """A canonical COD remittance document (``adapters``'s contract)."""
    return {
        "remittance_number": number,
        "remittance_date": remittance_date,
        "currency": currency,
        "total": total if total is not None else round(sum(line["remitted"] for line in lines), 2),
        "lines": [
            {"tracking_number": None, "shipment_ref": None, "collected_at": None, **line}
            for line in lines
        ],
    }


def paid(collected, deduction, remitted, tracking_number=None, **values):
    return {
        "tracking_number": tracking_number,
        "collected": collected,
        "deduction": deduction,
        "remitted": remitted,
        **values,
    }


class CodCase(FreightCase):
    """FreightCase with the billing backend's COD settings (bank journal, fee account), a
    product invoiced on order, and orders paid by Odoo's cash on delivery payment method."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.company
        cls.bank = cls.env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1
        )
        cls.fee_account = cls.env["account.account"].create(
            {"name": "COD fees", "code": "629900", "account_type": "expense"}
        )
        cls.billing.write({"cod_journal_id": cls.bank.id, "cod_fee_account_id": cls.fee_account.id})
        cls.cod_provider = cls.env["payment.provider"].search(
            [("custom_mode", "=", "cash_on_delivery"), ("company_id", "=", company.id)], limit=1
        )
        cls.cod_method = cls.env.ref("delivery.payment_method_cash_on_delivery")
        cls.widget = cls.env["product.product"].create(
            {
                "name": "COD Widget",
                "type": "consu",
                "invoice_policy": "order",
                "list_price": 150.0,
                "taxes_id": [Command.clear()],
            }
        )
        cls.Line = cls.env["logistics.cod.remittance.line"]

    @classmethod
    def order(cls, cod=True, price=150.0):
        """A confirmed sale order of one widget at ``price``, paid by cash on delivery when
        ``cod`` (a pending transaction of Odoo's COD provider, as checkout leaves it)."""
        order = cls.env["sale.order"].create(
            {
                "partner_id": cls.person.id,
                "order_line": [
                    Command.create(
                        {"product_id": cls.widget.id, "product_uom_qty": 1, "price_unit": price}
                    )
                ],
            }
        )
        if cod:
            cls.env["payment.transaction"].create(
                {
                    "provider_id": cls.cod_provider.id,
                    "payment_method_id": cls.cod_method.id,
                    "reference": f"COD-{order.name}",
                    "amount": order.amount_total,
                    "currency_id": order.currency_id.id,
                    "partner_id": cls.person.id,
                    "sale_order_ids": [Command.set(order.ids)],
                    "state": "pending",
                }
            )
        order.action_confirm()
        return order

    @staticmethod
    def invoice(order):
        invoice = order._create_invoices()
        invoice.action_post()
        return invoice

    def import_remittances(self, *documents, backend=None):
        """Store the documents as the billing backend's messages, apply them, reconcile them:
        (the remittances, the duplicates' numbers)."""
        backend = backend or self.billing
        stored, duplicates = backend._store_cod_remittances(list(documents), {}, "test")
        if stored:
            backend._process_inbound(stored)
        remittances = self.env["logistics.cod.remittance"].search(
            [("message_id", "in", stored.ids)]
        )
        self.Line._reconcile(remittances)
        return remittances, duplicates

    def committed(self):
        """What a commit does before it commits: the chatter's tracking values."""
        self.env.flush_all()
        self.env.cr.precommit.run()

    def collected(self, shipment, occurred_at, amount, event_id=None, backend=None):
        """The carrier's cod_collected milestone for ``shipment``'s first package."""
        return self.env["logistics.event"]._ingest(
            backend or self.carrier,
            [
                {
                    "type": "cod_collected",
                    "event_id": event_id or f"cod-{shipment.name}",
                    "tracking_number": shipment.package_ids[:1].tracking_number,
                    "occurred_at": occurred_at,
                    "payload": {"amount": amount, "currency": "USD"},
                }
            ],
        )


@tagged("post_install", "-at_install")
class TestCodAmount(CodCase):
    def test_amount_from_an_order_paid_by_cash_on_delivery(self):
        order = self.order()
        shipment = order.picking_ids.logistics_shipment_ids
        self.assertEqual(len(shipment), 1)
        self.assertAlmostEqual(order.amount_total, 150.0)
        self.assertAlmostEqual(shipment.cod_amount, 150.0)
        self.assertEqual(shipment.cod_state, "expected")
        self.assertTrue(
            any(
                f"{order.name} is paid by cash on delivery" in body
                for body in shipment.message_ids.mapped("body")
            )
        )
        prepaid = self.order(cod=False).picking_ids.logistics_shipment_ids
        self.assertEqual(prepaid.cod_amount, 0.0)
        self.assertEqual(prepaid.cod_state, "none")
        cancelled = self.order(cod=False)
        self.env["payment.transaction"].create(
            {
                "provider_id": self.cod_provider.id,
                "payment_method_id": self.cod_method.id,
                "reference": "COD-cancelled",
                "amount": 150.0,
                "currency_id": cancelled.currency_id.id,
                "partner_id": self.person.id,
                "sale_order_ids": [Command.set(cancelled.ids)],
                "state": "cancel",
            }
        )
        self.assertFalse(cancelled._logistics_paid_by_cod())

    def test_set_by_hand_with_an_audit_trail_until_the_label_is_bought(self):
        shipment = self.env["logistics.shipment"].create(
            {"partner_id": self.person.id, "carrier_backend_id": self.carrier.id}
        )
        # Each change as its own request (Odoo's chatter tracks a record's changes at commit,
        # and not those of the transaction that created it).
        self.committed()
        shipment.with_user(self.user).cod_amount = 80.0
        self.committed()
        shipment.with_user(self.manager).cod_amount = 95.5
        self.committed()
        self.assertEqual(shipment.cod_amount, 95.5)
        self.assertEqual(shipment.cod_state, "expected")
        audit = self.env["logistics.audit.log"].search(
            [("model", "=", "logistics.shipment"), ("res_id", "=", shipment.id)], order="id"
        )
        self.assertEqual(
            [(entry.user_id, entry.changes) for entry in audit],
            [
                (self.user, "Cash on Delivery: 0.00 → 80.00 USD"),
                (self.manager, "Cash on Delivery: 80.00 → 95.50 USD"),
            ],
        )
        shipment.invalidate_recordset(["message_ids"])
        tracked = shipment.message_ids.tracking_value_ids.filtered(
            lambda value: value.field_id.name == "cod_amount"
        )
        self.assertEqual(sorted(tracked.mapped("new_value_float")), [80.0, 95.5])
        with self.assertRaises(UserError):
            shipment.with_user(self.manager).cod_amount = -1.0
        with self.assertRaises(AccessError):
            shipment.with_user(self.manager).cod_collected_at = "2026-11-20 10:00:00"
        # The label is bought: the amount went with it.
        self.env["logistics.package"].create(
            {"shipment_id": shipment.id, "name": "PKG-LOCK", "tracking_number": "TRK-LOCK"}
        )
        self.assertTrue(shipment.cod_locked)
        with self.assertRaises(UserError):
            shipment.with_user(self.manager).cod_amount = 50.0
        with self.assertRaises(UserError):
            shipment.sudo().cod_amount = 50.0
        self.assertEqual(shipment.cod_amount, 95.5)
        shipment.with_user(self.manager).cod_amount = 95.5  # the same amount: no change

    def test_cod_collected_is_the_carriers_milestone_and_moves_no_status(self):
        shipment = self.shipment([("TRK-COD", 7.5, 3.0)], cod_amount=150.0)
        self.env["logistics.event"]._ingest(
            self.carrier,
            [
                {
                    "type": "delivered",
                    "event_id": "dlv-1",
                    "tracking_number": "TRK-COD",
                    "occurred_at": "2026-11-20T10:00:00+00:00",
                }
            ],
        )
        self.assertEqual(shipment.status_code, "delivered")
        # Reported by finance, it is not the owner's word: stored, nothing recorded.
        self.collected(shipment, "2026-11-20T10:05:00+00:00", 150.0, "cod-fin", self.billing)
        event = shipment.event_ids.filtered(lambda e: e.source_event_id == "cod-fin")
        self.assertEqual((event.state, event.ignore_reason), ("ignored", "not_owner"))
        self.assertFalse(shipment.cod_collected_at)
        result = self.collected(shipment, "2026-11-20T10:30:00+00:00", 150.0)
        self.assertEqual(result["accepted"], 1)
        event = shipment.event_ids.filtered(lambda e: e.type_id.code == "cod_collected") - event
        self.assertEqual(event.state, "applied")
        self.assertEqual(event.payload["amount"], 150.0)
        self.assertEqual(shipment.status_code, "delivered")
        self.assertEqual(shipment.status_event_id.type_id.code, "delivered")
        self.assertEqual(str(shipment.cod_collected_at), "2026-11-20 10:30:00")
        self.assertAlmostEqual(shipment.cod_collected_amount, 150.0)
        self.assertEqual(shipment.cod_state, "collected")

    def test_the_carrier_reports_cod_collected_as_its_own(self):
        rule = self.env.ref("logistics_integration_base.ownership_rule_cod_collected")
        self.assertEqual(rule.owner_kind, "carrier")
        # A database of 19.0.1.4.0 had it as finance's: the upgrade gives it to the carrier.
        rule.owner_kind = "finance"
        rule.flush_recordset()
        path = Path(get_module_path("logistics_integration_base"))
        spec = importlib.util.spec_from_file_location(
            "post_migrate_cod_owner", path / "migrations/19.0.1.5.0/post-migrate-cod-owner.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.migrate(self.env.cr, "19.0.1.4.0")
        rule.invalidate_recordset()
        self.assertEqual(rule.owner_kind, "carrier")
        # A rule a Manager gave to another owner is his choice: left as it is.
        rule.owner_kind = "odoo"
        rule.flush_recordset()
        module.migrate(self.env.cr, "19.0.1.4.0")
        rule.invalidate_recordset()
        self.assertEqual(rule.owner_kind, "odoo")


@tagged("post_install", "-at_install")
class TestCodRemittances(CodCase):
    def test_short_remittance_raises_cod_mismatch_with_the_figures(self):
        exact = self.shipment([("TRK-EXACT", 7.5, 3.0)], cod_amount=150.0)
        short = self.shipment([("TRK-SHORT", 7.5, 3.0)], cod_amount=150.0)
        under = self.shipment([("TRK-UNDER", 7.5, 3.0)], cod_amount=150.0)
        (rem,), _dup = self.import_remittances(
            remittance(
                "REM-SHORT",
                [
                    paid(150.0, 3.0, 147.0, "TRK-EXACT"),
                    paid(150.0, 3.0, 140.0, "TRK-SHORT"),
                    paid(100.0, 2.0, 98.0, "TRK-UNDER"),
                ],
            )
        )
        lines = {line.shipment_id: line for line in rem.line_ids}
        self.assertEqual(lines[exact].state, "reconciled")
        self.assertEqual((lines[short].state, lines[short].short_amount), ("short", 7.0))
        self.assertEqual((lines[under].state, lines[under].short_amount), ("short", 50.0))
        self.assertEqual(rem.state, "exceptions")
        self.assertAlmostEqual(rem.amount_expected, 450.0)
        self.assertAlmostEqual(rem.amount_short, 57.0)
        self.assertEqual(
            (exact.cod_state, short.cod_state, under.cod_state), ("remitted", "short", "short")
        )
        exception = self.exceptions("cod_mismatch", shipment_id=short.id)
        self.assertEqual(len(exception), 1)
        self.assertEqual(
            exception.name,
            f"REM-SHORT: {short.name} short 7.0 USD (expected 150.0, collected 150.0, "
            "deducted 3.0, remitted 140.0)",
        )
        self.assertIn(
            "Expected | Collected | Deducted | Remitted | Short\n"
            "150.00 | 150.00 | 3.00 | 140.00 | 7.00",
            exception.description,
        )
        self.assertIn("pays 7.0 less than collected minus deducted", exception.description)
        self.assertEqual(lines[short].exception_id, exception)
        self.assertEqual(exception.backend_id, self.carrier)
        under_exception = self.exceptions("cod_mismatch", shipment_id=under.id)
        self.assertIn("collected 50.0 less than the cash on delivery", under_exception.description)
        self.assertFalse(self.exceptions("cod_mismatch", shipment_id=exact.id))

    def test_tolerance_absorbs_a_cent(self):
        self.billing.cod_tolerance = 0.5
        shipment = self.shipment([("TRK-TOL", 7.5, 3.0)], cod_amount=150.0)
        (rem,), _dup = self.import_remittances(
            remittance("REM-TOL", [paid(149.7, 3.0, 146.7, "TRK-TOL")])
        )
        self.assertEqual(rem.line_ids.state, "reconciled")
        self.assertEqual(shipment.cod_state, "remitted")

    def test_unmatched_lines_raise_one_exception_per_remittance(self):
        (rem,), _dup = self.import_remittances(
            remittance(
                "REM-UNK",
                [paid(50.0, 1.0, 49.0, "TRK-NOBODY-1"), paid(20.0, 1.0, 19.0, "TRK-NOBODY-2")],
            )
        )
        self.assertEqual(set(rem.line_ids.mapped("state")), {"unmatched"})
        self.assertEqual(set(rem.line_ids.mapped("payment_state")), {"none"})
        exception = self.exceptions("cod_mismatch")
        self.assertEqual(exception.name, "REM-UNK: 2 COD line(s) match no shipment")
        self.assertIn("- TRK-NOBODY-1: collected 50.00, remitted 49.00", exception.description)
        self.assertEqual(rem.line_ids.exception_id, exception)

    def test_missing_remittance_ages_daily_then_closes_when_paid_late(self):
        collected = self.shipment([("TRK-MISS", 7.5, 3.0)], cod_amount=150.0)
        self.collected(collected, "2026-11-20T10:30:00+00:00", 150.0)
        # Delivered with a cash on delivery, never reported collected: missing all the same.
        delivered = self.shipment(
            [("TRK-DLV", 7.5, 3.0)], cod_amount=60.0, delivered_at="2026-11-19 09:00:00"
        )
        remitted = self.shipment([("TRK-PAID", 7.5, 3.0)], cod_amount=30.0)
        self.collected(remitted, "2026-11-19T10:00:00+00:00", 30.0)
        self.import_remittances(
            remittance(
                "REM-EARLY", [paid(30.0, 1.0, 29.0, "TRK-PAID")], remittance_date="2026-11-22"
            )
        )
        # 7 days after the delivery: not yet; 8 days: missing.
        self.assertEqual(
            self.Line._age_missing_remittances(today=day("2026-11-26")),
            {"missing": 0, "raised": 0},
        )
        self.assertEqual(
            self.Line._age_missing_remittances(today=day("2026-11-27")),
            {"missing": 1, "raised": 1},
        )
        self.assertEqual(
            self.Line._age_missing_remittances(today=day("2026-11-28")),
            {"missing": 2, "raised": 1},
        )
        missing = self.exceptions("cod_mismatch", shipment_id=collected.id)
        self.assertEqual(
            missing.name,
            f"{collected.name}: COD 150.0 USD collected 2026-11-20, no remittance: 8 days",
        )
        self.assertEqual(collected.cod_state, "missing")
        self.assertEqual(remitted.cod_state, "remitted")
        self.assertTrue(
            self.exceptions("cod_mismatch", shipment_id=delivered.id).name.endswith(
                "delivered (cash on delivery) 2026-11-19, no remittance: 9 days"
            )
        )
        # A day later: the same exception, a day older.
        self.assertEqual(
            self.Line._age_missing_remittances(today=day("2026-11-30")),
            {"missing": 2, "raised": 0},
        )
        self.assertEqual(self.exceptions("cod_mismatch", shipment_id=collected.id), missing)
        self.assertTrue(missing.name.endswith("no remittance: 10 days"))
        self.assertEqual(len(self.exceptions("cod_mismatch")), 2)
        # The remittance comes, late.
        (rem,), _dup = self.import_remittances(
            remittance("REM-LATE", [paid(150.0, 3.0, 147.0, "TRK-MISS", collected_at="2026-11-20")])
        )
        line = rem.line_ids
        self.assertEqual((line.state, line.ageing_days, line.late), ("reconciled", 12, True))
        self.assertIn("Remitted 12 days after the collection (2026-11-20): late", line.note)
        self.assertTrue(missing.is_closed)
        self.assertTrue(missing.auto_resolved)
        self.assertIn(
            "Remitted by REM-LATE of 2026-12-02, 12 days after the collection: late",
            missing.resolution_note,
        )
        self.assertEqual(collected.cod_state, "remitted")
        self.assertFalse(collected.cod_overdue)
        self.assertTrue(
            any(f"{collected.name} (12)" in body for body in rem.message_ids.mapped("body"))
        )
        self.assertFalse(self.exceptions("cod_mismatch", shipment_id=delivered.id).is_closed)

    def test_a_second_copy_is_a_duplicate_never_a_second_payment(self):
        self.shipment([("TRK-DUPR", 7.5, 3.0)], cod_amount=50.0)
        document = remittance("REM-DUP", [paid(50.0, 1.0, 49.0, "TRK-DUPR")])
        first, _dup = self.import_remittances(document)
        again, duplicates = self.import_remittances(document)
        self.assertEqual(len(first), 1)
        self.assertFalse(again)
        self.assertEqual(duplicates, ["REM-DUP"])
        other = self.billing.copy({"code": "audit_billing_cod_2", "name": "Remittance files"})
        third, _dup = self.import_remittances(document, backend=other)
        self.assertFalse(third)
        message = self.env["logistics.message"].search(
            [("backend_id", "=", other.id), ("operation", "=", "cod_remittance")]
        )
        self.assertEqual(message.state, "ignored")
        self.assertIn("imported before", message.error)
        self.assertEqual(
            self.env["logistics.cod.remittance"].search_count([("name", "=", "REM-DUP")]), 1
        )
        duplicates = self.exceptions("duplicate_message")
        self.assertEqual(len(duplicates), 2)
        self.assertTrue(all("COD remittance REM-DUP" in x.name for x in duplicates))

    def test_a_cash_on_delivery_remitted_in_two_parts_is_judged_against_what_is_left(self):
        """The carrier collected 100.00 of a 150.00 cash on delivery, then the other 50.00
        (a second remittance): the first line is short, the second is judged against the
        50.00 left (reconciled, not "remitted before"), and the shipment is paid twice in
        part, not twice in full."""
        self.shipment([("TRK-COD-PARTS", 7.5, 3.0)], cod_amount=150.0)
        (first,), _dup = self.import_remittances(
            remittance("REM-PART-1", [paid(100.0, 3.0, 97.0, "TRK-COD-PARTS")])
        )
        (second,), _dup = self.import_remittances(
            remittance("REM-PART-2", [paid(50.0, 0.0, 50.0, "TRK-COD-PARTS")])
        )
        self.assertEqual(first.line_ids.state, "short")
        self.assertEqual((second.line_ids.state, second.line_ids.expected), ("reconciled", 50.0))
        (third,), _dup = self.import_remittances(
            remittance("REM-PART-3", [paid(50.0, 0.0, 50.0, "TRK-COD-PARTS")])
        )
        self.assertEqual(
            (third.line_ids.state, third.line_ids.payment_state, third.state),
            ("remitted_before", "none", "exceptions"),
        )

    def test_a_remittance_the_api_parser_refuses_is_kept_and_the_page_goes_on(self):
        """A remittance of a page that the parser refuses (an amount that is no money string)
        is kept as a rejected message with the reason; the page's others are imported and
        the cursor moves past it (asking again would be refused for ever)."""
        api = self.billing.copy(
            {"code": "audit_billing_api_bad", "name": "Billing API", "protocol": "rest"}
        )

        def api_remittance(ident, number, remitted):
            return {
                "id": ident,
                "object": "Remittance",
                "number": number,
                "paid_on": REMITTANCE_DATE,
                "currency": "USD",
                "amount_paid": remitted,
                "items": [
                    {
                        "tracking_code": "TRK-API-BAD",
                        "reference": None,
                        "collected": "150.00",
                        "fee": "3.00",
                        "remitted": remitted,
                        "collected_on": None,
                    }
                ],
            }

        page = {
            "remittances": [
                api_remittance("rem_0001", "RM-2026-000901", "147.00"),
                api_remittance("rem_0002", "RM-2026-000902", "147,00"),
            ],
            "has_more": False,
        }
        api._import_cod_remittances()
        fetch = self.env["logistics.message"].search(
            [("backend_id", "=", api.id), ("operation", "=", "cod_remittance_fetch")]
        )
        fetch._on_delivered_cod_remittance_fetch(page)
        self.assertEqual(api.cod_remittance_cursor, "rem_0002")
        messages = self.env["logistics.message"].search(
            [("backend_id", "=", api.id), ("operation", "=", "cod_remittance")]
        )
        stored = messages.filtered(lambda message: message.state != "rejected")
        rejected = messages - stored
        self.assertEqual(stored.partner_event_id, "remittance:RM-2026-000901")
        self.assertEqual(len(rejected), 1)
        self.assertIn("remittance 2 (RM-2026-000902)", rejected.error)
        self.assertEqual(json.loads(rejected.request_body)["id"], "rem_0002")

    def test_remittances_from_the_billing_api_move_the_cursor(self):
        api = self.billing.copy(
            {"code": "audit_billing_api", "name": "Billing API", "protocol": "rest"}
        )
        shipment = self.shipment([("TRK-API", 7.5, 3.0)], cod_amount=150.0)
        page = {
            "remittances": [
                {
                    "id": "rem_0001",
                    "object": "Remittance",
                    "number": "RM-2026-000045",
                    "paid_on": REMITTANCE_DATE,
                    "currency": "USD",
                    "amount_paid": "147.00",
                    "items": [
                        {
                            "tracking_code": "TRK-API",
                            "reference": None,
                            "collected": "150.00",
                            "fee": "3.00",
                            "remitted": "147.00",
                            "collected_on": "2026-11-28",
                        }
                    ],
                }
            ],
            "has_more": False,
        }
        api._import_cod_remittances()
        fetch = self.env["logistics.message"].search(
            [("backend_id", "=", api.id), ("operation", "=", "cod_remittance_fetch")]
        )
        self.assertEqual(fetch.endpoint, "/v1/remittances?after=&limit=100")
        fetch._on_delivered_cod_remittance_fetch(page)
        self.assertEqual(api.cod_remittance_cursor, "rem_0001")
        stored = self.env["logistics.message"].search(
            [("backend_id", "=", api.id), ("operation", "=", "cod_remittance")]
        )
        self.assertEqual(stored.partner_event_id, "remittance:RM-2026-000045")
        self.assertEqual(json.loads(stored.request_body)["id"], "rem_0001")
        api._process_inbound(stored)
        rem = self.env["logistics.cod.remittance"].search([("message_id", "=", stored.id)])
        self.Line._reconcile(rem)
        self.assertEqual(rem.line_ids.shipment_id, shipment)
        self.assertEqual(rem.line_ids.collected_at, day("2026-11-28"))
        self.assertEqual((rem.line_ids.state, rem.line_ids.ageing_days), ("reconciled", 4))

    def test_remittance_files_share_the_invoice_drop_directory(self):
        shipment = self.shipment([("TRK-FILE", 7.5, 3.0)], cod_amount=40.0)
        with tempfile.TemporaryDirectory() as directory:
            inbound = Path(directory, "inbound")
            inbound.mkdir()
            (inbound / "remittance-2026-12-02.csv").write_text(
                "remittance_number,remittance_date,currency,remittance_total,tracking_number,"
                "collected,deduction,remitted\n"
                "REM-FILE,2026-12-02,USD,39.00,TRK-FILE,40.00,1.00,39.00\n"
            )
            (inbound / "remittance-bad.csv").write_text("remittance_number\nREM-BAD\n")
            self.billing.freight_drop_dir = directory
            with trap_jobs():
                self.assertEqual(self.billing._import_invoice_files(), [])
                names = self.billing._import_remittance_files()
        self.assertEqual(names, ["remittance-2026-12-02.csv", "remittance-bad.csv"])
        messages = self.env["logistics.message"].search(
            [("backend_id", "=", self.billing.id), ("operation", "=", "cod_remittance")]
        )
        rejected = messages.filtered(lambda message: message.state == "rejected")
        self.assertIn("remittance-bad.csv: line 1: missing column(s)", rejected.error)
        stored = messages - rejected
        self.billing._process_inbound(stored)
        rem = self.env["logistics.cod.remittance"].search([("message_id", "=", stored.id)])
        self.Line._reconcile(rem)
        self.assertEqual(rem.line_ids.shipment_id, shipment)
        self.assertEqual(rem.state, "reconciled")


@tagged("post_install", "-at_install")
class TestCodPayments(CodCase):
    def test_the_payment_settles_the_customer_invoice_with_the_fee_written_off(self):
        order = self.order()
        invoice = self.invoice(order)
        shipment = order.picking_ids.logistics_shipment_ids
        (rem,), _dup = self.import_remittances(
            remittance("REM-PAY", [paid(150.0, 3.0, 147.0, shipment_ref=shipment.name)])
        )
        line = rem.line_ids
        self.assertEqual((line.state, line.payment_state), ("reconciled", "posted"))
        payment = line.payment_id
        self.assertIn(payment.state, ("in_process", "paid"))
        self.assertAlmostEqual(payment.amount, 147.0)
        self.assertEqual(payment.journal_id, self.bank)
        self.assertEqual(str(payment.date), REMITTANCE_DATE)
        self.assertAlmostEqual(invoice.amount_residual, 0.0)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        fee = payment.move_id.line_ids.filtered(lambda aml: aml.account_id == self.fee_account)
        self.assertAlmostEqual(fee.balance, 3.0)
        self.assertIn("COD fee 3.0 written off", line.payment_note)
        self.assertEqual(rem.payment_ids, payment)

    def test_a_short_line_pays_what_came_and_leaves_the_rest_open(self):
        order = self.order()
        invoice = self.invoice(order)
        shipment = order.picking_ids.logistics_shipment_ids
        (rem,), _dup = self.import_remittances(
            remittance("REM-PART", [paid(150.0, 3.0, 140.0, shipment_ref=shipment.name)])
        )
        self.assertEqual((rem.line_ids.state, rem.line_ids.payment_state), ("short", "posted"))
        self.assertAlmostEqual(invoice.amount_residual, 10.0)
        self.assertEqual(invoice.payment_state, "partial")
        self.assertFalse(
            rem.line_ids.payment_id.move_id.line_ids.filtered(
                lambda aml: aml.account_id == self.fee_account
            )
        )

    def test_an_order_without_a_posted_invoice_waits_and_a_person_is_told(self):
        order = self.order()
        shipment = order.picking_ids.logistics_shipment_ids
        (rem,), _dup = self.import_remittances(
            remittance("REM-WAIT", [paid(150.0, 3.0, 147.0, shipment_ref=shipment.name)])
        )
        line = rem.line_ids
        self.assertEqual((line.state, line.payment_state), ("reconciled", "waiting"))
        self.assertFalse(line.payment_id)
        self.assertFalse(self.env["account.payment"].search([("memo", "ilike", "REM-WAIT")]))
        activity = order.activity_ids.filtered(lambda a: "COD REM-WAIT" in (a.summary or ""))
        self.assertEqual(len(activity), 1)
        # Told once: the daily batch finds it still waiting.
        self.assertEqual(self.Line._post_waiting_payments(), 0)
        self.assertEqual(
            len(order.activity_ids.filtered(lambda a: a.summary == activity.summary)), 1
        )
        # The invoice is posted: the waiting payment is registered by a job.
        with trap_jobs() as trap:
            invoice = self.invoice(order)
            trap.assert_jobs_count(1, only=self.Line._post_waiting_payments)
            trap.perform_enqueued_jobs()
        self.assertEqual(line.payment_state, "posted")
        self.assertAlmostEqual(invoice.amount_residual, 0.0)

    def test_no_bank_journal_no_payment(self):
        self.billing.cod_journal_id = False
        order = self.order()
        self.invoice(order)
        shipment = order.picking_ids.logistics_shipment_ids
        (rem,), _dup = self.import_remittances(
            remittance("REM-NOJ", [paid(150.0, 3.0, 147.0, shipment_ref=shipment.name)])
        )
        self.assertEqual(rem.line_ids.payment_state, "to_post")
        self.assertIn("has no COD Bank Journal", rem.line_ids.payment_note)
        self.billing.cod_journal_id = self.bank
        rem.with_user(self.manager).action_post_payments()
        self.assertEqual(rem.line_ids.payment_state, "posted")
        with self.assertRaises(AccessError):
            rem.with_user(self.user).action_post_payments()
