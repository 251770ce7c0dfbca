import json
import xmlrpc.client
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from .common import GROUP_MANAGER, GROUP_USER, api_key, json2

# What partners send: EasyPost trackers are full of nulls, at the top and deep down, and
# millisecond timestamps are past XML-RPC's 32-bit <int>.
PAYLOAD_WITH_NULLS = {
    "object": "Tracker",
    "status_detail": None,
    "weight": None,
    "tracking_details": [
        {"message": "Arrived at hub", "tracking_location": {"city": None, "zip": "38118"}},
        None,
    ],
    "fees": [],
    "delivered": False,
    "ratio": 0.5,
    "created_ms": 1767225600000,
    "below": -(2**40),
    "huge": 2**70,
}


@tagged("post_install", "-at_install")
class TestExternalClients(HttpCase):
    """External systems call Odoo over XML-RPC / JSON-RPC through the real HTTP server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend = cls.env["logistics.backend"].create(
            {"name": "RPC Carrier", "code": "rpc_carrier", "kind": "carrier"}
        )
        cls.backend.api_key = "sk_rpc_must_not_leak"
        cls.backend.webhook_secret = "whsec_rpc_must_not_leak"
        cls.integration = new_test_user(
            cls.env,
            "rpc_integration",
            password="rpc-integration-pw",
            groups=f"base.group_user,{GROUP_USER}",
        )
        cls.manager = new_test_user(
            cls.env,
            "rpc_manager",
            password="rpc-manager-pw",
            groups=f"base.group_user,{GROUP_MANAGER}",
        )
        cls.shipment = cls.env["logistics.shipment"].create({"name": "SHP/RPC/1"})
        cls.recent = (fields.Datetime.now() - timedelta(hours=1)).isoformat() + "+00:00"
        result = cls.env["logistics.event"].ingest_events(
            "rpc_carrier",
            [
                {
                    "type": "in_transit",
                    "occurred_at": cls.recent,
                    "event_id": "nulls-1",
                    "shipment_ref": "SHP/RPC/1",
                    "payload": PAYLOAD_WITH_NULLS,
                }
            ],
        )
        assert result["accepted"] == 1, result
        cls.event = cls.env["logistics.event"].search([("source_event_id", "=", "nulls-1")])
        cls.dead = cls.env["logistics.message"].create(
            {
                "direction": "inbound",
                "backend_id": cls.backend.id,
                "operation": "webhook",
                "payload": PAYLOAD_WITH_NULLS,
                "state": "dead",
                "error": "shipment not found",
            }
        )
        # API keys as a person makes them (Preferences > Account Security > New API Key): with
        # the user's own rights, for at most a day unless a group allows longer.
        cls.integration_key = api_key(cls.integration, "ERP integration", hours=12)
        cls.manager_key = api_key(cls.manager, "Replay script", hours=12)

    def assertXmlRpcSafe(self, value):
        """The value travels in core XML-RPC (no None, no int past 32 bits): the standard
        library's marshaller, without extensions, raises otherwise."""
        xmlrpc.client.dumps((value,), methodresponse=True)

    def json2(self, key, model, method, body):
        return json2(self, key, model, method, body)

    def test_ingest_events_over_xmlrpc(self):
        uid = self.xmlrpc_common.authenticate(
            self.env.cr.dbname, "rpc_integration", "rpc-integration-pw", {}
        )
        self.assertEqual(uid, self.integration.id)
        result = self.xmlrpc_object.execute_kw(
            self.env.cr.dbname,
            uid,
            "rpc-integration-pw",
            "logistics.event",
            "ingest_events",
            [
                "rpc_carrier",
                [
                    {
                        "type": "in_transit",
                        "occurred_at": "2026-03-01T10:00:00+02:00",
                        "event_id": "xml-1",
                        "shipment_ref": "SHP/RPC/1",
                        "payload": {"hub": "AMS"},
                    },
                    {
                        "type": "in_transit",
                        "occurred_at": "2026-03-01T10:00:00+02:00",
                        "event_id": "xml-1",
                        "shipment_ref": "SHP/RPC/1",
                    },
                    {
                        "type": "in_transit",
                        "occurred_at": "bad",
                        "event_id": "xml-2",
                        "shipment_ref": "SHP/RPC/1",
                    },
                ],
            ],
        )
        self.assertEqual(result["accepted"], 1)
        self.assertEqual(result["duplicates"], 1)
        self.assertEqual(
            result["rejected"],
            [{"index": 2, "error": "'occurred_at' is not an ISO 8601 date-time: 'bad'"}],
        )
        self.assertXmlRpcSafe(result)
        self.assertEqual(self.shipment.status_code, "in_transit")

    def xmlrpc(self, login, password, model, method, args, kwargs=None):
        """execute_kw over /xmlrpc/2 with Python's xmlrpc.client, as an existing client does."""
        uid = self.xmlrpc_common.authenticate(self.env.cr.dbname, login, password, {})
        return self.xmlrpc_object.execute_kw(
            self.env.cr.dbname, uid, password, model, method, args, kwargs or {}
        )

    def jsonrpc(self, login, password, model, method, args, kwargs=None):
        uid = self.xmlrpc_common.authenticate(self.env.cr.dbname, login, password, {})
        response = self.url_open(
            "/jsonrpc",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "call",
                    "id": 1,
                    "params": {
                        "service": "object",
                        "method": "execute_kw",
                        "args": [
                            self.env.cr.dbname,
                            uid,
                            password,
                            model,
                            method,
                            args,
                            kwargs or {},
                        ],
                    },
                }
            ),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        return response.json()

    def test_secrets_not_readable_over_jsonrpc(self):
        for login, password in (
            ("admin", "admin"),
            ("rpc_manager", "rpc-manager-pw"),
            ("rpc_integration", "rpc-integration-pw"),
        ):
            for method, args, kwargs in (
                ("search_read", [[["id", "=", self.backend.id]]], {}),
                (
                    "read",
                    [[self.backend.id]],
                    {"fields": ["api_key", "webhook_secret", "password"]},
                ),
            ):
                body = self.jsonrpc(login, password, "logistics.backend", method, args, kwargs)
                self.assertNotIn("error", body, body)
                text = json.dumps(body)
                self.assertNotIn("must_not_leak", text, f"{login} {method}")
                record = body["result"][0]
                self.assertIs(record["api_key"], False)
                self.assertIs(record["webhook_secret"], False)
        # The token column is not a field: asking for it is an error, not a leak.
        body = self.jsonrpc(
            "admin",
            "admin",
            "logistics.backend",
            "read",
            [[self.backend.id]],
            {"fields": ["api_key_token"]},
        )
        self.assertNotIn("must_not_leak", json.dumps(body))
        self.assertNotIn("gAAAA", json.dumps(body))  # no Fernet token either

    # --- item 10: JSON fields read over every protocol, whatever they hold ---------------------
    def test_payload_with_nulls_read_over_xmlrpc(self):
        for record in (self.event, self.dead):
            for method, args, kwargs in (
                ("read", [record.ids], {"fields": ["payload"]}),
                ("search_read", [[("id", "=", record.id)]], {"fields": ["payload"]}),
                ("read", [record.ids], {}),  # every field, as a client browsing does
                ("search_read", [[("id", "=", record.id)]], {}),
            ):
                with self.subTest(model=record._name, method=method, fields=kwargs):
                    rows = self.xmlrpc(
                        "rpc_integration", "rpc-integration-pw", record._name, method, args, kwargs
                    )
                    self.assertEqual(len(rows), 1)
                    self.assertEqual(rows[0]["id"], record.id)
                    self.assertEqual(rows[0]["payload"], PAYLOAD_WITH_NULLS)

    def test_xmlrpc_wire_uses_nil_and_i8_extensions(self):
        """None travels as <nil/> and an integer past 32 bits as <i8>, the XML-RPC extensions
        Python's xmlrpc.client reads; what core XML-RPC carries is written as before."""
        uid = self.xmlrpc_common.authenticate(self.env.cr.dbname, "admin", "admin", {})
        request = xmlrpc.client.dumps(
            (
                self.env.cr.dbname,
                uid,
                "admin",
                "logistics.event",
                "read",
                [self.event.ids],
                {"fields": ["payload"]},
            ),
            "execute_kw",
        )
        response = self.url_open(
            "/xmlrpc/2/object", data=request, headers={"Content-Type": "text/xml"}
        )
        self.assertEqual(response.status_code, 200)
        body = response.text
        self.assertNotIn("<fault>", body)
        self.assertIn("<name>status_detail</name>\n<value><nil/></value>", body)
        self.assertIn("<value><i8>1767225600000</i8></value>", body)
        self.assertIn("<value><i8>-1099511627776</i8></value>", body)
        self.assertIn(f"<value><biginteger>{2**70}</biginteger></value>", body)
        self.assertIn(f"<value><int>{self.event.id}</int></value>", body)
        self.assertIn("<value><double>0.5</double></value>", body)

    def test_payload_with_nulls_read_over_jsonrpc(self):
        for record in (self.event, self.dead):
            for method, args in (
                ("read", [record.ids, ["payload"]]),
                ("search_read", [[("id", "=", record.id)], ["payload"]]),
            ):
                body = self.jsonrpc(
                    "rpc_integration", "rpc-integration-pw", record._name, method, args
                )
                self.assertNotIn("error", body, body)
                self.assertEqual(body["result"], [{"id": record.id, "payload": PAYLOAD_WITH_NULLS}])

    def test_payload_with_nulls_read_over_json2(self):
        for record in (self.event, self.dead):
            response = self.json2(
                self.integration_key,
                record._name,
                "read",
                {"ids": record.ids, "fields": ["payload"]},
            )
            self.assertEqual(response.status_code, 200, response.text)
            self.assertEqual(response.json(), [{"id": record.id, "payload": PAYLOAD_WITH_NULLS}])
            self.assertIn('"status_detail": null', response.text)  # real JSON

    def test_every_public_model_readable_over_xmlrpc(self):
        """Every stored model of the suite, every field, as a Logistics Manager reads it."""
        models = sorted(
            name
            for name, model in self.env.registry.items()
            if name.startswith("logistics.") and not model._abstract and not model._transient
        )
        self.assertIn("logistics.event", models)
        for model in models:
            with self.subTest(model=model):
                rows = self.xmlrpc("admin", "admin", model, "search_read", [[]], {"limit": 50})
                self.assertIsInstance(rows, list)

    # --- item 17: JSON-2 first, XML-RPC kept ---------------------------------------------------
    def test_ingest_events_over_json2(self):
        response = self.json2(
            self.integration_key,
            "logistics.event",
            "ingest_events",
            {
                "backend_code": "rpc_carrier",
                "events": [
                    {
                        "type": "delivered",
                        "occurred_at": self.recent,
                        "event_id": "json2-1",
                        "shipment_ref": "SHP/RPC/1",
                        "payload": {"signed_by": None},
                    },
                    {
                        "type": "delivered",
                        "occurred_at": self.recent,
                        "event_id": "json2-1",
                        "shipment_ref": "SHP/RPC/1",
                    },
                    {
                        "type": "delivered",
                        "occurred_at": self.recent,
                        "event_id": "json2-2",
                        "shipment_ref": "SHP/RPC/404",
                    },
                ],
            },
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.headers["Content-Type"], "application/json; charset=utf-8")
        result = response.json()
        self.assertEqual(
            result,
            {
                "accepted": 1,
                "duplicates": 1,
                "rejected": [
                    {"index": 2, "error": "no shipment found for shipment_ref 'SHP/RPC/404'"}
                ],
            },
        )
        self.assertXmlRpcSafe(result)
        event = self.env["logistics.event"].search([("source_event_id", "=", "json2-1")])
        self.assertEqual(len(event), 1)
        self.assertEqual(event.payload, {"signed_by": None})
        self.assertEqual(self.shipment.status_code, "delivered")

    def test_json2_refusals(self):
        """A refused call is an HTTP error whose JSON body says why; nothing is stored."""
        outsider = new_test_user(self.env, "rpc_outsider", groups="base.group_user")
        outsider_key = api_key(outsider, "Not a Logistics User")
        events = [
            {
                "type": "delivered",
                "occurred_at": self.recent,
                "event_id": "refused-1",
                "shipment_ref": "SHP/RPC/1",
            }
        ]
        for key, backend_code, status, message in (
            (self.integration_key[:-4] + "0000", "rpc_carrier", 401, "Invalid apikey"),
            (outsider_key, "rpc_carrier", 403, "Only Logistics Users may ingest logistics events."),
            (self.integration_key, "nope", 422, "No logistics backend with code 'nope'."),
        ):
            with self.subTest(status=status):
                response = self.json2(
                    key,
                    "logistics.event",
                    "ingest_events",
                    {"backend_code": backend_code, "events": events},
                )
                self.assertEqual(response.status_code, status, response.text)
                self.assertEqual(response.json()["message"], message)
                if status == 401:
                    self.assertEqual(response.headers["WWW-Authenticate"].strip().lower(), "bearer")
        self.assertFalse(
            self.env["logistics.event"].search([("source_event_id", "=", "refused-1")])
        )

    def test_replay_over_json2(self):
        """A Logistics Manager's key replays; a Logistics User's key is refused, nothing done."""
        body = {"ids": self.dead.ids, "reason": "mapping fixed"}
        response = self.json2(self.integration_key, "logistics.message", "replay", body)
        # An AccessError: 403, as for any right a user lacks.
        self.assertEqual(response.status_code, 403, response.text)
        self.assertEqual(response.json()["message"], "Only Logistics Managers can replay messages.")
        self.assertFalse(self.dead.replay_ids)

        response = self.json2(self.manager_key, "logistics.message", "replay", body)
        self.assertEqual(response.status_code, 200, response.text)
        new_ids = response.json()
        self.assertXmlRpcSafe(new_ids)
        replay = self.env["logistics.message"].browse(new_ids)
        self.assertEqual(len(replay), 1)
        self.assertEqual(replay.replay_of_id, self.dead)
        self.assertEqual(replay.state, "queued")
        self.assertEqual(replay.payload, PAYLOAD_WITH_NULLS)
        audit = self.env["logistics.audit.log"].search(
            [("action", "=", "replay"), ("res_id", "=", self.dead.id)]
        )
        self.assertEqual(audit.user_id, self.manager)
        self.assertEqual(audit.reason, "mapping fixed")

    def test_replay_over_xmlrpc(self):
        """Existing clients keep their call: execute_kw(..., 'replay', [ids, reason]), here
        with an API key in place of the password."""
        new_ids = self.xmlrpc(
            "rpc_manager",
            self.manager_key,
            "logistics.message",
            "replay",
            [self.dead.ids, "partner fixed the address"],
        )
        self.assertEqual(new_ids, self.dead.replay_ids.ids)
        self.assertXmlRpcSafe(new_ids)
        self.assertEqual(len(new_ids), 1)
        self.assertEqual(self.dead.replay_ids.replay_of_id, self.dead)
