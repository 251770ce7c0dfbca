import threading
import time

from odoo import api
from odoo.exceptions import UserError
from odoo.service.model import retrying
from odoo.tests import TransactionCase, tagged

from odoo.addons.logistics_integration_base.tests.partner_server import (
    LoopbackPartnerMixin,
    ScriptedPartner,
)

from .fixtures import load_cassette, response_json

PDF = b"%PDF-1.4\n% a label\n%%EOF\n"


@tagged("post_install", "-at_install")
class TestConcurrentReroute(LoopbackPartnerMixin, TransactionCase):
    """Two managers click *Route to Alternate Carrier* at the same time, each in a transaction
    of its own (two browsers): one label purchase, one carrier shipment and one purchase call
    reach the carrier; the other click is refused with the reason. Needs committed data, so it
    commits and cleans up."""

    def setUp(self):
        super().setUp()
        self.partner = ScriptedPartner().__enter__()
        self.addCleanup(self.partner.__exit__)
        created = response_json(load_cassette("test_shipment_create")[0])
        bought = response_json(load_cassette("test_shipment_buy")[-1])
        bought["postage_label"]["label_pdf_url"] = f"{self.partner.url}/labels/label.pdf"
        self.partner.answer(201, created).answer(200, bought).answer(200, PDF)
        self.tracking = bought["tracking_code"]
        self.created_id = created["id"]
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            cr.execute("SELECT COALESCE(max(id), 0) FROM queue_job")
            self.jobs_before = cr.fetchone()[0]
            backends = env["logistics.backend"].create(
                [
                    {
                        "name": name,
                        "code": code,
                        "kind": "carrier",
                        "adapter": "easypost",
                        "base_url": self.partner.url,
                        "auth_type": "basic",
                        "sequence": sequence,
                    }
                    for name, code, sequence in (
                        ("Race Carrier", "t_race_carrier", 1),
                        ("Race Alternate", "t_race_alternate", 2),
                    )
                ]
            )
            backends.write({"api_key": "EZTK_race"})
            shipment = env["logistics.shipment"].create({"name": "SHP/RACE/1"})
            exception = env["logistics.exception"]._raise(
                "label_failed",
                [{"name": "No label", "shipment_id": shipment.id, "backend_id": backends[0].id}],
            )
            self.ids = {
                "backends": backends.ids,
                "shipment": shipment.id,
                "exception": exception.id,
            }
        self.addCleanup(self.delete_committed_data)

    def delete_committed_data(self):
        with self.registry.cursor() as cr:
            shipment, backends = self.ids["shipment"], tuple(self.ids["backends"])
            cr.execute("DELETE FROM queue_job WHERE id > %s", [self.jobs_before])
            cr.execute(
                "DELETE FROM mail_message WHERE (model = 'logistics.exception' AND res_id IN"
                " (SELECT id FROM logistics_exception WHERE shipment_id = %s))"
                " OR (model = 'logistics.shipment' AND res_id = %s)",
                [shipment, shipment],
            )
            cr.execute("DELETE FROM logistics_event WHERE shipment_id = %s", [shipment])
            cr.execute(
                "UPDATE logistics_carrier_label SET message_id = NULL WHERE shipment_id = %s",
                [shipment],
            )
            cr.execute(
                "DELETE FROM logistics_message_attempt WHERE message_id IN"
                " (SELECT id FROM logistics_message WHERE shipment_id = %s)",
                [shipment],
            )
            cr.execute(
                "DELETE FROM logistics_exception WHERE shipment_id = %s OR backend_id IN %s",
                [shipment, backends],
            )
            cr.execute(
                "UPDATE logistics_shipment SET label_purchase_id = NULL WHERE id = %s", [shipment]
            )
            cr.execute("DELETE FROM logistics_message WHERE shipment_id = %s", [shipment])
            cr.execute("DELETE FROM logistics_carrier_label WHERE shipment_id = %s", [shipment])
            cr.execute(
                "DELETE FROM ir_attachment WHERE res_model = 'logistics.shipment' AND res_id = %s",
                [shipment],
            )
            cr.execute("DELETE FROM logistics_shipment WHERE id = %s", [shipment])
            cr.execute(
                "DELETE FROM logistics_audit_log"
                " WHERE model = 'logistics.backend' AND res_id IN %s",
                [backends],
            )
            cr.execute("DELETE FROM logistics_backend WHERE id IN %s", [backends])

    def test_two_reroutes_at_the_same_time_buy_one_label(self):
        registry = self.registry
        both_reading = threading.Barrier(2, timeout=10)
        results, errors, seen = {}, [], {}

        def click(name):
            try:
                with registry.cursor() as cr:
                    env = api.Environment(cr, api.SUPERUSER_ID, {})
                    tries = []

                    def reroute():
                        exception = env["logistics.exception"].browse(self.ids["exception"])
                        if not tries:
                            # Both transactions read the shipment (their snapshots) before
                            # either has bought anything: each sees no purchase.
                            seen[name] = exception.shipment_id.label_purchase_id.id
                            both_reading.wait()
                        tries.append(name)
                        exception.action_route_alternate_carrier()
                        time.sleep(0.5)  # the first holds its transaction open a while

                    retrying(reroute, env)
                    results[name] = ("routed", len(tries))
            except UserError as refusal:
                results[name] = ("refused", len(tries), str(refusal))
            except Exception as error:  # reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=click, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertFalse(errors, errors)
        self.assertEqual(seen, {"a": False, "b": False})
        outcomes = sorted(results.values())
        self.assertEqual(outcomes[1], ("routed", 1))
        refused, tries, reason = outcomes[0]
        self.assertEqual(refused, "refused")
        # Its first try was stopped by the database (the shipment's row, changed by the
        # committed purchase: a serialization failure), Odoo retried it, and the retry saw the
        # purchase.
        self.assertEqual(tries, 2)
        self.assertRegex(
            reason,
            r"^A label purchase for SHP/RACE/1 is already in progress \(message #\d+, "
            r"Race Alternate\): wait for its outcome\.$",
        )

        # The carrier gets the one purchase: its messages are delivered as the jobs would.
        with registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            Message = env["logistics.message"]
            domain = [
                ("shipment_id", "=", self.ids["shipment"]),
                ("operation", "in", ("carrier_shipment_create", "label_buy")),
            ]
            for _round in range(3):
                for message in Message.search([*domain, ("state", "=", "queued")]):
                    message._deliver()
            messages = Message.search(domain, order="id")
            self.assertEqual(
                [(m.operation, m.state) for m in messages],
                [("carrier_shipment_create", "done"), ("label_buy", "done")],
            )
            purchases = env["logistics.carrier.label"].search(
                [("shipment_id", "=", self.ids["shipment"])]
            )
            self.assertEqual(purchases.mapped("state"), ["bought"])
            self.assertEqual(purchases.tracking_number, self.tracking)
            self.assertEqual(purchases.backend_id.code, "t_race_alternate")
        buy_path = f"/v2/shipments/{self.created_id}/buy"
        self.assertEqual(
            [request[:2] for request in self.partner.requests],
            [("POST", "/v2/shipments"), ("POST", buy_path), ("GET", "/labels/label.pdf")],
        )
