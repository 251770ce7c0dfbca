"""Live updates, server side: what a transaction changes of events, exceptions, shipments and
messages is announced on Odoo's bus once, with ids only, on the channel of the records'
company (the websocket itself: tests/test_live_updates.py)."""

import json
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

from odoo.tests import new_test_user

from odoo.addons.bus.models.bus import BusBus
from odoo.addons.logistics_integration_base.tests.common import (
    GROUP_AUDITOR,
    GROUP_USER,
    LogisticsCase,
)

from ..models.logistics_live import LIVE_CHANNEL, LIVE_NOTIFICATION


class TestLiveNotifications(LogisticsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Live Company B"})
        cls.wms_b = (
            cls.env["logistics.backend"]
            .with_company(cls.company_b)
            .create(
                {
                    "name": "WMS of B",
                    "code": "t_wms_b",
                    "kind": "wms",
                    "company_id": cls.company_b.id,
                }
            )
        )
        cls.shipment_b = cls.env["logistics.shipment"].create(
            {"name": "SHP/B/1", "company_id": cls.company_b.id}
        )

    def setUp(self):
        super().setUp()
        self.env.cr.flush()  # what the setup changed is not what the tests count
        self.sent = []
        original = BusBus._sendone

        def capture(bus, target, notification_type, message):
            if notification_type == LIVE_NOTIFICATION:
                self.sent.append((target, message))
            return original(bus, target, notification_type, message)

        self.startPatcher(patch.object(BusBus, "_sendone", capture))

    def commit(self):
        """Run what a commit runs before committing (pre-commit hooks); returns the live
        notifications sent so far as {company: payload}, and checks there is one per company."""
        self.env.cr.flush()
        companies = [target[0] for target, _payload in self.sent]
        self.assertEqual(len(companies), len(set(companies)), self.sent)
        for target, _payload in self.sent:
            self.assertEqual(target[1], LIVE_CHANNEL)
        return {target[0]: payload for target, payload in self.sent}

    def events(self, count, shipment=None, prefix="live"):
        start = datetime.now(UTC) - timedelta(hours=1)
        return [
            self.event(
                "picked",
                (start + timedelta(seconds=index)).isoformat(),
                f"{prefix}-{index}",
                shipment_ref=(shipment or self.shipment).name,
            )
            for index in range(count)
        ]

    def event_ids(self, backend, events):
        return sorted(
            self.env["logistics.event"]
            .search(
                [
                    ("backend_id", "=", backend.id),
                    ("source_event_id", "in", [event["event_id"] for event in events]),
                ]
            )
            .ids
        )

    def test_a_batch_of_events_is_one_notification_with_every_id(self):
        events = self.events(30)
        result = self.ingest(self.wms, events)
        self.assertEqual(result["accepted"], 30)
        sent = self.commit()
        self.assertEqual(list(sent), [self.company])
        self.assertEqual(
            sent[self.company],
            {
                "logistics.event": self.event_ids(self.wms, events),
                "logistics.shipment": [self.shipment.id],
            },
        )

    def test_changes_of_one_transaction_are_sent_together(self):
        exception = self.env["logistics.exception"]._raise(
            "mapping_missing", [{"name": "live", "shipment_id": self.shipment.id}]
        )
        self.shipment.write({"promised_date": datetime(2030, 1, 1)})
        message = self.env["logistics.message"].create(
            {"direction": "outbound", "backend_id": self.wms.id, "operation": "live"}
        )
        exception.write({"user_id": self.user.id})
        sent = self.commit()
        self.assertEqual(
            sent,
            {
                self.company: {
                    "logistics.exception": [exception.id],
                    "logistics.message": [message.id],
                    "logistics.shipment": [self.shipment.id],
                }
            },
        )
        # Sent: the next transaction starts with nothing to announce.
        self.sent.clear()
        self.assertEqual(self.commit(), {})

    def test_each_company_hears_of_its_own_records_only(self):
        ours, theirs = self.events(2), self.events(3, self.shipment_b, prefix="b")
        self.ingest(self.wms, ours)
        self.env["logistics.event"].sudo().ingest_events(self.wms_b.code, theirs)
        sent = self.commit()
        self.assertEqual(
            sent,
            {
                self.company: {
                    "logistics.event": self.event_ids(self.wms, ours),
                    "logistics.shipment": [self.shipment.id],
                },
                self.company_b: {
                    "logistics.event": self.event_ids(self.wms_b, theirs),
                    "logistics.shipment": [self.shipment_b.id],
                },
            },
        )

    def test_a_rolled_back_change_is_not_announced(self):
        with self.assertRaises(ZeroDivisionError), self.env.cr.savepoint():
            self.env["logistics.exception"]._raise("mapping_missing", [{"name": "gone"}])
            self.shipment.write({"promised_date": datetime(2030, 1, 1)})
            _ = 1 / 0
        self.assertEqual(self.commit(), {})

    def test_an_inbound_message_stored_by_a_webhook_is_announced(self):
        document = {"event_id": "live-inbound-1", "type": "picked"}
        message_id, _pending = self.env["logistics.message"]._store_inbound(
            self.wms, "webhook", document, json.dumps(document), document["event_id"], None
        )
        self.assertTrue(message_id)
        self.assertEqual(self.commit(), {self.company: {"logistics.message": [message_id]}})

    def test_the_live_channels_of_a_user_are_their_companies_if_they_see_the_suite(self):
        Live = self.env["logistics.live"]
        self.assertEqual(Live._live_channels(self.user), [(self.company, LIVE_CHANNEL)])
        self.assertEqual(Live._live_channels(self.auditor), [(self.company, LIVE_CHANNEL)])
        both = new_test_user(
            self.env,
            "live_both",
            groups=f"base.group_user,{GROUP_USER}",
            company_ids=[(6, 0, [self.company.id, self.company_b.id])],
        )
        self.assertCountEqual(
            Live._live_channels(both),
            [(self.company, LIVE_CHANNEL), (self.company_b, LIVE_CHANNEL)],
        )
        only_b = new_test_user(
            self.env,
            "live_b",
            groups=f"base.group_user,{GROUP_AUDITOR}",
            company_id=self.company_b.id,
            company_ids=[(6, 0, [self.company_b.id])],
        )
        self.assertEqual(Live._live_channels(only_b), [(self.company_b, LIVE_CHANNEL)])
        outsider = new_test_user(self.env, "live_outsider", groups="base.group_user")
        self.assertEqual(Live._live_channels(outsider), [])
