"""Security (issue 11) as a hostile client meets it: Odoo 19's JSON-2 API over real HTTP, with the
API key of a Logistics User, a Manager, an Auditor, an internal user without a Logistics group,
an administrator, and a second company's user. Every refusal is asserted on the answer and on
the database."""

from odoo import Command
from odoo.tests import HttpCase, new_test_user, tagged

from .common import GROUP_AUDITOR, GROUP_MANAGER, GROUP_USER, api_key, json2


@tagged("post_install", "-at_install")
class TestSecurityOverJson2(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["logistics.subscription"].search([]).unlink()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Company B Freight"})
        Backend = cls.env["logistics.backend"]
        cls.wms = Backend.create({"name": "RPC WMS", "code": "rpc_wms", "kind": "wms"})
        cls.carrier_b = Backend.create(
            {
                "name": "B's Carrier",
                "code": "rpc_carrier_b",
                "kind": "carrier",
                "company_id": cls.company_b.id,
            }
        )
        cls.shipment = cls.env["logistics.shipment"].create({"name": "SHP/RPC/1"})
        cls.exception = cls.env["logistics.exception"]._raise(
            "delivery_failed", [{"name": "Not delivered", "shipment_id": cls.shipment.id}]
        )
        cls.user = new_test_user(cls.env, "rpc_user", groups=f"base.group_user,{GROUP_USER}")
        cls.manager = new_test_user(
            cls.env,
            "rpc_manager",
            groups=f"base.group_user,{GROUP_MANAGER}",
            company_ids=[Command.set((cls.company_a | cls.company_b).ids)],
        )
        cls.auditor = new_test_user(
            cls.env, "rpc_auditor", groups=f"base.group_user,{GROUP_AUDITOR}"
        )
        cls.outsider = new_test_user(
            cls.env,
            "rpc_b_user",
            groups=f"base.group_user,{GROUP_USER}",
            company_id=cls.company_b.id,
            company_ids=[Command.set(cls.company_b.ids)],
        )
        cls.stage = {
            xmlid: cls.env.ref(f"logistics_integration_base.exception_stage_{xmlid}")
            for xmlid in ("new", "in_progress", "resolved", "dismissed")
        }

    def call(self, user, model, method, **params):
        """POST /json/2/<model>/<method> with a new API key of ``user``; the response."""
        return json2(self, api_key(user), model, method, params)

    def assertRefused(self, response, status, text):
        self.assertEqual(response.status_code, status, response.text)
        self.assertIn(text, response.text)

    def audit(self, record, action):
        return self.env["logistics.audit.log"].search(
            [("model", "=", record._name), ("res_id", "=", record.id), ("action", "=", action)]
        )

    # --- item 5: companies and flow fields --------------------------------------------------
    def test_a_user_cannot_move_records_into_another_company(self):
        for model, record in (
            ("logistics.shipment", self.shipment),
            ("logistics.exception", self.exception),
        ):
            with self.subTest(model):
                response = self.call(
                    self.user,
                    model,
                    "write",
                    ids=record.ids,
                    vals={"company_id": self.company_b.id},
                )
                self.assertRefused(response, 403, "a company you don't belong to")
                self.assertEqual(record.company_id, self.company_a)
        response = self.call(
            self.user,
            "logistics.exception",
            "create",
            vals_list=[
                {
                    "name": "Planted in B",
                    "type_id": self.exception.type_id.id,
                    "company_id": self.company_b.id,
                }
            ],
        )
        self.assertRefused(response, 403, "a company you don't belong to")
        self.assertFalse(self.env["logistics.exception"].search([("name", "=", "Planted in B")]))

    def test_a_shipment_cannot_point_at_another_companys_records(self):
        """Even a Manager of both companies: the carrier of a shipment of A is one of A's."""
        response = self.call(
            self.manager,
            "logistics.shipment",
            "write",
            ids=self.shipment.ids,
            vals={"carrier_backend_id": self.carrier_b.id},
        )
        self.assertRefused(response, 422, "company inconsistencies")
        self.assertFalse(self.shipment.carrier_backend_id)
        response = self.call(
            self.manager,
            "logistics.exception",
            "write",
            ids=self.exception.ids,
            vals={"backend_id": self.carrier_b.id},
        )
        self.assertRefused(response, 422, "company inconsistencies")
        self.assertFalse(self.exception.backend_id)

    def test_status_delivery_time_and_tracking_number_are_not_written_by_hand(self):
        delivered = self.env.ref("logistics_integration_base.event_type_delivered")
        for vals in (
            {"status_id": delivered.id},
            {"delivered_at": "2026-11-30 10:00:00"},
            {"tracking_number": "1Z-TYPED"},
        ):
            with self.subTest(vals):
                response = self.call(
                    self.manager, "logistics.shipment", "write", ids=self.shipment.ids, vals=vals
                )
                self.assertRefused(response, 403, "not by hand")
        self.assertFalse(self.shipment.status_id or self.shipment.delivered_at)
        self.assertFalse(self.shipment.tracking_number)

    # --- item 10: resolving exceptions ------------------------------------------------------
    def test_only_managers_resolve_exceptions_with_a_note_and_it_is_audited(self):
        # A User works the exception: takes it, moves it along the open stages.
        response = self.call(
            self.user,
            "logistics.exception",
            "write",
            ids=self.exception.ids,
            vals={"user_id": self.user.id, "stage_id": self.stage["in_progress"].id},
        )
        self.assertEqual(response.status_code, 200, response.text)
        for stage in ("resolved", "dismissed"):
            with self.subTest(stage):
                response = self.call(
                    self.user,
                    "logistics.exception",
                    "write",
                    ids=self.exception.ids,
                    vals={"stage_id": self.stage[stage].id, "resolution_note": "done, trust me"},
                )
                self.assertRefused(
                    response, 403, "Only Logistics Managers can resolve or dismiss exceptions."
                )
        for vals in ({"auto_resolved": True}, {"is_closed": True}):
            response = self.call(
                self.user, "logistics.exception", "write", ids=self.exception.ids, vals=vals
            )
            self.assertRefused(response, 403, "set by Odoo, not by hand")
        # What it is about decides what closes it by itself: not a User's to change.
        cleared_by_delivery = self.env.ref(
            "logistics_integration_base.exception_type_missing_tracking"
        )
        response = self.call(
            self.user,
            "logistics.exception",
            "write",
            ids=self.exception.ids,
            vals={"type_id": cleared_by_delivery.id},
        )
        self.assertRefused(
            response, 403, "Only Logistics Managers can change what an exception is about."
        )
        self.assertFalse(self.exception.is_closed)
        # Copying one is still working it.
        response = self.call(self.user, "logistics.exception", "copy", ids=self.exception.ids)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(self.exception.stage_id, self.stage["in_progress"])
        # A Manager resolves, saying what was done.
        response = self.call(
            self.manager,
            "logistics.exception",
            "write",
            ids=self.exception.ids,
            vals={"stage_id": self.stage["resolved"].id},
        )
        self.assertRefused(response, 422, "Write what was done in the Resolution tab")
        self.assertFalse(self.exception.is_closed)
        note = "Customer collected the parcel at the depot."
        response = self.call(
            self.manager,
            "logistics.exception",
            "write",
            ids=self.exception.ids,
            vals={"stage_id": self.stage["resolved"].id, "resolution_note": note},
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertTrue(self.exception.is_closed)
        self.assertFalse(self.exception.auto_resolved)
        resolved = self.audit(self.exception, "resolve")
        self.assertEqual((resolved.user_id, resolved.reason), (self.manager, note))
        self.assertEqual(resolved.summary, "Resolved by hand: Not delivered")
        # Reopened by a User who sees it is not over: allowed, and audited too.
        response = self.call(
            self.user,
            "logistics.exception",
            "write",
            ids=self.exception.ids,
            vals={"stage_id": self.stage["in_progress"].id},
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(self.audit(self.exception, "reopen").user_id, self.user)
        # A User can't plant an exception already closed either.
        response = self.call(
            self.user,
            "logistics.exception",
            "create",
            vals_list=[
                {
                    "name": "Closed at birth",
                    "type_id": self.exception.type_id.id,
                    "stage_id": self.stage["dismissed"].id,
                    "resolution_note": "nothing to see",
                }
            ],
        )
        self.assertRefused(response, 403, "Only Logistics Managers can resolve")
        # The Auditor reads who resolved what.
        response = self.call(
            self.auditor,
            "logistics.audit.log",
            "search_read",
            domain=[("model", "=", "logistics.exception"), ("res_id", "=", self.exception.id)],
            fields=["action", "user_id", "reason"],
        )
        self.assertEqual(
            {(row["action"], row["user_id"][0]) for row in response.json()},
            {("resolve", self.manager.id), ("reopen", self.user.id)},
        )

    # --- item 11: secrets don't follow a changed destination --------------------------------
    def test_a_new_base_url_or_authentication_requires_the_secrets_again(self):
        self.wms.write(
            {
                "base_url": "https://wms.example",
                "api_key": "sk_wms_original",
                "webhook_secret": "whsec_wms",
            }
        )
        response = self.call(
            self.manager,
            "logistics.backend",
            "write",
            ids=self.wms.ids,
            vals={"base_url": "https://collector.evil.example"},
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.wms.invalidate_recordset()
        self.assertFalse(self.wms._get_secret("api_key"))
        # The webhook signing secret only checks what the partner sends: it stays.
        self.assertEqual(self.wms._get_secret("webhook_secret"), "whsec_wms")
        cleared = self.audit(self.wms, "secret_cleared")
        self.assertEqual(cleared.user_id, self.manager)
        self.assertIn("base URL or authentication type changed", cleared.reason)
        # Given again in the same write, the key is the new one; an unchanged URL keeps it.
        for vals in (
            {"base_url": "https://wms2.example", "api_key": "sk_wms_new"},
            {"base_url": "https://wms2.example", "name": "RPC WMS (moved)"},
        ):
            response = self.call(
                self.manager, "logistics.backend", "write", ids=self.wms.ids, vals=vals
            )
            self.assertEqual(response.status_code, 200, response.text)
            self.wms.invalidate_recordset()
            self.assertEqual(self.wms._get_secret("api_key"), "sk_wms_new")
        response = self.call(
            self.manager,
            "logistics.backend",
            "write",
            ids=self.wms.ids,
            vals={"auth_type": "bearer"},
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.wms.invalidate_recordset()
        self.assertFalse(self.wms.api_key_is_set)

    # --- what held already, kept as tests ---------------------------------------------------
    def test_no_user_reads_a_secret_and_no_secret_is_anywhere_in_the_database(self):
        secret = "sk_never_stored_in_clear_7f3a"
        response = self.call(
            self.manager,
            "logistics.backend",
            "write",
            ids=self.wms.ids,
            vals={"api_key": secret, "password": secret, "webhook_secret": secret},
        )
        self.assertEqual(response.status_code, 200, response.text)
        admin = self.env.ref("base.user_admin")
        for user in (self.manager, admin):
            response = self.call(
                user,
                "logistics.backend",
                "read",
                ids=self.wms.ids,
                fields=["api_key", "password", "webhook_secret", "api_key_is_set"],
            )
            self.assertEqual(response.status_code, 200, response.text)
            self.assertNotIn(secret, response.text)
            self.assertTrue(response.json()[0]["api_key_is_set"])
            response = self.call(
                user,
                "logistics.backend",
                "search",
                domain=[("api_key", "=", secret)],
            )
            self.assertRefused(response, 422, "write-only")
        # Every row of every table, as text: the secret is only ever ciphertext.
        self.env.flush_all()
        self.env.cr.execute(
            """SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
                 FROM information_schema.tables
                WHERE table_type = 'BASE TABLE'
                  AND table_schema NOT IN ('pg_catalog', 'information_schema')"""
        )
        tables = [name for (name,) in self.env.cr.fetchall()]
        self.assertGreater(len(tables), 100)
        holding = []
        for table in tables:
            self.env.cr.execute(
                f"SELECT 1 FROM {table} AS t WHERE t::text LIKE %s LIMIT 1",  # noqa: S608
                [f"%{secret}%"],
            )
            if self.env.cr.fetchone():
                holding.append(table)
        self.assertEqual(holding, [])
        self.assertEqual(self.wms._get_secret("api_key"), secret)

    def test_the_audit_log_is_append_only_over_rpc(self):
        self.wms.with_user(self.manager).name = "Renamed over RPC"
        entry = self.env["logistics.audit.log"].search([("res_id", "=", self.wms.id)], limit=1)
        admin = self.env.ref("base.user_admin")
        for user in (self.manager, admin):
            with self.subTest(user.login):
                for method, params in (
                    ("write", {"ids": entry.ids, "vals": {"summary": "nothing happened"}}),
                    ("unlink", {"ids": entry.ids}),
                    (
                        "create",
                        {"vals_list": [{"action": "write", "model": "x", "user_id": user.id}]},
                    ),
                ):
                    response = self.call(user, "logistics.audit.log", method, **params)
                    self.assertEqual(response.status_code, 403, response.text)
        self.assertEqual(entry.exists().summary[:7], "Changed")

    # --- items 4, 6, 8: companies of attempts, events, message states -----------------------
    def test_other_refusals_hold_over_rpc(self):
        message = self.env["logistics.message"].create(
            {"direction": "outbound", "operation": "x", "state": "dead", "backend_id": self.wms.id}
        )
        attempt = self.env["logistics.message.attempt"].create(
            {"message_id": message.id, "number": 1, "http_status": 500}
        )
        response = self.call(
            self.outsider, "logistics.message.attempt", "search_read", domain=[], fields=["id"]
        )
        self.assertNotIn(attempt.id, [row["id"] for row in response.json()])
        response = self.call(
            self.outsider, "logistics.message.attempt", "read", ids=attempt.ids, fields=["id"]
        )
        self.assertEqual(response.status_code, 403, response.text)
        response = self.call(
            self.manager,
            "logistics.message",
            "write",
            ids=message.ids,
            vals={"state": "discarded"},
        )
        self.assertRefused(response, 403, "only through its actions")
        self.assertEqual(message.state, "dead")
        delivered = self.env.ref("logistics_integration_base.event_type_delivered")
        for user in (self.user, self.manager):
            response = self.call(
                user,
                "logistics.event",
                "create",
                vals_list=[
                    {
                        "shipment_id": self.shipment.id,
                        "type_id": delivered.id,
                        "occurred_at": "2026-11-30 09:00:00",
                        "backend_id": self.wms.id,
                    }
                ],
            )
            self.assertEqual(response.status_code, 403, response.text)
        self.assertFalse(self.shipment.event_ids)
        # An internal user without a Logistics group sees nothing of it.
        nobody = new_test_user(self.env, "rpc_nobody", groups="base.group_user")
        for model in ("logistics.shipment", "logistics.exception", "logistics.backend"):
            response = self.call(nobody, model, "search_read", domain=[], fields=["id"])
            self.assertEqual(response.status_code, 403, response.text)
