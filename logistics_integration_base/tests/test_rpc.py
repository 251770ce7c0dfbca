import json

from odoo.tests import HttpCase, new_test_user, tagged

from .common import GROUP_MANAGER, GROUP_USER


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
        self.assertEqual(self.shipment.status_code, "in_transit")

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
