from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tools.safe_eval import safe_eval

from .common import LogisticsCase


class TestExceptionBoard(LogisticsCase):
    """The board's quick actions (each audited), its filters, and the teams' digests."""

    def setUp(self):
        super().setUp()
        self.Exception = self.env["logistics.exception"]
        self.exception = self.Exception._raise(
            "delayed_ack",
            [
                {
                    "name": "not acknowledged",
                    "shipment_id": self.shipment.id,
                    "backend_id": self.wms.id,
                }
            ],
        )

    def audit(self, action):
        return self.env["logistics.audit.log"].search(
            [
                ("action", "=", action),
                ("res_id", "=", self.exception.id),
                ("model", "=", "logistics.exception"),
            ]
        )

    def test_quick_actions_offered_and_run_through_action_board(self):
        names = [action["name"] for action in self.exception.with_user(self.user).board_actions]
        self.assertEqual(names, ["action_assign_to_me", "action_open_snooze"])
        names = [action["name"] for action in self.exception.with_user(self.manager).board_actions]
        self.assertEqual(
            names, ["action_assign_to_me", "action_open_resolve", "action_open_snooze"]
        )
        self.exception.with_user(self.user).action_board("action_assign_to_me")
        self.assertEqual(self.exception.user_id, self.user)
        self.assertEqual(self.audit("assign").user_id, self.user)
        with self.assertRaises(UserError):
            # Not offered on this exception (nothing to replay), so not run.
            self.exception.with_user(self.user).action_board("action_replay_messages")
        with self.assertRaises(UserError):
            self.exception.with_user(self.user).action_board("unlink")

    def test_snooze_takes_the_card_off_the_board_until_then(self):
        wizard = (
            self.env["logistics.exception.board.wizard"]
            .with_user(self.user)
            .create(
                {
                    "mode": "snooze",
                    "exception_ids": [(6, 0, self.exception.ids)],
                    "snooze_until": fields.Datetime.now() + timedelta(hours=2),
                    "note": "the WMS is closed for inventory",
                }
            )
        )
        wizard.action_confirm()
        self.assertEqual(self.audit("snooze").reason, "the WMS is closed for inventory")
        on_board = self.Exception.search(self.board_domain())
        self.assertNotIn(self.exception, on_board)
        self.exception.snoozed_until = fields.Datetime.now() - timedelta(minutes=1)
        self.assertIn(self.exception, self.Exception.search(self.board_domain()))
        with self.assertRaises(UserError):
            self.exception._snooze(fields.Datetime.now() - timedelta(hours=1), "past")

    def board_domain(self):
        """The domain of the board's default filter (*On the Board*), as the view has it."""
        arch = self.env.ref("logistics_integration_base.logistics_exception_view_search").arch
        node = etree.fromstring(arch).xpath("//filter[@name='open']")[0]
        return safe_eval(node.get("domain"), {"uid": self.env.uid})

    def test_resolve_with_a_note_is_a_managers_call(self):
        Wizard = self.env["logistics.exception.board.wizard"]
        values = {
            "mode": "resolve",
            "exception_ids": [(6, 0, self.exception.ids)],
            "note": "called",
        }
        with self.assertRaises(AccessError):
            Wizard.with_user(self.user).create(values).action_confirm()
        Wizard.with_user(self.manager).create(values).action_confirm()
        self.assertTrue(self.exception.is_closed)
        self.assertEqual(self.exception.resolved_by_id, self.manager)
        self.assertEqual(self.audit("resolve").reason, "called")
        self.assertFalse(self.exception.board_actions, "a closed card offers nothing")

    def test_flow_fields_are_not_set_by_hand(self):
        for values in (
            {"grouping_key": "x"},
            {"held_by_id": self.exception.id},
            {"occurrence_count": 9},
        ):
            with self.subTest(values=values), self.assertRaises(AccessError):
                self.exception.with_user(self.manager).write(values)

    def test_digest_per_team_with_open_cards_only(self):
        self.env["logistics.team"].search([]).digest_interval = "never"
        warehouse = self.exception.team_id
        warehouse.member_ids = self.user
        transport = self.env.ref("logistics_integration_base.team_transport")
        transport.member_ids = self.manager
        (warehouse | transport).digest_interval = "hourly"
        Mail = self.env["mail.mail"]
        before = Mail.search([])
        self.assertEqual(self.Exception._cron_send_digests(), 1, "transport has no open card")
        digest = Mail.search([]) - before
        self.assertEqual(digest.recipient_ids, self.user.partner_id)
        self.assertIn("not acknowledged", digest.body_html)
        self.assertIn("1 open logistics exceptions", digest.subject)
        # Hourly: not again within the hour.
        self.assertEqual(self.Exception._cron_send_digests(), 0)
        warehouse.last_digest_at = fields.Datetime.now() - timedelta(hours=1)
        self.assertEqual(self.Exception._cron_send_digests(), 1)

    def test_a_digest_lists_several_open_cards(self):
        """A team's digest of more than one card (setup/run's first digest failed on it)."""
        self.env["logistics.team"].search([]).digest_interval = "never"
        warehouse = self.exception.team_id
        warehouse.write({"member_ids": self.user.ids, "digest_interval": "hourly"})
        self.exception.copy({"name": "A second open card", "team_id": warehouse.id})
        before = self.env["mail.mail"].search([])
        self.assertEqual(self.Exception._cron_send_digests(), 1)
        digest = self.env["mail.mail"].search([]) - before
        self.assertIn("2 open logistics exceptions", digest.subject)

    def test_reopening_a_card_whose_cause_has_a_newer_card_is_refused_clearly(self):
        values = [{"name": "carrier down", "cause": "circuit_open", "backend_id": self.carrier.id}]
        old = self.Exception._raise("partner_unavailable", values)
        resolved = self.env.ref("logistics_integration_base.exception_stage_resolved")
        old.with_user(self.manager).write({"stage_id": resolved.id, "resolution_note": "over"})
        newer = self.Exception._raise("partner_unavailable", values)
        self.assertNotEqual(newer, old)
        new_stage = self.env.ref("logistics_integration_base.exception_stage_new")
        with self.assertRaisesRegex(UserError, "work that card instead"):
            old.with_user(self.manager).write({"stage_id": new_stage.id})
