import json
from datetime import timedelta

import psycopg2

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters import easypost
from .common import PDF, CarrierFlowCase
from .fixtures import load_cassette, response_json


@tagged("post_install", "-at_install")
class TestCarrierFlow(CarrierFlowCase):
    """Label purchase, tracking webhooks, proof of delivery, failures and alternate routing,
    against a real HTTP partner on 127.0.0.1 answering EasyPost's recorded bodies."""

    def test_packed_parcel_gets_the_cheapest_label_once(self):
        self.buy_label()
        create, buy, label = self.partner.requests
        self.assertEqual(create[:2], ("POST", "/v2/shipments"))
        document = json.loads(create[3])["shipment"]
        self.assertEqual(document["reference"], f"{self.shipment.name}/PKG-1")
        self.assertEqual(document["parcel"]["weight"], 70.5)  # 2 kg in ounces
        self.assertEqual(document["options"], {"label_format": "PDF"})
        self.assertTrue(create[2]["Authorization"].startswith("Basic "))
        cheapest = easypost.choose_rate(easypost.parse_shipment(self.created).rates, "cheapest")
        self.assertEqual(buy[:2], ("POST", f"/v2/shipments/{self.created['id']}/buy"))
        self.assertEqual(json.loads(buy[3]), {"rate": {"id": cheapest.id}})
        self.assertEqual(label[:2], ("GET", "/labels/label.pdf"))
        buy_message = self.env["logistics.message"].search(
            [("operation", "=", "label_buy"), ("shipment_id", "=", self.shipment.id)]
        )
        self.assertEqual(buy[2]["Idempotency-Key"], buy_message.uuid)
        shipment = self.shipment
        self.assertEqual(shipment.tracking_number, self.bought["tracking_code"])
        self.assertEqual(shipment.picking_id.carrier_tracking_ref, self.bought["tracking_code"])
        self.assertEqual(shipment.label_attachment_id.raw, PDF)
        self.assertEqual(shipment.label_attachment_id.mimetype, "application/pdf")
        self.assertEqual(shipment.label_attachment_id.res_id, shipment.picking_id.id)
        self.assertEqual(shipment.carrier_backend_id, self.carrier)
        self.assertEqual(shipment.status_code, "label_created")
        self.assertEqual(shipment.freight_estimate, cheapest.amount)
        # A second packed event (a re-sent confirmation) buys nothing.
        self.packed("wms-packed-2")
        self.assertEqual(len(self.partner.requests), 3)

    def test_cash_on_delivery_goes_with_the_label_and_comes_back_collected(self):
        self.shipment.cod_amount = 150.0
        self.buy_label()
        create = self.partner.requests[0]
        options = json.loads(create[3])["shipment"]["options"]
        self.assertEqual(
            options,
            {
                "label_format": "PDF",
                "cod_amount": "150.00",
                "cod_method": "CASH",
                "currency": "USD",
            },
        )
        self.assertTrue(self.shipment.cod_locked)
        with self.assertRaises(UserError):
            self.shipment.cod_amount = 100.0
        self.deliver_webhook(
            self.tracker_event("delivered", "arrived_at_destination", "evt_dlv", signed_by="J. Doe")
        )
        collected = self.tracker_event("delivered", "cod_collected", "evt_cod_collected")
        collected["result"]["tracking_details"][0].update(cod_amount="150.00", cod_currency="USD")
        self.assertEqual(self.deliver_webhook(collected)["accepted"], 1)
        event = self.shipment.event_ids.filtered(lambda e: e.type_id.code == "cod_collected")
        self.assertEqual(event.state, "applied")
        self.assertEqual((event.payload["amount"], event.payload["currency"]), (150.0, "USD"))
        self.assertEqual(self.shipment.status_code, "delivered")

    def test_tracking_webhooks_walk_to_proof_of_delivery(self):
        self.buy_label()
        secret_body = json.dumps(self.tracker_event("in_transit", "arrived_at_facility", "evt_1"))
        raw = secret_body.encode()
        headers = {"X-Hmac-Signature": easypost.sign(raw, "whsec_carrier")}
        self.carrier._verify_webhook_signature(headers, raw)
        with self.assertRaises(ValueError):
            self.carrier._verify_webhook_signature({"X-Hmac-Signature": "hmac-sha256-hex=00"}, raw)
        steps = [
            ("pre_transit", "status_update", "evt_0"),
            ("in_transit", "arrived_at_facility", "evt_01"),
            ("out_for_delivery", "out_for_delivery", "evt_012"),
        ]
        for status, detail, event_id in steps:
            self.assertEqual(
                self.deliver_webhook(self.tracker_event(status, detail, event_id))["accepted"], 1
            )
        result = self.deliver_webhook(
            self.tracker_event(
                "delivered", "arrived_at_destination", "evt_0123", signed_by="J. Doe"
            )
        )
        self.assertEqual(result["accepted"], 1)
        shipment = self.shipment
        self.assertEqual(shipment.status_code, "delivered")
        self.assertEqual(shipment.pod_signed_by, "J. Doe")
        self.assertTrue(shipment.delivered_at)
        mails = self.env["mail.mail"].search(
            [("model", "=", "logistics.shipment"), ("res_id", "=", shipment.id)]
        )
        self.assertEqual(len(mails), 1)
        self.assertIn("was delivered", mails.subject)
        self.assertIn("J. Doe", mails.body_html)
        # The same delivery again: a duplicate, and no second email.
        again = self.tracker_event("delivered", "arrived_at_destination", "evt_0123")
        self.assertEqual(self.deliver_webhook(again)["duplicates"], 1)
        self.assertEqual(
            self.env["mail.mail"].search_count(
                [("model", "=", "logistics.shipment"), ("res_id", "=", shipment.id)]
            ),
            1,
        )

    def test_failure_raises_delivery_failed_with_reason_and_tells_the_customer(self):
        self.buy_label()
        self.deliver_webhook(self.tracker_event("failure", "address_not_found", "evt_f"))
        shipment = self.shipment
        self.assertEqual(shipment.status_code, "exception")
        exception = shipment.exception_ids.filtered(lambda e: e.type_code == "delivery_failed")
        self.assertEqual(len(exception), 1)
        self.assertIn("address_invalid", exception.name)
        self.assertTrue(exception.suggested_actions)
        mail = self.env["mail.mail"].search(
            [("model", "=", "logistics.shipment"), ("res_id", "=", shipment.id)]
        )
        self.assertIn("A problem with the delivery", mail.subject)

    def test_shipped_email_carries_the_tracking_number(self):
        self.buy_label()
        self.env["logistics.event"].ingest_events(
            self.wms.code,
            [self.event("shipped", fields.Datetime.now().isoformat() + "+00:00", "wms-ship-1")],
        )
        mail = self.env["mail.mail"].search(
            [("model", "=", "logistics.shipment"), ("res_id", "=", self.shipment.id)]
        )
        self.assertIn("has shipped", mail.subject)
        self.assertIn(self.shipment.tracking_number, mail.body_html)
        self.assertIn("customer@example.com", mail.email_to or mail.recipient_ids.email or "")

    def test_shipped_without_packed_buys_the_label_then_and_emails_once_it_is_known(self):
        """A WMS's shipped confirmation with no packed one before it: the label is bought then
        (one per package, the whole transfer here), and the customer is emailed once the
        tracking number is known. The packed confirmation that comes late buys nothing."""
        self.partner.answer(201, self.created).answer(200, self.bought).answer(200, PDF)
        domain = [("model", "=", "logistics.shipment"), ("res_id", "=", self.shipment.id)]
        with trap_jobs() as trap:
            self.env["logistics.event"].ingest_events(
                self.wms.code,
                [self.event("shipped", fields.Datetime.now().isoformat() + "+00:00", "wms-ship")],
            )
            self.assertFalse(self.env["mail.mail"].search(domain), "no tracking number yet")
            self.run_jobs(trap)
        package = self.shipment.package_ids
        self.assertEqual(package.name, self.shipment.picking_id.name)
        self.assertEqual(package.source, "transfer")
        self.assertEqual(package.tracking_number, self.bought["tracking_code"])
        mail = self.env["mail.mail"].search(domain)
        self.assertEqual(len(mail), 1)
        self.assertIn(self.shipment.tracking_number, mail.body_html)
        self.packed()  # late, with its own package list
        self.assertEqual(self.shipment.package_ids, package)
        self.assertEqual(len(self.partner.requests), 3)
        self.assertIn("after the labels of", self.shipment.message_ids[0].body)

    def test_unmapped_and_other_events_record_nothing(self):
        self.buy_label()
        self.assertEqual(
            self.carrier._parse_webhook_events(self.tracker_event("unknown", None, "evt_u")), []
        )
        self.assertEqual(
            self.carrier._parse_webhook_events(
                {"object": "Event", "id": "evt_b", "description": "batch.created", "result": {}}
            ),
            [],
        )

    def test_label_failure_routes_to_the_alternate_carrier_in_one_click(self):
        error = response_json(load_cassette("test_error")[0])
        self.partner.answer(201, self.created).answer(422, error)
        self.packed()
        exception = self.shipment.exception_ids.filtered(lambda e: e.type_code == "label_failed")
        self.assertEqual(len(exception), 1)
        self.assertIn(error["error"]["code"], exception.description)
        self.assertEqual(exception.backend_id, self.carrier)
        self.partner.answer(201, self.created).answer(200, self.bought).answer(200, PDF)
        with trap_jobs() as trap:
            exception.action_route_alternate_carrier()
            self.run_jobs(trap)
        self.assertEqual(self.shipment.carrier_backend_id, self.alternate)
        self.assertEqual(self.shipment.status_code, "label_created")
        self.assertTrue(exception.is_closed)
        self.assertTrue(exception.auto_resolved)
        buy = self.env["logistics.message"].search(
            [("operation", "=", "label_buy"), ("backend_id", "=", self.alternate.id)]
        )
        self.assertEqual(buy.state, "done")

    def test_reroute_clicked_twice_buys_one_label(self):
        exception = self.label_failed_at_the_first_carrier().with_user(self.manager)
        self.assertEqual(self.shipment.label_purchase_id.state, "failed")
        self.partner.answer(201, self.created).answer(200, self.bought).answer(200, PDF)
        shipment = self.shipment
        with trap_jobs() as trap:
            exception.action_route_alternate_carrier()
            purchase = shipment.label_purchase_id
            self.assertEqual((purchase.state, purchase.backend_id), ("in_progress", self.alternate))
            # The second click, before the first purchase is through.
            with self.assertRaises(UserError) as refusal:
                exception.action_route_alternate_carrier()
            self.assertEqual(
                str(refusal.exception),
                f"A label purchase for {shipment.name} is already in progress (message "
                f"#{purchase.message_id.id}, Alternate Carrier): wait for its outcome.",
            )
            self.run_jobs(trap)
        buy_path = f"/v2/shipments/{self.created['id']}/buy"
        self.assertEqual(
            self.outbound_calls()[2:],
            [("POST", "/v2/shipments"), ("POST", buy_path), ("GET", "/labels/label.pdf")],
        )
        self.assertEqual(shipment.label_purchase_ids.mapped("state"), ["bought", "failed"])
        self.assertEqual(purchase.tracking_number, self.bought["tracking_code"])
        self.assertEqual(purchase.message_id.operation, "label_buy")
        self.assertEqual(
            purchase.message_ids.mapped("operation"), ["label_buy", "carrier_shipment_create"]
        )
        # Again once the label is bought (a stale browser tab, say): refused, nothing sent.
        with self.assertRaises(UserError) as refusal:
            exception.action_route_alternate_carrier()
        self.assertEqual(
            str(refusal.exception), f"{shipment.name} went to Alternate Carrier already."
        )
        self.assertEqual(len(self.partner.requests), 5)
        self.assertEqual(len(shipment.label_purchase_ids), 2)

    def test_replaying_the_failed_purchase_after_a_reroute_is_refused(self):
        exception = self.label_failed_at_the_first_carrier()
        dead_buy = self.env["logistics.message"].search(
            [("operation", "=", "label_buy"), ("backend_id", "=", self.carrier.id)]
        )
        self.assertEqual(dead_buy.state, "dead")
        self.partner.answer(201, self.created).answer(200, self.bought).answer(200, PDF)
        with trap_jobs() as trap:
            exception.action_route_alternate_carrier()
            self.run_jobs(trap)
        with self.assertRaises(UserError) as refusal:
            dead_buy.with_user(self.manager).action_replay("the first carrier is fixed")
        self.assertIn("already has a label", str(refusal.exception))
        self.assertFalse(dead_buy.replay_ids)
        self.assertEqual(len(self.partner.requests), 5)

    def test_replaying_a_failed_purchase_takes_it_up_again(self):
        self.label_failed_at_the_first_carrier()
        failed = self.shipment.label_purchase_id
        dead_buy = failed.message_id
        self.assertEqual((dead_buy.operation, dead_buy.state), ("label_buy", "dead"))
        self.partner.answer(200, self.bought).answer(200, PDF)
        with trap_jobs() as trap:
            (replay,) = dead_buy.with_user(self.manager).action_replay("rate fixed")
            self.assertEqual((failed.state, failed.message_id), ("in_progress", replay))
            self.run_jobs(trap)
        self.assertEqual(failed.state, "bought")
        self.assertEqual(self.shipment.tracking_number, self.bought["tracking_code"])

    def test_a_purchase_the_carrier_never_answered_holds_the_shipment(self):
        """Timeouts or 5xx until the last attempt: the carrier may have sold the label. The
        purchase's outcome is unknown, a reroute is refused, and its replay sends the same
        Idempotency-Key (the carrier answers with the label it sold, not a second one)."""
        self.carrier.write({"max_attempts": 2, "backoff_base": 0.01})
        self.partner.answer(201, self.created).answer(503, {}).answer(503, {})
        self.packed()
        purchase = self.shipment.label_purchase_id
        dead_buy = purchase.message_id
        self.assertEqual((dead_buy.operation, dead_buy.state), ("label_buy", "dead"))
        self.assertEqual(purchase.state, "unconfirmed")
        exception = self.shipment.exception_ids.filtered(lambda e: e.type_code == "label_failed")
        self.assertIn("the label may have been bought", exception.description)
        with self.assertRaises(UserError) as refusal:
            exception.with_user(self.manager).action_route_alternate_carrier()
        self.assertEqual(
            str(refusal.exception),
            f"The label purchase for {self.shipment.name} got no answer from Test Carrier "
            f"(message #{dead_buy.id}): the label may have been bought. Replay that message "
            "(same Idempotency-Key: the carrier answers with the label if it sold one), or mark "
            "the purchase failed once you checked on the carrier that it sold none.",
        )
        # A Logistics User can't reroute at all: the call pays for a label.
        with self.assertRaisesRegex(UserError, "Only Logistics Managers can buy a label"):
            exception.with_user(self.user).action_route_alternate_carrier()
        self.partner.answer(200, self.bought).answer(200, PDF)
        with trap_jobs() as trap:
            (replay,) = dead_buy.with_user(self.manager).action_replay("carrier back up")
            self.run_jobs(trap)
        self.assertEqual(replay.uuid, dead_buy.uuid)
        buys = [r for r in self.partner.requests if r[1].endswith("/buy")]
        self.assertEqual(len(buys), 3)
        self.assertEqual(
            {headers["Idempotency-Key"] for _m, _p, headers, _b in buys}, {dead_buy.uuid}
        )
        self.assertEqual(purchase.state, "bought")
        self.assertEqual(len(self.shipment.label_purchase_ids), 1)

    def test_an_unconfirmed_purchase_is_marked_failed_by_a_manager_only(self):
        self.carrier.write({"max_attempts": 1})
        self.partner.answer(201, self.created).answer(504, {})
        self.packed()
        purchase = self.shipment.label_purchase_id
        self.assertEqual(purchase.state, "unconfirmed")
        with self.assertRaisesRegex(UserError, "Only Logistics Managers"):
            purchase.with_user(self.user).action_mark_failed()
        purchase.with_user(self.manager).action_mark_failed()
        self.assertEqual(purchase.state, "failed")
        self.assertIn("Marked failed by", purchase.failure)
        exception = self.shipment.exception_ids.filtered(lambda e: e.type_code == "label_failed")
        self.partner.answer(201, self.created).answer(200, self.bought).answer(200, PDF)
        with trap_jobs() as trap:
            exception.with_user(self.manager).action_route_alternate_carrier()
            self.run_jobs(trap)
        self.assertEqual(self.shipment.label_purchase_id.state, "bought")
        self.assertEqual(self.shipment.carrier_backend_id, self.alternate)

    def test_one_active_purchase_per_package_is_enforced_by_the_database(self):
        self.buy_label()
        Label = self.env["logistics.carrier.label"]
        package = self.shipment.package_ids
        self.assertEqual(package.name, "PKG-1")
        for state in ("in_progress", "unconfirmed", "bought"):
            with (
                self.assertRaises(psycopg2.errors.UniqueViolation),
                mute_logger("odoo.sql_db"),
                self.env.cr.savepoint(),
            ):
                Label.create(
                    {
                        "shipment_id": self.shipment.id,
                        "package_id": package.id,
                        "backend_id": self.alternate.id,
                        "state": state,
                    }
                )
        # Failed purchases and refunds asked don't hold the package.
        for state in ("failed", "refund_submitted"):
            Label.create(
                {
                    "shipment_id": self.shipment.id,
                    "package_id": package.id,
                    "backend_id": self.alternate.id,
                    "state": state,
                }
            )
        self.assertEqual(len(self.shipment.label_purchase_ids), 3)

    def test_silent_tracking_raises_missing_tracking_until_it_moves(self):
        """The carrier's promises are SLA policies shipped as data (they replaced the backend's
        tracking silence and its cron): a first scan within 24 hours of the label, then a
        tracking event at least every 48 hours."""
        self.buy_label()
        Sla = self.env["logistics.shipment.sla"]
        first_scan = self.env.ref("logistics_carrier_connector.sla_policy_first_scan")
        silence = self.env.ref("logistics_carrier_connector.sla_policy_tracking_silence")
        row = self.shipment.sla_ids.filtered(lambda r: r.policy_id == first_scan)
        self.assertEqual(row.due_at, row.started_at + timedelta(hours=24))
        Sla._evaluate_policy(first_scan, now=row.due_at + timedelta(hours=1))
        pickup = self.shipment.exception_ids.filtered(lambda e: e.type_code == "delayed_pickup")
        self.assertEqual(len(pickup), 1)
        self.deliver_webhook(self.tracker_event("in_transit", "arrived_at_facility", "evt_m"))
        self.assertEqual(row.state, "met")
        self.assertTrue(pickup.is_closed)

        watch = self.shipment.sla_ids.filtered(lambda r: r.policy_id == silence)
        self.assertEqual(watch.due_at, watch.started_at + timedelta(hours=48))
        Sla._evaluate_policy(silence, now=watch.due_at + timedelta(hours=1))
        Sla._evaluate_policy(silence, now=watch.due_at + timedelta(hours=2))
        exception = self.shipment.exception_ids.filtered(
            lambda e: e.type_code == "missing_tracking"
        )
        self.assertEqual((len(exception), exception.occurrence_count), (1, 1))
        self.deliver_webhook(
            self.tracker_event("out_for_delivery", "out_for_delivery", "evt_n_later")
        )
        self.assertEqual(watch.state, "on_time")
        self.assertTrue(exception.is_closed)
