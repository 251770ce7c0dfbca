"""The backend form as a person uses it: the webhook URLs to give the partner, the smart buttons
to its messages, dead letters and open exceptions, and Test Connection (its base: the transport,
the classification, the redaction, the rights) against a real HTTP partner on 127.0.0.1. The
adapters' own harmless calls are tested against the sandboxes in the connectors."""

from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import LogisticsCase
from .partner_server import LoopbackPartnerMixin, ScriptedPartner, closed_port


@tagged("post_install", "-at_install")
class TestBackendForm(LoopbackPartnerMixin, LogisticsCase):
    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "https://odoo.example.com")

    def test_webhook_urls_follow_the_base_url_and_the_code(self):
        self.assertEqual(self.wms.webhook_url, "https://odoo.example.com/logistics/webhook/t_wms")
        self.assertEqual(
            self.wms.webhook_batch_url, "https://odoo.example.com/logistics/webhook/t_wms/batch"
        )
        self.wms.code = "acme 3pl/eu"
        self.assertEqual(
            self.wms.webhook_url, "https://odoo.example.com/logistics/webhook/acme%203pl%2Feu"
        )

    def test_smart_buttons_count_and_open_the_backends_records(self):
        Message = self.env["logistics.message"]
        mine = Message.create(
            [
                {"direction": "outbound", "operation": "x", "backend_id": self.wms.id},
                {"direction": "outbound", "operation": "x", "backend_id": self.wms.id},
            ]
        )
        mine[1]._set_state("dead")
        Message.create({"direction": "outbound", "operation": "x", "backend_id": self.carrier.id})
        Exception_ = self.env["logistics.exception"]
        open_one = Exception_._raise(
            "schema_invalid", [{"name": "open", "backend_id": self.wms.id}]
        )
        closed = Exception_._raise(
            "schema_invalid", [{"name": "closed", "backend_id": self.wms.id}]
        )
        closed._close_automatically("gone")
        Exception_._raise("schema_invalid", [{"name": "other", "backend_id": self.carrier.id}])

        self.assertEqual(
            (self.wms.message_count, self.wms.dead_message_count, self.wms.open_exception_count),
            (2, 1, 1),
        )
        for method, model, expected in (
            ("action_view_messages", "logistics.message", mine),
            ("action_view_dead_letters", "logistics.message", mine[1]),
            ("action_view_open_exceptions", "logistics.exception", open_one),
        ):
            with self.subTest(method):
                action = getattr(self.wms, method)()
                self.assertEqual(action["res_model"], model)
                self.assertEqual(action["domain"], [("backend_id", "=", self.wms.id)])
                # The action's own default filter (dead, open) narrows it down as shown.
                context = action["context"]
                domain = list(action["domain"])
                if "search_default_dead" in context:
                    domain.append(("state", "=", "dead"))
                if "search_default_open" in context:
                    domain.append(("is_closed", "=", False))
                self.assertEqual(self.env[model].search(domain), expected)

    def test_the_form_shows_the_buttons_urls_and_test_connection_to_managers_only(self):
        arch = self.env["logistics.backend"].get_view(
            self.env.ref("logistics_integration_base.logistics_backend_view_form").id
        )["arch"]
        for name in (
            "action_view_messages",
            "action_view_dead_letters",
            "action_view_open_exceptions",
            "action_test_connection",
        ):
            self.assertIn(f'name="{name}"', arch)
        self.assertIn('name="webhook_url" widget="CopyClipboardChar"', arch)
        # A User's or an Auditor's view has no Test Connection button.
        as_auditor = (
            self.env["logistics.backend"]
            .with_user(self.auditor)
            .get_view(self.env.ref("logistics_integration_base.logistics_backend_view_form").id)
        )
        self.assertNotIn("action_test_connection", as_auditor["arch"])

    # --- Test Connection ------------------------------------------------------------------
    def http_backend(self, url):
        self.wms.write({"base_url": url, "auth_type": "bearer"})
        self.wms.api_key = "secret-wms-key-42"
        return self.wms

    def test_connection_success_reports_status_and_latency_without_storing_anything(self):
        messages = self.env["logistics.message"].search_count([])
        with ScriptedPartner() as partner:
            partner.answer(200, {"ok": True}, delay=0.05)
            backend = self.http_backend(partner.url)
            result = backend._test_connection_http("/api/ping")
            action = backend.with_user(self.manager).action_test_connection()
        self.assertTrue(result["ok"])
        self.assertEqual((result["status"], result["error_class"]), (200, ""))
        self.assertGreaterEqual(result["latency_ms"], 50)
        self.assertIn(f"GET {partner.url}/api/ping answered HTTP 200 in", result["summary"])
        # The call went out as real calls do: the backend's credentials and a trace id.
        method, path, headers, _body = partner.requests[0]
        self.assertEqual((method, path), ("GET", "/api/ping"))
        self.assertEqual(headers["Authorization"], "Bearer secret-wms-key-42")
        self.assertRegex(headers["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
        # Nothing is stored: a test is no message, and the backend is unchanged.
        self.assertEqual(self.env["logistics.message"].search_count([]), messages)
        self.assertEqual(backend.consecutive_failures, 0)
        # The generic adapter has no harmless call of its own: the button says so.
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("no harmless call", action["params"]["message"])

    def test_connection_refused_credentials_in_words_with_the_answer_redacted(self):
        with ScriptedPartner() as partner:
            # A partner that echoes the key it refused: the notification must not show it.
            partner.answer(401, {"error": "unauthorized", "token": "secret-wms-key-42"})
            partner.answer(401, {"error": "bad key secret-wms-key-42"})
            backend = self.http_backend(partner.url)
            result = backend._test_connection_http("/api/ping")
            again = backend._test_connection_http("/api/ping")
        self.assertFalse(result["ok"])
        self.assertEqual((result["status"], result["error_class"]), (401, "security"))
        self.assertIn("Credentials refused (HTTP 401 / 403)", result["summary"])
        self.assertIn("HTTP 401", result["summary"])
        self.assertIn("unauthorized", result["summary"])
        for summary in (result["summary"], again["summary"]):
            self.assertNotIn("secret-wms-key-42", summary)
        self.assertIn("bad key ***", again["summary"])

    def test_connection_to_an_unreachable_partner_is_a_transient_failure(self):
        backend = self.http_backend(f"http://127.0.0.1:{closed_port()}")
        result = backend._test_connection_http("/api/ping")
        self.assertFalse(result["ok"])
        self.assertEqual((result["status"], result["error_class"]), (0, "transient"))
        self.assertIn("Temporary failure", result["summary"])
        self.assertIn("connection error: ConnectionError", result["summary"])

    def test_connection_without_a_base_url_says_so(self):
        self.wms.base_url = False
        result = self.wms._test_connection_http("/api/ping")
        self.assertFalse(result["ok"])
        self.assertIn("No base URL", result["summary"])

    def test_only_managers_test_connections(self):
        for user in (self.user, self.auditor):
            with self.subTest(user.login), self.assertRaisesRegex(AccessError, "Managers"):
                self.wms.with_user(user).action_test_connection()
