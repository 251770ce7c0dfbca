import copy
import io
from datetime import timedelta

from odoo import fields
from odoo.tools.pdf import PdfFileWriter

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase
from odoo.addons.logistics_integration_base.tests.partner_server import (
    LoopbackPartnerMixin,
    ScriptedPartner,
)
from odoo.addons.queue_job.tests.common import trap_jobs

from .fixtures import load_cassette, response_json

PDF = b"%PDF-1.4\n% a label\n%%EOF\n"


def label_pdf(pages=1):
    """A real PDF of blank label pages (4 x 6 in), as a carrier's label: PDFs are merged."""
    writer = PdfFileWriter()
    for _page in range(pages):
        writer.add_blank_page(288, 432)
    stream = io.BytesIO()
    writer.write(stream)
    return stream.getvalue()


class CarrierFlowCase(LoopbackPartnerMixin, LogisticsCase):
    """A WMS and two EasyPost carrier backends (by priority) against a real HTTP partner on
    127.0.0.1 (``ScriptedPartner``) answering EasyPost's recorded bodies."""

    def setUp(self):
        super().setUp()
        self.partner = ScriptedPartner().__enter__()
        self.addCleanup(self.partner.__exit__)
        self.carrier.write(
            {
                "adapter": "easypost",
                "base_url": self.partner.url,
                "auth_type": "basic",
                "carrier_rate_rule": "cheapest",
                "sequence": 1,
            }
        )
        self.carrier.api_key = "EZTK_test_key"
        self.carrier.webhook_secret = "whsec_carrier"
        self.alternate = self.env["logistics.backend"].create(
            {
                "name": "Alternate Carrier",
                "code": "t_carrier_alt",
                "kind": "carrier",
                "adapter": "easypost",
                "base_url": self.partner.url,
                "auth_type": "basic",
                "sequence": 2,
            }
        )
        self.alternate.api_key = "EZTK_alt_key"
        self.customer.write({"email": "customer@example.com", "city": "Redondo Beach"})
        self.created = response_json(load_cassette("test_shipment_create")[0])
        bought = response_json(load_cassette("test_shipment_buy")[-1])
        bought["postage_label"]["label_pdf_url"] = f"{self.partner.url}/labels/label.pdf"
        self.bought = bought

    def two_carrier_labels(self):
        """{"a": (created, bought), "b": ...}: EasyPost's recorded answers made into two distinct
        carrier shipments (ids shp_a / shp_b, tracking numbers TRK-A / TRK-B and their pages)."""
        labels = {}
        for letter in ("a", "b"):
            created = copy.deepcopy(self.created)
            created["id"] = f"shp_{letter}"
            bought = copy.deepcopy(self.bought)
            bought["id"] = f"shp_{letter}"
            bought["tracking_code"] = f"TRK-{letter.upper()}"
            bought["tracker"] = dict(bought.get("tracker") or {})
            bought["tracker"]["tracking_code"] = f"TRK-{letter.upper()}"
            bought["tracker"]["public_url"] = f"https://track.example/{letter}"
            labels[letter] = (created, bought)
        return labels

    def inbound_webhook(self, body):
        """A webhook body stored as the carrier backend's inbound message and processed with
        its batch, as the webhook door and the inbound job do."""
        message = self.env["logistics.message"].create(
            {
                "direction": "inbound",
                "backend_id": self.carrier.id,
                "operation": "webhook",
                "payload": body,
                "company_id": self.carrier.company_id.id,
            }
        )
        self.carrier._process_inbound(message)
        return message

    def deliver_refund_event(self, shipment_id, status, tracking_code="TRK-A"):
        """EasyPost's refund.successful Event for the label of carrier shipment ``shipment_id``."""
        return self.inbound_webhook(
            {
                "object": "Event",
                "id": f"evt_refund_{shipment_id}",
                "description": "refund.successful",
                "result": {
                    "object": "Refund",
                    "id": f"rfnd_{shipment_id}",
                    "shipment_id": shipment_id,
                    "tracking_code": tracking_code,
                    "status": status,
                    "carrier": "USPS",
                },
            }
        )

    def run_jobs(self, trap):
        for _round in range(10):
            if not trap.enqueued_jobs:
                return
            trap.perform_enqueued_jobs()

    def packed(self, event_id="wms-packed-1", packages=None):
        packages = packages or [{"reference": "PKG-1", "weight": 2.0}]
        with trap_jobs() as trap:
            self.env["logistics.event"].ingest_events(
                self.wms.code,
                [
                    self.event(
                        "packed",
                        fields.Datetime.now().isoformat() + "+00:00",
                        event_id,
                        payload={"packages": packages},
                    )
                ],
            )
            self.run_jobs(trap)

    def tracker_event(self, status, status_detail, event_id, **tracker):
        body = {
            "object": "Event",
            "id": event_id,
            "description": "tracker.updated",
            "result": dict(
                {
                    "object": "Tracker",
                    "id": "trk_1",
                    "tracking_code": self.shipment.tracking_number,
                    "status": status,
                    "status_detail": status_detail,
                    "carrier": "USPS",
                    "tracking_details": [
                        {
                            "object": "TrackingDetail",
                            "message": f"{status} ({status_detail})",
                            "status": status,
                            "status_detail": status_detail,
                            "datetime": (
                                fields.Datetime.now() + timedelta(minutes=len(event_id))
                            ).isoformat()
                            + "Z",
                        }
                    ],
                },
                **tracker,
            ),
        }
        return body

    def deliver_webhook(self, body):
        events = self.carrier._parse_webhook_events(body)
        return self.env["logistics.event"].ingest_events(self.carrier.code, events)

    def buy_label(self):
        self.partner.answer(201, self.created).answer(200, self.bought).answer(200, PDF)
        self.packed()

    def label_failed_at_the_first_carrier(self):
        error = response_json(load_cassette("test_error")[0])
        self.partner.answer(201, self.created).answer(422, error)
        self.packed()
        return self.shipment.exception_ids.filtered(lambda e: e.type_code == "label_failed")

    def outbound_calls(self):
        return [request[:2] for request in self.partner.requests]
