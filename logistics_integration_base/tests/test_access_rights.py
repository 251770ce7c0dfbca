"""Security (issue 11, the items done so far): methods that call a partner or change what the
suite does check the group themselves; attempts stay in their company; events come only through
ingest_events; secrets can't be searched."""

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged

from .common import GROUP_AUDITOR, GROUP_MANAGER, GROUP_USER, LogisticsCase, api_key, json2


class TestManagerOnlyMethods(LogisticsCase):
    def test_partner_calls_and_configuration_need_a_manager_in_the_method(self):
        message = self.env["logistics.message"].create(
            {"direction": "outbound", "operation": "x", "state": "dead", "backend_id": self.wms.id}
        )
        calls = [
            ("replay messages", lambda env: message.with_env(env).action_replay("why")),
            ("discard messages", lambda env: message.with_env(env).action_discard("why")),
            ("pause a backend", lambda env: self.wms.with_env(env).action_pause()),
            ("resume a backend", lambda env: self.wms.with_env(env).action_resume()),
            ("close a circuit", lambda env: self.wms.with_env(env).action_reset_circuit()),
            (
                "rotate the secret key",
                lambda env: env["logistics.backend"].action_rotate_secret_key(),
            ),
        ]
        for user in (self.user, self.auditor):
            env = self.env(user=user)
            for action, call in calls:
                with self.subTest(user=user.login, action=action):
                    with self.assertRaisesRegex(
                        AccessError, f"^Only Logistics Managers can {action}.$"
                    ):
                        call(env)
        self.assertEqual(message.state, "dead")
        self.assertFalse(self.wms.paused)

    def test_events_come_only_through_ingest_events(self):
        for user in (self.user, self.manager, self.auditor):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.env["logistics.event"].with_user(user).create(
                    {
                        "shipment_id": self.shipment.id,
                        "type_id": self.env.ref(
                            "logistics_integration_base.event_type_delivered"
                        ).id,
                        "occurred_at": fields.Datetime.now(),
                        "source_event_id": f"forged-{user.login}",
                        "backend_id": self.carrier.id,
                    }
                )
        result = (
            self.env["logistics.event"]
            .with_user(self.user)
            .ingest_events(
                self.carrier.code,
                [self.event("in_transit", "2026-03-01T10:00:00Z", "through-ingest-1")],
            )
        )
        self.assertEqual(result["accepted"], 1)

    def test_message_state_changes_only_through_its_actions(self):
        """A Manager writing a dead message's state to discarded over RPC would skip the
        reason, the audit and the transitions: refused; the action does it, audited."""
        message = self.env["logistics.message"].create(
            {"direction": "outbound", "operation": "x", "state": "dead", "backend_id": self.wms.id}
        )
        for state in ("discarded", "done", "queued"):
            with self.subTest(state), self.assertRaisesRegex(AccessError, "only through"):
                message.with_user(self.manager).write({"state": state})
        self.assertEqual(message.state, "dead")
        message.with_user(self.manager).action_discard("duplicate of #1")
        self.assertEqual((message.state, message.discard_reason), ("discarded", "duplicate of #1"))
        log = self.env["logistics.audit.log"].search(
            [("action", "=", "discard"), ("res_id", "=", message.id)]
        )
        self.assertEqual(log.user_id, self.manager)
        # The transitions hold for the suite's own code too.
        with self.assertRaisesRegex(UserError, "can't go from discarded to queued"):
            message._set_state("queued")

    def test_flow_fields_of_a_shipment_are_not_written_by_hand(self):
        """A User typing a tracking number would replay other shipments' pending events to
        this one; status and delivery time come from events."""
        self.shipment.sudo().tracking_number = "1Z-FLOW"
        delivered = self.env.ref("logistics_integration_base.event_type_delivered")
        for user in (self.user, self.manager):
            for values in (
                {"tracking_number": "1Z-TYPED"},
                {"status_id": delivered.id},
                {"delivered_at": fields.Datetime.now()},
            ):
                with self.subTest(user=user.login, values=values):
                    with self.assertRaisesRegex(AccessError, "not by hand"):
                        self.shipment.with_user(user).write(values)
        self.assertEqual(self.shipment.tracking_number, "1Z-FLOW")
        self.assertFalse(self.shipment.status_id == delivered)
        # What people do work on stays writable.
        self.shipment.with_user(self.user).promised_date = "2026-02-01 12:00:00"

    def test_secrets_cannot_be_searched(self):
        self.wms.api_key = "sk_searchable?"
        for name in ("api_key", "password", "webhook_secret"):
            with self.subTest(name), self.assertRaisesRegex(UserError, "write-only"):
                self.env["logistics.backend"].with_user(self.manager).search(
                    [(name, "=", "sk_searchable?")]
                )

    def test_delivery_attempts_stay_in_their_company(self):
        other = self.env["res.company"].create({"name": "Other Logistics Co"})
        message = self.env["logistics.message"].create(
            {"direction": "outbound", "operation": "x", "backend_id": self.wms.id}
        )
        attempt = self.env["logistics.message.attempt"].create(
            {"message_id": message.id, "number": 1, "http_status": 500}
        )
        outsider = new_test_user(
            self.env,
            "other_company_user",
            groups=f"base.group_user,{GROUP_USER}",
            company_id=other.id,
            company_ids=[(6, 0, other.ids)],
        )
        Attempt = self.env["logistics.message.attempt"].with_user(outsider)
        self.assertFalse(Attempt.search([("id", "=", attempt.id)]))
        with self.assertRaises(AccessError):
            Attempt.browse(attempt.id).read(["http_status"])
        self.assertEqual(
            self.env["logistics.message.attempt"]
            .with_user(self.user)
            .search([("id", "=", attempt.id)]),
            attempt,
        )


@tagged("post_install", "-at_install")
class TestManagerOnlyOverJson2(HttpCase):
    """The same refusal as an external client meets it: JSON-2 with an Auditor's API key."""

    def test_auditor_cannot_pause_a_backend_over_json2(self):
        backend = self.env["logistics.backend"].create(
            {"name": "JSON-2 WMS", "code": "json2_wms", "kind": "wms"}
        )
        auditor = new_test_user(
            self.env,
            "json2_auditor",
            groups=f"base.group_user,{GROUP_AUDITOR}",
        )
        response = json2(
            self,
            api_key(auditor, "audit script"),
            "logistics.backend",
            "action_pause",
            {"ids": backend.ids},
        )
        self.assertEqual(response.status_code, 403, response.text)
        self.assertIn("Only Logistics Managers can pause a backend.", response.text)
        self.assertFalse(backend.paused)
        manager = new_test_user(
            self.env, "json2_manager", groups=f"base.group_user,{GROUP_MANAGER}"
        )
        backend.with_user(manager).action_pause()
        self.assertTrue(backend.paused)
