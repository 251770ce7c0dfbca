"""The forms of issue 13 (item 3) in a real headless Chromium, as a Logistics Manager uses them
(tours in static/tests/tours/logistics_forms_tours.js)."""

import json

from odoo.tests import HttpCase, new_test_user, tagged

from .common import GROUP_MANAGER, GROUP_USER


@tagged("post_install", "-at_install")
class TestFormsInBrowser(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["logistics.subscription"].search([]).unlink()
        new_test_user(
            cls.env,
            "forms_manager",
            password="forms_manager",
            groups=f"base.group_user,{GROUP_USER},{GROUP_MANAGER}",
        )
        cls.backend = cls.env["logistics.backend"].create(
            {"name": "Forms Carrier", "code": "forms_carrier", "kind": "carrier"}
        )

    def test_a_manager_replays_a_mapping_missing_exception_from_its_form(self):
        event = {
            "type": "in_transit",
            "occurred_at": "2026-11-22T10:00:00+00:00",
            "event_id": "evt-forms-1",
            "shipment_ref": "SHP/NOWHERE/1",
        }
        Message = self.env["logistics.message"]
        message_id, _pending = Message._store_inbound(
            self.backend, "webhook", event, json.dumps(event), event["event_id"], None
        )
        message = Message.browse(message_id)
        self.backend.sudo()._process_inbound(message)
        exception = self.env["logistics.exception"].search([("message_id", "=", message.id)])
        self.assertEqual((message.state, exception.type_code), ("dead", "mapping_missing"))

        self.start_tour(
            f"/odoo/logistics.exception/{exception.id}",
            "logistics_exception_replay",
            login="forms_manager",
        )
        replay = Message.search([("replay_of_id", "=", message.id)])
        self.assertEqual(len(replay), 1)
        self.assertEqual(replay.payload, event)
        audit = self.env["logistics.audit.log"].search(
            [("model", "=", "logistics.message"), ("res_id", "=", message.id)]
        )
        self.assertIn("The shipment exists now", audit.mapped("reason"))
