"""A Replay button wherever an exception's suggested actions say "replay" and there is a message
to replay: mapping_missing (an event whose shipment Odoo doesn't know) included. It opens the
replay wizard on the exception's dead messages, for Logistics Managers, and the replay goes
through the usual pipeline."""

import json

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import LogisticsCase


@tagged("post_install", "-at_install")
class TestExceptionReplay(LogisticsCase):
    def unmatched_webhook(self, reference="SHP/UNKNOWN/1"):
        """An inbound webhook message naming a shipment Odoo doesn't have, processed: dead, with
        a mapping_missing exception."""
        event = {
            "type": "in_transit",
            "occurred_at": "2026-11-22T10:00:00+00:00",
            "event_id": f"evt-{reference}",
            "shipment_ref": reference,
        }
        Message = self.env["logistics.message"]
        message_id, _pending = Message._store_inbound(
            self.carrier, "webhook", event, json.dumps(event), event["event_id"], None
        )
        message = Message.browse(message_id)
        self.carrier.sudo()._process_inbound(message)
        exception = self.env["logistics.exception"].search([("message_id", "=", message.id)])
        return message, exception

    def test_mapping_missing_offers_the_replay_of_its_dead_message(self):
        message, exception = self.unmatched_webhook()
        self.assertEqual(message.state, "dead")
        self.assertEqual(exception.type_code, "mapping_missing")
        self.assertIn("replay", exception.suggested_actions)
        self.assertEqual(exception.replay_message_ids, message)

        action = exception.with_user(self.manager).action_replay_messages()
        self.assertEqual(action["res_model"], "logistics.replay.wizard")
        wizard = (
            self.env["logistics.replay.wizard"]
            .with_user(self.manager)
            .with_context(**action["context"])
            .create({"reason": "the shipment exists now"})
        )
        self.assertEqual(wizard.message_ids, message)
        self.assertEqual(wizard.mode, "selection")
        replays = wizard.action_replay()
        replay = self.env["logistics.message"].search(replays["domain"])
        self.assertEqual(replay.replay_of_id, message)
        self.assertEqual(replay.state, "queued")
        # Replayed: nothing left to replay from the exception.
        exception.invalidate_recordset(["replay_message_ids"])
        self.assertFalse(exception.replay_message_ids)

    def test_no_replay_button_without_a_dead_message_or_once_closed(self):
        _message, exception = self.unmatched_webhook()
        # Closed: nothing left to replay from it.
        exception._close_automatically("done")
        self.assertFalse(exception.replay_message_ids)
        # A failed delivery reported by the carrier: no message of ours to replay.
        delivery = self.env["logistics.exception"]._raise(
            "delivery_failed",
            [{"name": "not delivered", "shipment_id": self.shipment.id}],
        )
        self.assertNotIn("replay", delivery.suggested_actions)
        self.assertFalse(delivery.replay_message_ids)
        with self.assertRaisesRegex(UserError, "no dead message"):
            delivery.with_user(self.manager).action_replay_messages()

    def test_the_button_is_shown_to_managers_on_the_exception_form(self):
        form = self.env.ref("logistics_integration_base.logistics_exception_view_form").id
        Exception_ = self.env["logistics.exception"]
        arch = Exception_.with_user(self.manager).get_view(form)["arch"]
        self.assertRegex(
            arch, r'<button name="action_replay_messages"[^>]*invisible="not replay_message_ids"'
        )
        self.assertNotIn(
            "action_replay_messages", Exception_.with_user(self.user).get_view(form)["arch"]
        )
        _message, exception = self.unmatched_webhook()
        with self.assertRaisesRegex(AccessError, "Managers"):
            exception.with_user(self.user).action_replay_messages()
