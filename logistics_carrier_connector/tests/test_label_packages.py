import io
import json

from odoo import fields
from odoo.tests import tagged
from odoo.tools.pdf import PdfFileReader

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import CarrierFlowCase, label_pdf

TWO_PACKAGES = [
    {"reference": "PKG-A", "weight": 3.0, "weight_unit": "kg"},
    {"reference": "PKG-B", "weight": 4.5, "weight_unit": "kg", "length": 30, "width": 20},
]


@tagged("post_install", "-at_install")
class TestLabelPackages(CarrierFlowCase):
    """One parcel, label and tracking number per package; a shipment delivered when all its
    packages are; reroutes that refund the first carrier's labels before buying again."""

    def setUp(self):
        super().setUp()
        self.pdf = label_pdf()
        self.labels = self.two_carrier_labels()

    def answer_both(self):
        """The carrier's answers in the order the jobs call it: both shipments rated, then
        each label bought and downloaded."""
        (created_a, bought_a), (created_b, bought_b) = self.labels["a"], self.labels["b"]
        self.partner.answer(201, created_a).answer(201, created_b)
        self.partner.answer(200, bought_a).answer(200, self.pdf)
        self.partner.answer(200, bought_b).answer(200, self.pdf)

    def test_two_packages_get_two_labels_and_two_tracking_numbers(self):
        self.answer_both()
        self.packed(packages=TWO_PACKAGES)
        shipment = self.shipment
        creates = [r for r in self.partner.requests if r[1] == "/v2/shipments"]
        parcels = [json.loads(r[3])["shipment"]["parcel"] for r in creates]
        self.assertEqual(
            parcels,
            [{"weight": 105.8}, {"weight": 158.7, "length": 11.8, "width": 7.9}],
        )
        references = [json.loads(r[3])["shipment"]["reference"] for r in creates]
        self.assertEqual(references, [f"{shipment.name}/PKG-A", f"{shipment.name}/PKG-B"])
        packages = shipment.package_ids
        self.assertEqual(packages.mapped("tracking_number"), ["TRK-A", "TRK-B"])
        self.assertEqual(
            packages.mapped("tracking_url"), ["https://track.example/a", "https://track.example/b"]
        )
        self.assertEqual(shipment.tracking_number, "TRK-A,TRK-B")
        self.assertEqual(shipment.picking_id.carrier_tracking_ref, "TRK-A,TRK-B")
        self.assertEqual(shipment.label_purchase_ids.mapped("state"), ["bought", "bought"])
        self.assertTrue(all(packages.mapped("label_attachment_id")))
        # The transfer's labels: one PDF of both pages, opened in the browser.
        merged = shipment.label_attachment_id
        self.assertEqual(
            (merged.res_model, merged.res_id), ("stock.picking", shipment.picking_id.id)
        )
        self.assertEqual(len(PdfFileReader(io.BytesIO(merged.raw)).pages), 2)
        merged_pdfs = self.env["ir.attachment"].search(
            [("res_model", "=", "stock.picking"), ("name", "=like", "Labels-%")]
        )
        self.assertEqual(merged_pdfs, merged, "one merged PDF, not one per label bought")
        action = shipment.picking_id.action_open_logistics_labels()
        self.assertEqual(action["url"], f"/web/content/{merged.id}?download=false")
        # One label_created milestone, once every package has its label.
        created = shipment.event_ids.filtered(lambda e: e.type_id.code == "label_created")
        self.assertEqual(len(created), 1)
        self.assertEqual(
            [label["tracking_number"] for label in created.payload["labels"]], ["TRK-A", "TRK-B"]
        )
        self.assertEqual(shipment.status_code, "label_created")
        # A packed confirmation sent again buys nothing.
        self.packed("wms-packed-again", packages=TWO_PACKAGES)
        self.assertEqual(len(self.partner.requests), 6)

    def tracked(self, tracking_code, status, status_detail, event_id):
        body = self.tracker_event(status, status_detail, event_id, tracking_code=tracking_code)
        return self.deliver_webhook(body)

    def test_each_package_is_tracked_and_the_shipment_is_delivered_with_the_last(self):
        self.answer_both()
        self.packed(packages=TWO_PACKAGES)
        shipment = self.shipment
        package_a, package_b = shipment.package_ids
        self.tracked("TRK-A", "in_transit", "arrived_at_facility", "evt_a1")
        self.assertEqual(package_a.status_code, "in_transit")
        self.assertEqual(shipment.status_code, "label_created", "package B is not moving yet")
        self.tracked("TRK-A", "delivered", "arrived_at_destination", "evt_a22")
        self.assertEqual(package_a.status_code, "delivered")
        self.assertNotEqual(shipment.status_code, "delivered")
        self.assertFalse(shipment.delivered_at)
        self.tracked("TRK-B", "in_transit", "arrived_at_facility", "evt_b333")
        self.assertEqual(shipment.status_code, "in_transit")
        result = self.tracked("TRK-B", "delivered", "arrived_at_destination", "evt_b4444")
        self.assertEqual(result["accepted"], 1)
        self.assertEqual(package_b.status_code, "delivered")
        self.assertEqual(shipment.status_code, "delivered")
        self.assertTrue(shipment.delivered_at)
        events = shipment.event_ids.filtered(lambda e: e.package_id)
        self.assertEqual(len(events), 4)
        self.assertEqual(set(events.mapped("state")), {"applied"})
        mails = self.env["mail.mail"].search(
            [("model", "=", "logistics.shipment"), ("res_id", "=", shipment.id)]
        )
        self.assertEqual(sum("delivered" in (m.subject or "") for m in mails), 1)

    def test_reroute_refunds_the_first_label_then_buys_every_package_at_the_next_carrier(self):
        """Package A bought at the first carrier, package B refused: routing to the alternate
        carrier asks the first one to refund A's unused label before buying both there."""
        error = {"error": {"code": "ADDRESS.VERIFY.FAILURE", "message": "Unable to verify"}}
        (created_a, bought_a), (created_b, _bought_b) = self.labels["a"], self.labels["b"]
        self.partner.answer(201, created_a).answer(201, created_b)
        self.partner.answer(200, bought_a).answer(200, self.pdf).answer(422, error)
        self.packed(packages=TWO_PACKAGES)
        shipment = self.shipment
        failed = shipment.label_purchase_ids.filtered(lambda p: p.state == "failed")
        bought = shipment.label_purchase_ids.filtered(lambda p: p.state == "bought")
        self.assertEqual((len(failed), len(bought)), (1, 1))
        exception = shipment.exception_ids.filtered(lambda e: e.type_code == "label_failed")
        self.assertIn(failed.package_id.name, exception.name)
        before = len(self.partner.requests)
        refund_answer = dict(bought_a, refund_status="submitted")
        self.partner.answer(200, refund_answer)
        self.answer_both()
        with trap_jobs() as trap:
            exception.with_user(self.manager).action_route_alternate_carrier()
            self.run_jobs(trap)
        calls = [request[:2] for request in self.partner.requests[before:]]
        self.assertEqual(calls[0], ("POST", f"/v2/shipments/{bought.carrier_shipment_ref}/refund"))
        self.assertEqual(calls.count(("POST", "/v2/shipments")), 2)
        first = shipment.label_purchase_ids.filtered(lambda p: p.backend_id == self.carrier)
        self.assertEqual(sorted(first.mapped("state")), ["failed", "refund_submitted"])
        alternate = shipment.label_purchase_ids.filtered(lambda p: p.backend_id == self.alternate)
        self.assertEqual(alternate.mapped("state"), ["bought", "bought"])
        self.assertEqual(sorted(shipment.tracking_number.split(",")), ["TRK-A", "TRK-B"])
        self.assertTrue(exception.is_closed)
        # EasyPost settles the refund later: its refund.successful Event.
        self.deliver_refund_event(bought.carrier_shipment_ref, "refunded")
        self.assertEqual(bought.state, "refunded")

    def test_a_rejected_refund_is_an_exception_a_person_sees(self):
        created_a, bought_a = self.labels["a"]
        self.partner.answer(201, created_a).answer(200, bought_a).answer(200, self.pdf)
        self.packed(packages=TWO_PACKAGES[:1])
        purchase = self.shipment.label_purchase_ids
        self.partner.answer(200, dict(bought_a, refund_status="submitted"))
        with trap_jobs() as trap:
            self.shipment._cancel_labels("test")
            self.run_jobs(trap)
        self.assertEqual(purchase.state, "refund_submitted")
        self.assertFalse(self.shipment.package_ids.tracking_number)
        self.deliver_refund_event("shp_a", "rejected")
        self.assertEqual(purchase.state, "refund_rejected")
        exception = self.shipment.exception_ids.filtered(
            lambda e: e.type_code == "label_refund_rejected"
        )
        self.assertEqual(len(exception), 1)
        self.assertIn("TRK-A", exception.name)

    def test_the_shipped_email_waits_for_every_packages_tracking_number(self):
        error = {"error": {"code": "ADDRESS.VERIFY.FAILURE", "message": "Unable to verify"}}
        (created_a, bought_a), (created_b, _bought_b) = self.labels["a"], self.labels["b"]
        self.partner.answer(201, created_a).answer(201, created_b)
        self.partner.answer(200, bought_a).answer(200, self.pdf).answer(422, error)
        self.packed(packages=TWO_PACKAGES)
        shipment = self.shipment
        domain = [("model", "=", "logistics.shipment"), ("res_id", "=", shipment.id)]
        self.env["logistics.event"].ingest_events(
            self.wms.code,
            [self.event("shipped", fields.Datetime.now().isoformat() + "+00:00", "wms-ship")],
        )
        self.assertFalse(self.env["mail.mail"].search(domain), "one package has no label yet")
        exception = shipment.exception_ids.filtered(lambda e: e.type_code == "label_failed")
        bought = shipment.label_purchase_ids.filtered(lambda p: p.state == "bought")
        self.partner.answer(200, dict(bought_a, refund_status="submitted"))
        self.answer_both()
        with trap_jobs() as trap:
            exception.with_user(self.manager).action_route_alternate_carrier()
            self.run_jobs(trap)
        mail = self.env["mail.mail"].search(domain)
        self.assertEqual(len(mail), 1)
        for number in ("TRK-A", "TRK-B"):
            self.assertIn(number, mail.body_html)
        self.assertEqual(bought.state, "refund_submitted")
