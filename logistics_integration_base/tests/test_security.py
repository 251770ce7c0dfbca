import psycopg2

from odoo.exceptions import AccessError
from odoo.tools import mute_logger

from .common import LogisticsCase


class TestGroups(LogisticsCase):
    def test_user_works_shipments_and_exceptions_but_not_configuration(self):
        Shipment = self.env["logistics.shipment"].with_user(self.user)
        self.assertEqual(Shipment.search([("id", "=", self.shipment.id)]), self.shipment)
        Shipment.browse(self.shipment.id).promised_date = "2026-02-01 12:00:00"
        exception = (
            self.env["logistics.exception"]
            .with_user(self.user)
            ._raise(
                "stock_mismatch",
                [{"name": "Counted 3, WMS says 4", "shipment_id": self.shipment.id}],
            )
        )
        exception.user_id = self.user
        with self.assertRaises(AccessError):
            self.env["logistics.backend"].with_user(self.user).create(
                {"name": "Rogue", "code": "rogue", "kind": "wms"}
            )
        with self.assertRaises(AccessError):
            self.wms.with_user(self.user).write({"base_url": "https://evil.example"})
        with self.assertRaises(AccessError):
            self.env["logistics.ownership.rule"].with_user(self.user).search([]).unlink()
        with self.assertRaises(AccessError):
            self.env["logistics.audit.log"].with_user(self.user).search([])
        with self.assertRaises(AccessError):
            exception.with_user(self.user).unlink()

    def test_manager_configures(self):
        backend = (
            self.env["logistics.backend"]
            .with_user(self.manager)
            .create({"name": "New Carrier", "code": "new_carrier", "kind": "carrier"})
        )
        backend.base_url = "https://api.carrier.example"
        rule = self.env.ref("logistics_integration_base.ownership_rule_shipped")
        rule.with_user(self.manager).owner_kind = "carrier"
        logs = (
            self.env["logistics.audit.log"]
            .with_user(self.manager)
            .search([("user_id", "=", self.manager.id)])
        )
        self.assertEqual(sorted(logs.mapped("action")), ["create", "write", "write"])
        change = logs.filtered(lambda log: log.model == "logistics.ownership.rule")
        self.assertIn("Owner Kind: WMS / 3PL → Carrier", change.changes)
        backend.with_user(self.manager).unlink()

    def test_auditor_reads_everything_changes_nothing(self):
        self.wms.api_key = "audited"
        Audit = self.env["logistics.audit.log"].with_user(self.auditor)
        self.assertTrue(Audit.search([("res_id", "=", self.wms.id)]))
        self.assertTrue(self.env["logistics.shipment"].with_user(self.auditor).search([]))
        with self.assertRaises(AccessError):
            self.shipment.with_user(self.auditor).promised_date = "2026-02-01 12:00:00"
        with self.assertRaises(AccessError):
            self.env["logistics.exception"].with_user(self.auditor).create(
                {
                    "name": "x",
                    "type_id": self.env.ref(
                        "logistics_integration_base.exception_type_stock_mismatch"
                    ).id,
                }
            )
        with self.assertRaises(AccessError):
            self.wms.with_user(self.auditor).name = "Renamed"

    def test_audit_log_is_append_only_for_everyone(self):
        self.wms.with_user(self.manager).name = "Renamed WMS"
        log = self.env["logistics.audit.log"].search([("res_id", "=", self.wms.id)], limit=1)
        for user in (self.manager, self.env.ref("base.user_admin")):
            with self.assertRaises(AccessError):
                log.with_user(user).write({"summary": "nothing happened"})
            with self.assertRaises(AccessError):
                log.with_user(user).unlink()
            with self.assertRaises(AccessError):
                self.env["logistics.audit.log"].with_user(user).create(
                    {"action": "write", "model": "x", "user_id": user.id}
                )


class TestMultiCompany(LogisticsCase):
    def test_company_a_cannot_see_company_b(self):
        company_b = self.env["res.company"].create({"name": "Company B Logistics"})
        self.env["stock.warehouse"].search([("company_id", "=", company_b.id)])  # created by stock
        sale_b = self.create_sale_order(company=company_b)
        shipment_b = sale_b.picking_ids.logistics_shipment_ids
        self.assertEqual(shipment_b.company_id, company_b)
        # A backend code names one backend whatever the company: B can't shadow A's webhook
        # URL (/logistics/webhook/t_wms) with a backend of the same code.
        with self.assertRaises(psycopg2.errors.UniqueViolation), mute_logger("odoo.sql_db"):
            with self.env.cr.savepoint():
                self.env["logistics.backend"].create(
                    {"name": "B's WMS", "code": "t_wms", "kind": "wms", "company_id": company_b.id}
                )
        backend_b = self.env["logistics.backend"].create(
            {"name": "B's WMS", "code": "t_wms_b", "kind": "wms", "company_id": company_b.id}
        )
        # A user of company A only.
        Shipment = self.env["logistics.shipment"].with_user(self.user)
        self.assertIn(self.shipment, Shipment.search([]))
        self.assertNotIn(shipment_b, Shipment.search([]))
        with self.assertRaises(AccessError):
            shipment_b.with_user(self.user).read(["name"])
        self.assertNotIn(backend_b, self.env["logistics.backend"].with_user(self.user).search([]))
        # A's backend can't reach B's shipments.
        result = (
            self.env["logistics.event"]
            .with_user(self.user)
            .ingest_events(
                "t_wms",
                [
                    {
                        "type": "picked",
                        "occurred_at": "2026-01-05T09:00:00Z",
                        "event_id": "mc-1",
                        "shipment_ref": shipment_b.name,
                    }
                ],
            )
        )
        self.assertEqual(result["accepted"], 0)
        self.assertFalse(shipment_b.event_ids)
        # An event belongs to its shipment's company: B's events are not A's to see.
        result = (
            self.env["logistics.event"]
            .with_company(company_b)
            .ingest_events(
                "t_wms_b",
                [
                    {
                        "type": "picked",
                        "occurred_at": "2026-01-05T09:00:00Z",
                        "event_id": "mc-2",
                        "shipment_ref": shipment_b.name,
                    }
                ],
            )
        )
        self.assertEqual(result["accepted"], 1)
        event_b = shipment_b.event_ids
        self.assertEqual(event_b.company_id, company_b)
        self.assertEqual(event_b.backend_id, backend_b)
        Event = self.env["logistics.event"].with_user(self.user)
        self.assertFalse(Event.search([("id", "=", event_b.id)]))
        with self.assertRaises(AccessError):
            event_b.with_user(self.user).read(["source_event_id"])
