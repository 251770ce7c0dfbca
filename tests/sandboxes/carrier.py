"""An EasyPost-compatible carrier aggregator on 127.0.0.1: shipments with rates, label purchase
honouring Idempotency-Key, label PDFs, trackers that walk to delivery (or failure, or return),
label refunds (submitted, then refunded or rejected), and ``tracker.updated`` /
``refund.successful`` Events signed the way EasyPost signs them.

Answers have the shapes of EasyPost's own recordings in shared/fixtures/easypost (same keys,
nesting, id prefixes, string money amounts, "Z" time stamps), so the adapter that parses the
recordings parses the sandbox too.

Cash on delivery, the sandbox's own convention (EasyPost has no COD event): a parcel bought with
the COD options (``options.cod_amount``, kept on the Shipment as given) that is delivered takes
one more step, a scan of status "delivered" and status detail "cod_collected" whose
TrackingDetail carries ``cod_amount`` (the money string of the options) and ``cod_currency``
(the options' ``currency``, USD by default).

    python tests/sandboxes/carrier.py --port 8301 --webhook-url URL --webhook-secret SECRET
"""

import base64
import hashlib
import hmac
import html
import sys
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

try:
    from .common import (
        ObjectClock,
        RequestRejected,
        Response,
        Sandbox,
        admin_error,
        command_line_parser,
        json_bytes,
        json_response,
        route,
        serve_until_signalled,
    )
except ImportError:  # run as a script: python tests/sandboxes/carrier.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sandboxes.common import (
        ObjectClock,
        RequestRejected,
        Response,
        Sandbox,
        admin_error,
        command_line_parser,
        json_bytes,
        json_response,
        route,
        serve_until_signalled,
    )

DEFAULT_PORT = 8301

SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="

# Deterministic, so tests can rely on carriers, services, prices and speeds.
DEFAULT_RATES = (
    {"carrier": "USPS", "service": "GroundAdvantage", "rate": "7.37", "delivery_days": 5},
    {"carrier": "USPS", "service": "Priority", "rate": "9.20", "delivery_days": 2},
    {"carrier": "UPSDAP", "service": "Ground", "rate": "11.45", "delivery_days": 3},
)
RETAIL_MARKUP = 1.25
LIST_MARKUP = 1.1
SIGNED_BY = "J. Doe"
ADDRESS_FIELDS = (
    "name",
    "company",
    "street1",
    "street2",
    "city",
    "state",
    "zip",
    "country",
    "phone",
    "email",
)
# Where a tracker created from a bare tracking code scans (the recordings' places).
DEFAULT_ORIGIN = {"city": "HOUSTON", "state": "TX", "country": "US", "zip": "77063"}
DEFAULT_DESTINATION = {"city": "CHARLESTON", "state": "SC", "country": "US", "zip": "29401"}


@dataclass(frozen=True)
class TrackingStep:
    status: str
    status_detail: str
    message: str
    place: str  # "origin" or "destination": where the scan happens


IN_TRANSIT = TrackingStep(
    "in_transit", "arrived_at_facility", "Arrived at Regional Facility", "origin"
)
# After the delivery of a parcel with a cash on delivery (see the module's docstring).
COD_COLLECTED = TrackingStep(
    "delivered", "cod_collected", "Cash on Delivery Collected", "destination"
)
# What happens to a parcel after its label is created (the tracker starts in pre_transit).
SCENARIOS = {
    "delivered": (
        IN_TRANSIT,
        TrackingStep("out_for_delivery", "out_for_delivery", "Out for Delivery", "destination"),
        TrackingStep("delivered", "arrived_at_destination", "Delivered", "destination"),
    ),
    "failure": (
        IN_TRANSIT,
        TrackingStep("failure", "delivery_exception", "Delivery Exception", "destination"),
    ),
    "return": (
        IN_TRANSIT,
        TrackingStep("return_to_sender", "return", "Returned to Sender", "destination"),
    ),
}


TRACKER_UPDATED = "tracker.updated"
# EasyPost's Event for a non-instantaneous Refund that completed (docs.easypost.com/docs/events);
# its result is the Refund, whose status says how it ended (refunded or rejected).
REFUND_COMPLETED = "refund.successful"
# A label can be refunded until the carrier scans the parcel (EasyPost, "Shipping Refund": "To
# qualify, a shipment must not have been scanned"): a tracker still in one of these states.
UNSCANNED_STATUSES = frozenset({"unknown", "pre_transit"})
DEFAULT_REFUND_DELAY_SECONDS = 1.0


def easypost_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def address_time(moment):
    # EasyPost writes an Address's time stamps with an offset, every other object's with "Z".
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def new_id(prefix):
    return f"{prefix}_{uuid.uuid4().hex}"


def sign(raw_body, secret):
    """EasyPost's webhook signature: ``hmac-sha256-hex=`` and the hex HMAC-SHA256 of the raw
    body, keyed with the NFKD-normalised secret in UTF-8 (easypost-python's validate_webhook)."""
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return SIGNATURE_PREFIX + hmac.new(key, raw_body, hashlib.sha256).hexdigest()


@dataclass
class _TrackerWalk:
    """A tracker and where it is in its scenario."""

    tracker: dict
    scenario: str
    origin: dict
    destination: dict
    clock: ObjectClock
    reference: str | None = None
    # The parcel's cash on delivery, {"amount": "150.00", "currency": "USD"}, or None.
    cod: dict | None = None
    position: int = 0
    events_sent: int = 0
    # Why the parcel does not move on: "refund_submitted" while its label's refund is pending,
    # "refunded" for good once it is refunded; None while it walks.
    halted: str | None = None
    # Bumped whenever the automatic walk is stopped or restarted: a step scheduled by an earlier
    # run of the walk finds a different number and drops.
    run: int = 0

    @property
    def steps(self):
        steps = SCENARIOS[self.scenario]
        if self.cod and steps[-1].status == "delivered":
            return (*steps, COD_COLLECTED)
        return steps

    @property
    def finished(self):
        return self.position >= len(self.steps)

    @property
    def moves(self):
        return not self.finished and self.halted is None


@dataclass
class _Shipment:
    document: dict  # the Shipment as answered, its tracker embedded at answer time
    purchases: int = 0
    tracker_id: str | None = None
    refunds: int = 0  # refund requests accepted (answered "submitted")
    refund: dict | None = None  # the newest Refund object of its label
    refund_events: int = 0


class CarrierSandbox(Sandbox):
    """EasyPost stand-in. ``api_key`` is required on every API call (HTTP Basic with the key as
    user name and an empty password, or ``Authorization: Bearer <key>``)."""

    name = "carrier"

    def __init__(
        self,
        *,
        api_key,
        webhook_url=None,
        webhook_secret=None,
        step_seconds=2.0,
        scenario="delivered",
        port=0,
        retry_base_seconds=1.0,
        refund_delay_seconds=DEFAULT_REFUND_DELAY_SECONDS,
        refund_reject=False,
    ):
        if not api_key:
            raise ValueError("the carrier sandbox needs an api_key")
        # How long a submitted refund takes to complete, and whether the carrier refuses it
        # (it always does once the parcel was scanned).
        self.refund_delay_seconds = _checked_delay("refund_delay_seconds", refund_delay_seconds)
        self.refund_reject = bool(refund_reject)
        self.api_key = api_key
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.scenario = _checked_scenario(scenario)
        self.scenarios = {}
        self.rate_specs = [dict(spec) for spec in DEFAULT_RATES]
        self.user_id = new_id("user")
        self._shipments = {}
        self._walks = {}
        self._labels = {}
        self._purchases = []  # shipment ids in the order their labels were bought
        super().__init__(
            port=port, step_seconds=step_seconds, retry_base_seconds=retry_base_seconds
        )

    def routes(self):
        return [
            route("POST", "/v2/shipments", self._create_shipment),
            route("GET", "/v2/shipments/(?P<id>[^/]+)", self._get_shipment),
            route("POST", "/v2/shipments/(?P<id>[^/]+)/buy", self._buy),
            route("POST", "/v2/shipments/(?P<id>[^/]+)/refund", self._refund),
            route("POST", "/v2/trackers", self._create_tracker),
            route("GET", "/v2/trackers/(?P<id>[^/]+)", self._get_tracker),
            route("GET", "/v2/addresses", self._list_addresses),
            route("GET", r"/labels/(?P<id>[^/]+)\.pdf", self._label, "public"),
            route("GET", "/track/(?P<id>[^/]+)", self._tracking_page, "public"),
        ]

    # --- partner protocol -------------------------------------------------------------------------
    def authenticate(self, request):
        scheme, _, credentials = request.header("Authorization").partition(" ")
        expected = self.api_key.encode("utf-8")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(credentials.strip().encode("utf-8"), expected)
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except ValueError:
            return False
        user, separator, password = decoded.partition(b":")
        return bool(separator) and not password and hmac.compare_digest(user, expected)

    def error_response(self, status, code, message, errors=(), **_extra):
        if status == 401:
            code = "APIKEY.INACTIVE"
            message = "This api key is no longer active. Please use a different api key."
        document = {"error": {"code": code, "message": message, "errors": list(errors)}}
        return json_response(status, document)

    def _unprocessable(self, code, message, field_errors):
        errors = [{"field": name, "message": text} for name, text in field_errors]
        return RequestRejected(self.error_response(422, code, message, errors))

    def _not_found(self):
        return RequestRejected(
            self.error_response(404, "NOT_FOUND", "The requested resource could not be found.")
        )

    # --- addresses --------------------------------------------------------------------------------
    def _list_addresses(self, request, match):
        """EasyPost's "Retrieve a list of Addresses": the sandbox saves none on its own, so
        the list is empty; Odoo's Test Connection calls it (a harmless authenticated read)."""
        return json_response(200, {"addresses": [], "has_more": False})

    # --- shipments --------------------------------------------------------------------------------
    def _create_shipment(self, request, match):
        document = request.json()
        given = document.get("shipment") if isinstance(document, dict) else None
        if not isinstance(given, dict) or not given:
            raise self._unprocessable(
                "PARAMETER.REQUIRED",
                "Missing required parameter.",
                [("shipment", "cannot be blank")],
            )
        missing, invalid = _shipment_problems(given)
        if missing:
            raise self._unprocessable(
                "PARAMETER.REQUIRED", "Missing required parameter.", missing + invalid
            )
        if invalid:
            raise self._unprocessable("PARAMETER.INVALID", "Invalid parameter.", invalid)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        shipment_id = new_id("shp")
        record = _Shipment(self._shipment_document(shipment_id, given, now))
        self._shipments[shipment_id] = record
        return json_response(
            201, self._render(record), {"Location": f"/api/v2/shipments/{shipment_id}"}
        )

    def _shipment_document(self, shipment_id, given, now):
        stamp = easypost_time(now)
        from_address = _address(given["from_address"], now)
        to_address = _address(given["to_address"], now)
        options = dict(given.get("options") or {})
        for key, value in (("currency", "USD"), ("payment", {"type": "SENDER"})):
            options.setdefault(key, value)
        options.setdefault("date_advance", 0)
        reference = given.get("reference")
        return {
            "id": shipment_id,
            "created_at": stamp,
            "is_return": bool(given.get("is_return", False)),
            "messages": [],
            "mode": "test",
            "options": options,
            "reference": None if reference is None else str(reference),
            "status": "unknown",
            "tracking_code": None,
            "updated_at": stamp,
            "batch_id": None,
            "batch_status": None,
            "batch_message": None,
            "customs_info": _customs_info(given.get("customs_info"), stamp),
            "from_address": from_address,
            "insurance": None,
            "order_id": None,
            "parcel": _parcel(given["parcel"], stamp),
            "postage_label": None,
            "rates": [_rate(spec, shipment_id, stamp) for spec in self.rate_specs],
            "refund_status": None,
            "scan_form": None,
            "selected_rate": None,
            "tracker": None,
            "to_address": to_address,
            "usps_zone": 4,
            "return_address": dict(from_address),
            "buyer_address": dict(to_address),
            "forms": [],
            "fees": [],
            "object": "Shipment",
        }

    def _render(self, record):
        document = dict(record.document)
        walk = self._walks.get(record.tracker_id)
        document["tracker"] = walk.tracker if walk else None
        return document

    def _shipment_or_404(self, shipment_id):
        record = self._shipments.get(unquote(shipment_id))
        if record is None:
            raise self._not_found()
        return record

    def _get_shipment(self, request, match):
        return json_response(200, self._render(self._shipment_or_404(match["id"])))

    def _buy(self, request, match):
        record = self._shipment_or_404(match["id"])
        shipment = record.document
        if shipment["postage_label"] is not None:
            raise self._unprocessable(
                "SHIPMENT.POSTAGE.EXISTS", "Postage already exists for this shipment.", []
            )
        document = request.json()
        rate = document.get("rate") if isinstance(document, dict) else None
        rate_id = rate.get("id") if isinstance(rate, dict) else None
        if not rate_id:
            raise self._unprocessable(
                "PARAMETER.REQUIRED", "Missing required parameter.", [("rate", "cannot be blank")]
            )
        selected = next((r for r in shipment["rates"] if r["id"] == rate_id), None)
        if selected is None:
            raise self._unprocessable(
                "PARAMETER.INVALID",
                "Invalid parameter.",
                [("rate.id", f"{rate_id} is not a rate of shipment {shipment['id']}")],
            )
        now = datetime.now(timezone.utc).replace(microsecond=0)
        stamp = easypost_time(now)
        label_id = new_id("pl")
        label_url = f"{self.url}/labels/{label_id}.pdf"
        wants_pdf = str(shipment["options"].get("label_format", "")).upper() == "PDF"
        walk = self._new_walk(
            tracking_code=self._new_tracking_code(),
            carrier=selected["carrier"],
            service=selected["service"],
            delivery_days=selected["delivery_days"],
            shipment_id=shipment["id"],
            reference=shipment["reference"],
            origin=_location(shipment["from_address"]),
            destination=_location(shipment["to_address"]),
            now=now,
            cod=_cod(shipment["options"]),
        )
        shipment.update(
            tracking_code=walk.tracker["tracking_code"],
            updated_at=stamp,
            selected_rate=selected,
            postage_label={
                "object": "PostageLabel",
                "id": label_id,
                "created_at": stamp,
                "updated_at": stamp,
                "date_advance": 0,
                "integrated_form": "none",
                "label_date": stamp,
                "label_resolution": 300,
                "label_size": "4x6",
                "label_type": "default",
                "label_file_type": "application/pdf",
                "label_url": label_url,
                "label_pdf_url": label_url if wants_pdf else None,
                "label_zpl_url": None,
                "label_epl2_url": None,
                "label_file": None,
            },
            fees=[_fee("LabelFee", "0"), _fee("PostageFee", selected["rate"])],
        )
        record.tracker_id = walk.tracker["id"]
        record.purchases += 1
        self._purchases.append(shipment["id"])
        self._labels[label_id] = _label_lines(shipment, selected, walk.tracker["tracking_code"])
        self._start_walk(walk)
        return json_response(200, self._render(record))

    def _new_tracking_code(self):
        known = {walk.tracker["tracking_code"] for walk in self._walks.values()}
        while True:
            code = f"9400{uuid.uuid4().int % 10**18:018d}"
            if code not in known:
                return code

    # --- refunds ----------------------------------------------------------------------------------
    def _refund(self, request, match):
        """EasyPost's "Refund a Shipment", ``POST /v2/shipments/:id/refund`` (no body;
        docs.easypost.com/docs/shipments/shipping-refund): 200 with the Shipment, its
        ``refund_status`` "submitted". The refund completes ``refund_delay_seconds`` later:
        "rejected" when ``refund_reject`` was set at the request or the carrier has scanned the
        parcel by then (its tracker is past pre_transit), else "refunded"; a ``refund.successful``
        Event whose result is the Refund tells the webhook URL either way. The tracker stops
        walking while the refund is pending, for good once it is refunded, and walks on after a
        rejection. A rejected refund may be asked again (EasyPost: "you may retry a refund with
        the rejected status"); a shipment without a label, or with a refund pending or done,
        is refused with 422 in EasyPost's error shape (the codes are the sandbox's own)."""
        record = self._shipment_or_404(match["id"])
        shipment = record.document
        if shipment["postage_label"] is None:
            raise self._unprocessable(
                "SHIPMENT.REFUND.UNAVAILABLE",
                "This shipment has no postage label to refund.",
                [("shipment", f"{shipment['id']} has not been purchased")],
            )
        if shipment["refund_status"] in ("submitted", "refunded"):
            raise self._unprocessable(
                "SHIPMENT.REFUND.EXISTS",
                f"A refund for this shipment is already {shipment['refund_status']}.",
                [("refund_status", shipment["refund_status"])],
            )
        stamp = easypost_time(datetime.now(timezone.utc).replace(microsecond=0))
        refund = {
            "id": new_id("rfnd"),
            "object": "Refund",
            "created_at": stamp,
            "updated_at": stamp,
            "tracking_code": shipment["tracking_code"],
            "confirmation_number": None,
            "status": "submitted",
            "carrier": shipment["selected_rate"]["carrier"],
            "shipment_id": shipment["id"],
        }
        record.refund = refund
        record.refunds += 1
        shipment.update(refund_status="submitted", updated_at=stamp)
        walk = self._walks.get(record.tracker_id)
        if walk is not None:
            self._halt(walk, "refund_submitted")
        self.timeline.call_later(
            self.refund_delay_seconds,
            self._complete_refund,
            shipment["id"],
            refund["id"],
            self.refund_reject,
            self.generation,
        )
        return json_response(200, self._render(record))

    def _complete_refund(self, shipment_id, refund_id, reject, generation):
        with self.lock:
            record = self._shipments.get(shipment_id)
            if (
                generation != self.generation
                or record is None
                or record.refund is None
                or record.refund["id"] != refund_id
            ):
                return
            walk = self._walks.get(record.tracker_id)
            scanned = walk is not None and walk.tracker["status"] not in UNSCANNED_STATUSES
            status = "rejected" if reject or scanned else "refunded"
            refund = record.refund
            created = datetime.strptime(refund["created_at"], "%Y-%m-%dT%H:%M:%SZ")
            moment = max(
                datetime.now(timezone.utc).replace(microsecond=0),
                created.replace(tzinfo=timezone.utc),
            )
            stamp = easypost_time(moment)
            refund.update(
                status=status,
                updated_at=stamp,
                confirmation_number=(
                    f"{uuid.uuid4().int % 10**12:012d}" if status == "refunded" else None
                ),
            )
            record.document.update(refund_status=status, updated_at=stamp)
            if status == "refunded":
                for fee in record.document["fees"]:
                    fee["refunded"] = True
                if walk is not None:
                    self._halt(walk, "refunded")
            elif walk is not None:
                self._resume(walk)
            event = {
                "object": "Event",
                "id": new_id("evt"),
                "mode": "test",
                "description": REFUND_COMPLETED,
                "created_at": stamp,
                "updated_at": stamp,
                "previous_attributes": {"status": "submitted"},
                "pending_urls": [],
                "completed_urls": [],
                "status": "pending",
                "user_id": self.user_id,
                "result": dict(refund),
            }
            record.refund_events += 1
            # One Event per refund: final, so an out_of_order fault never holds it back.
            self.publish(refund_id, json_bytes(event), True, self._send_event)

    # --- labels and the public tracking page ------------------------------------------------------
    def _label(self, request, match):
        lines = self._labels.get(unquote(match["id"]))
        if lines is None:
            raise self._not_found()
        return Response(200, label_pdf(lines), "application/pdf")

    def _tracking_page(self, request, match):
        walk = self._walks.get(unquote(match["id"]))
        if walk is None:
            raise self._not_found()
        tracker = walk.tracker
        rows = "".join(
            f"<li>{html.escape(detail['datetime'])}: {html.escape(detail['message'])}</li>"
            for detail in reversed(tracker["tracking_details"])
        )
        page = (
            f"<!DOCTYPE html><html><head><title>{html.escape(tracker['tracking_code'])}</title>"
            f"</head><body><h1>{html.escape(tracker['carrier'] or '')} "
            f"{html.escape(tracker['tracking_code'])}</h1>"
            f"<p>Status: {html.escape(tracker['status'])}</p><ul>{rows}</ul></body></html>"
        )
        return Response(200, page.encode("utf-8"), "text/html; charset=utf-8")

    # --- trackers ---------------------------------------------------------------------------------
    def _create_tracker(self, request, match):
        document = request.json()
        given = document.get("tracker") if isinstance(document, dict) else None
        code = given.get("tracking_code") if isinstance(given, dict) else None
        if not code or not isinstance(code, str):
            raise self._unprocessable(
                "PARAMETER.REQUIRED",
                "Missing required parameter.",
                [("tracker.tracking_code", "cannot be blank")],
            )
        existing = self._walk_by_code(code)
        if existing is not None:
            # EasyPost answers an already tracked code with its tracker (200, not 201).
            return json_response(200, existing.tracker)
        walk = self._new_walk(
            tracking_code=code,
            carrier=given.get("carrier") or "USPS",
            service=None,
            delivery_days=3,
            shipment_id=None,
            reference=None,
            origin=dict(DEFAULT_ORIGIN),
            destination=dict(DEFAULT_DESTINATION),
            now=datetime.now(timezone.utc).replace(microsecond=0),
        )
        self._start_walk(walk)
        tracker_id = walk.tracker["id"]
        return json_response(201, walk.tracker, {"Location": f"/api/v2/trackers/{tracker_id}"})

    def _get_tracker(self, request, match):
        walk = self._walks.get(unquote(match["id"]))
        if walk is None:
            raise self._not_found()
        return json_response(200, walk.tracker)

    def _walk_by_code(self, tracking_code):
        return next(
            (w for w in self._walks.values() if w.tracker["tracking_code"] == tracking_code), None
        )

    def _new_walk(
        self,
        *,
        tracking_code,
        carrier,
        service,
        delivery_days,
        shipment_id,
        reference,
        origin,
        destination,
        now,
        cod=None,
    ):
        tracker_id = new_id("trk")
        stamp = easypost_time(now)
        scenario = self.scenarios.get(reference) or self.scenarios.get(tracking_code)
        tracker = {
            "id": tracker_id,
            "object": "Tracker",
            "mode": "test",
            "tracking_code": tracking_code,
            "status": "pre_transit",
            "status_detail": "status_update",
            "created_at": stamp,
            "updated_at": stamp,
            "signed_by": None,
            "weight": None,
            "est_delivery_date": easypost_time(now + timedelta(days=delivery_days or 3)),
            "shipment_id": shipment_id,
            "carrier": carrier,
            "tracking_details": [
                _tracking_detail(
                    "pre_transit", "status_update", "Shipping Label Created", carrier, stamp, origin
                )
            ],
            "fees": [],
            "carrier_detail": _carrier_detail(service, origin, destination),
            "finalized": False,
            "is_return": False,
            "public_url": f"{self.url}/track/{tracker_id}",
        }
        walk = _TrackerWalk(
            tracker=tracker,
            scenario=scenario or self.scenario,
            origin=origin,
            destination=destination,
            clock=ObjectClock(now),
            reference=reference,
            cod=cod,
        )
        self._walks[tracker_id] = walk
        return walk

    # --- the tracking walk ------------------------------------------------------------------------
    def _start_walk(self, walk):
        # The new tracker's pre_transit state is an update of its own (label created, the
        # carrier not scanned it yet), as EasyPost sends it.
        self._publish_update(walk, previous="unknown")
        self._schedule_step(walk)

    def _schedule_step(self, walk):
        if walk.moves and self.step_seconds > 0:
            self.timeline.call_later(
                self.step_seconds, self._auto_step, walk.tracker["id"], self.generation, walk.run
            )

    def _auto_step(self, tracker_id, generation, run):
        with self.lock:
            walk = self._walks.get(tracker_id)
            if generation != self.generation or walk is None or walk.run != run or not walk.moves:
                return
            self._step(walk)
            self._schedule_step(walk)

    def _halt(self, walk, reason):
        """Stop the parcel's walk (its label's refund is pending, or done)."""
        walk.halted = reason
        walk.run += 1

    def _resume(self, walk):
        """Let the parcel walk on (its label's refund was rejected: the label stays valid)."""
        walk.halted = None
        walk.run += 1
        self._schedule_step(walk)

    def _step(self, walk):
        """Move the parcel one scan on, and tell the webhook URL with an Event."""
        step = walk.steps[walk.position]
        walk.position += 1
        stamp = easypost_time(walk.clock.next())
        tracker = walk.tracker
        previous = tracker["status"]
        location = walk.origin if step.place == "origin" else walk.destination
        tracker.update(status=step.status, status_detail=step.status_detail, updated_at=stamp)
        detail = _tracking_detail(
            step.status, step.status_detail, step.message, tracker["carrier"], stamp, location
        )
        if step is COD_COLLECTED:
            detail.update(cod_amount=walk.cod["amount"], cod_currency=walk.cod["currency"])
            detail["message"] = f"{step.message}: {walk.cod['amount']} {walk.cod['currency']}"
        tracker["tracking_details"].append(detail)
        if step.status == "delivered":
            tracker["signed_by"] = SIGNED_BY
        if walk.finished:
            tracker["finalized"] = True
        shipment = self._shipments.get(tracker["shipment_id"])
        if shipment is not None:
            shipment.document.update(status=step.status, updated_at=stamp)
        self._publish_update(walk, previous)

    def _publish_update(self, walk, previous):
        tracker = walk.tracker
        stamp = tracker["updated_at"]
        event = {
            "object": "Event",
            "id": new_id("evt"),
            "mode": "test",
            "description": TRACKER_UPDATED,
            "created_at": stamp,
            "updated_at": stamp,
            "previous_attributes": {"status": previous},
            "pending_urls": [],
            "completed_urls": [],
            "status": "pending",
            "user_id": self.user_id,
            "result": tracker,
        }
        walk.events_sent += 1
        self.publish(tracker["id"], json_bytes(event), walk.finished, self._send_event)

    def _send_event(self, body, bad_signature):
        self.deliver_http(
            self.webhook_url, body, lambda: self._signature_headers(body, bad_signature)
        )

    def _signature_headers(self, body, bad_signature):
        if not self.webhook_secret:
            return {}
        secret = self.webhook_secret + ("-not-the-secret" if bad_signature else "")
        return {SIGNATURE_HEADER: sign(body, secret)}

    def advance(self, document):
        walk = self._find_walk(document)
        if walk is None:
            raise RequestRejected(admin_error(404, f"no tracker matches {document}"))
        if walk.finished:
            raise RequestRejected(
                admin_error(409, f"tracker {walk.tracker['id']} is {walk.tracker['status']}: done")
            )
        if walk.halted:
            raise RequestRejected(
                admin_error(409, f"tracker {walk.tracker['id']} is halted: {walk.halted}")
            )
        self._step(walk)
        return {
            "tracker_id": walk.tracker["id"],
            "tracking_code": walk.tracker["tracking_code"],
            "status": walk.tracker["status"],
            "finished": walk.finished,
        }

    def _find_walk(self, document):
        if document.get("tracker_id"):
            return self._walks.get(document["tracker_id"])
        if document.get("tracking_code"):
            return self._walk_by_code(document["tracking_code"])
        if document.get("reference") is not None:
            # The newest parcel of that reference that still moves, else the newest one.
            walks = [
                self._walks[record.tracker_id]
                for record in reversed(self._shipments.values())
                if record.tracker_id and record.document["reference"] == str(document["reference"])
            ]
            return next((w for w in walks if w.moves), walks[0] if walks else None)
        return None

    # --- admin ------------------------------------------------------------------------------------
    def configure(self, values):
        checked = {}
        for key, value in values.items():
            if key in ("webhook_url", "webhook_secret"):
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"{key} must be a string or null")
                if key == "webhook_url" and value and not value.startswith(("http://", "https://")):
                    raise ValueError("webhook_url must be an http(s) URL")
                checked[key] = value or None
            elif key == "step_seconds":
                checked[key] = _checked_number(key, value)
            elif key == "refund_delay_seconds":
                checked[key] = _checked_delay(key, value)
            elif key == "refund_reject":
                if not isinstance(value, bool):
                    raise ValueError("refund_reject must be true or false")
                checked[key] = value
            elif key == "scenario":
                checked[key] = _checked_scenario(value)
            elif key == "scenarios":
                if not isinstance(value, dict):
                    raise ValueError("scenarios must map a shipment reference to a scenario")
                checked[key] = {str(ref): _checked_scenario(name) for ref, name in value.items()}
            elif key == "rates":
                checked["rate_specs"] = _checked_rates(value)
            elif key == "api_key":
                # Rotating the key as EasyPost's dashboard does: the old one answers 401 now.
                if not isinstance(value, str) or not value:
                    raise ValueError("api_key must be a non-empty string")
                checked[key] = value
            else:
                raise ValueError(f"unknown setting {key!r}")
        for key, value in checked.items():
            setattr(self, key, value)

    def public_config(self):
        return {
            "webhook_url": self.webhook_url,
            "webhook_secret_set": bool(self.webhook_secret),
            "step_seconds": self.step_seconds,
            "refund_delay_seconds": self.refund_delay_seconds,
            "refund_reject": self.refund_reject,
            "scenario": self.scenario,
            "scenarios": dict(self.scenarios),
            "rates": [dict(spec) for spec in self.rate_specs],
        }

    def business_state(self):
        """The ledger tests read: per shipment id its purchases and refunds; ``purchases``, one
        entry per label bought in purchase order (shipment id, reference, tracking code, carrier,
        service, rate and its currency, the parcel's weight in oz, whether the destination is
        residential (``to_address.residential``, False when unset), the COD amount asked in
        ``options.cod_amount`` or None, refund status: what the finance sandbox bills);
        ``references``, per shipment reference the labels bought,
        the refunds asked (accepted as submitted) and the refunds done; ``refunds``, the newest
        Refund object of each refunded-or-refunding label; the trackers and their walks."""
        shipments = {}
        for shipment_id, record in self._shipments.items():
            walk = self._walks.get(record.tracker_id)
            shipments[shipment_id] = {
                "reference": record.document["reference"],
                "purchases": record.purchases,
                "tracking_code": record.document["tracking_code"],
                "tracker_id": record.tracker_id,
                "tracker_status": walk.tracker["status"] if walk else None,
                "refunds": record.refunds,
                "refund_status": record.document["refund_status"],
                "refund_events_sent": record.refund_events,
            }
        purchases = []
        for shipment_id in self._purchases:
            document = self._shipments[shipment_id].document
            rate = document["selected_rate"] or {}
            purchases.append(
                {
                    "shipment_id": shipment_id,
                    "reference": document["reference"],
                    "tracking_code": document["tracking_code"],
                    "carrier": rate.get("carrier"),
                    "service": rate.get("service"),
                    "rate": rate.get("rate"),
                    "currency": rate.get("currency"),
                    "weight_oz": document["parcel"]["weight"],
                    "residential": document["to_address"].get("residential") is True,
                    "cod_amount": document["options"].get("cod_amount"),
                    "refund_status": document["refund_status"],
                }
            )
        references = {}
        for record in self._shipments.values():
            if not record.purchases and not record.refunds:
                continue
            counts = references.setdefault(
                str(record.document["reference"]), {"purchases": 0, "refunds": 0, "refunded": 0}
            )
            counts["purchases"] += record.purchases
            counts["refunds"] += record.refunds
            counts["refunded"] += record.document["refund_status"] == "refunded"
        trackers = {
            tracker_id: {
                "tracking_code": walk.tracker["tracking_code"],
                "shipment_id": walk.tracker["shipment_id"],
                "scenario": walk.scenario,
                "status": walk.tracker["status"],
                "events_sent": walk.events_sent,
                "finished": walk.finished,
                "halted": walk.halted,
                "cod": walk.cod,
            }
            for tracker_id, walk in self._walks.items()
        }
        return {
            "shipments": shipments,
            "purchases_total": sum(record.purchases for record in self._shipments.values()),
            "purchases": purchases,
            "references": references,
            "refunds_total": sum(record.refunds for record in self._shipments.values()),
            "refunds": [dict(r.refund) for r in self._shipments.values() if r.refund is not None],
            "trackers": trackers,
        }

    def reset_state(self):
        self._shipments.clear()
        self._walks.clear()
        self._labels.clear()
        self._purchases.clear()


# --- documents ------------------------------------------------------------------------------------
def _shipment_problems(given):
    """(missing, invalid) field errors of a shipment to create."""
    missing = [
        (f"shipment.{key}", "cannot be blank")
        for key in ("to_address", "from_address", "parcel")
        if not isinstance(given.get(key), dict) or not given[key]
    ]
    invalid = []
    parcel = given.get("parcel")
    if isinstance(parcel, dict) and parcel:
        weight = parcel.get("weight")
        if weight is None or weight == "":
            missing.append(("shipment.parcel.weight", "cannot be blank"))
        elif _positive_number(weight) is None:
            invalid.append(("shipment.parcel.weight", "must be a number greater than 0"))
    return missing, invalid


def _positive_number(value):
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _address(values, moment):
    document = {
        "id": new_id("adr"),
        "object": "Address",
        "created_at": address_time(moment),
        "updated_at": address_time(moment),
    }
    document.update({key: values.get(key) for key in ADDRESS_FIELDS})
    document.update(
        mode="test",
        carrier_facility=values.get("carrier_facility"),
        residential=values.get("residential"),
        federal_tax_id=values.get("federal_tax_id"),
        state_tax_id=values.get("state_tax_id"),
        verifications={},
    )
    return document


def _parcel(values, stamp):
    return {
        "id": new_id("prcl"),
        "object": "Parcel",
        "created_at": stamp,
        "updated_at": stamp,
        "length": _positive_number(values.get("length")),
        "width": _positive_number(values.get("width")),
        "height": _positive_number(values.get("height")),
        "predefined_package": values.get("predefined_package"),
        "weight": float(values["weight"]),
        "mode": "test",
    }


def _customs_info(values, stamp):
    if not isinstance(values, dict) or not values:
        return None
    items = [
        {
            "id": new_id("cstitem"),
            "object": "CustomsItem",
            "created_at": stamp,
            "updated_at": stamp,
            "description": item.get("description"),
            "hs_tariff_number": item.get("hs_tariff_number"),
            "origin_country": item.get("origin_country"),
            "quantity": item.get("quantity"),
            "value": None if item.get("value") is None else f"{float(item['value']):.2f}",
            "weight": None if item.get("weight") is None else float(item["weight"]),
            "code": item.get("code"),
            "mode": "test",
            "manufacturer": item.get("manufacturer"),
            "currency": item.get("currency"),
            "eccn": item.get("eccn"),
            "printed_commodity_identifier": item.get("printed_commodity_identifier"),
        }
        for item in values.get("customs_items") or []
        if isinstance(item, dict)
    ]
    return {
        "id": new_id("cstinfo"),
        "object": "CustomsInfo",
        "created_at": stamp,
        "updated_at": stamp,
        "contents_explanation": values.get("contents_explanation"),
        "contents_type": values.get("contents_type"),
        "customs_certify": values.get("customs_certify"),
        "customs_signer": values.get("customs_signer"),
        "eel_pfc": values.get("eel_pfc"),
        "non_delivery_option": values.get("non_delivery_option"),
        "restriction_comments": values.get("restriction_comments"),
        "restriction_type": values.get("restriction_type"),
        "mode": "test",
        "declaration": values.get("declaration"),
        "customs_items": items,
    }


def _money(amount):
    return f"{amount:.2f}"


def _cod(options):
    """The cash on delivery a Shipment's options ask for, {"amount", "currency"}, or None."""
    amount = _positive_number(options.get("cod_amount"))
    if amount is None:
        return None
    return {"amount": _money(amount), "currency": str(options.get("currency") or "USD")}


def _rate(spec, shipment_id, stamp):
    amount = float(spec["rate"])
    return {
        "id": new_id("rate"),
        "object": "Rate",
        "created_at": stamp,
        "updated_at": stamp,
        "mode": "test",
        "service": spec["service"],
        "carrier": spec["carrier"],
        "rate": _money(amount),
        "currency": "USD",
        "retail_rate": _money(amount * RETAIL_MARKUP),
        "retail_currency": "USD",
        "list_rate": _money(amount * LIST_MARKUP),
        "list_currency": "USD",
        "billing_type": "easypost",
        "delivery_days": spec["delivery_days"],
        "delivery_date": None,
        "delivery_date_guaranteed": False,
        "est_delivery_days": spec["delivery_days"],
        "shipment_id": shipment_id,
        # One stable carrier account per carrier, as a real account set-up has.
        "carrier_account_id": "ca_" + hashlib.sha256(spec["carrier"].encode()).hexdigest()[:32],
    }


def _fee(kind, amount):
    return {
        "object": "Fee",
        "type": kind,
        "amount": f"{float(amount):.5f}",
        "charged": True,
        "refunded": False,
    }


def _location(address):
    return {
        "city": (address.get("city") or "").upper() or None,
        "state": address.get("state"),
        "country": address.get("country"),
        "zip": address.get("zip"),
    }


def _tracking_detail(status, status_detail, message, carrier, stamp, location):
    return {
        "object": "TrackingDetail",
        "message": message,
        "description": "",
        "status": status,
        "status_detail": status_detail,
        "datetime": stamp,
        "source": carrier,
        "carrier_code": "",
        "tracking_location": {"object": "TrackingLocation", **location},
    }


def _place(location):
    city_state = " ".join(part for part in (location["city"], location["state"]) if part)
    return f"{city_state}, {location['zip']}" if location["zip"] else city_state


def _carrier_detail(service, origin, destination):
    return {
        "object": "CarrierDetail",
        "service": service,
        "container_type": None,
        "est_delivery_date_local": None,
        "est_delivery_time_local": None,
        "origin_location": _place(origin),
        "origin_tracking_location": {"object": "TrackingLocation", **origin},
        "destination_location": _place(destination),
        "destination_tracking_location": None,
        "guaranteed_delivery_date": None,
        "alternate_identifier": None,
        "initial_delivery_attempt": None,
    }


def _checked_scenario(name):
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}: expected one of {', '.join(SCENARIOS)}")
    return name


def _checked_number(key, value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    return float(value)


def _checked_delay(key, value):
    delay = _checked_number(key, value)
    if delay < 0:
        raise ValueError(f"{key} must not be negative")
    return delay


def _checked_rates(value):
    """Rate specs from POST /_admin/config {"rates": [...]}; null restores the default three."""
    if value is None:
        return [dict(spec) for spec in DEFAULT_RATES]
    if not isinstance(value, list) or not value:
        raise ValueError("rates must be a non-empty list (or null for the default rates)")
    specs = []
    for spec in value:
        if not isinstance(spec, dict) or not spec.get("carrier") or not spec.get("service"):
            raise ValueError(f"a rate needs carrier, service, rate and delivery_days: {spec!r}")
        amount = _positive_number(spec.get("rate"))
        days = spec.get("delivery_days")
        if amount is None or isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ValueError(f"a rate needs a positive rate and whole delivery_days: {spec!r}")
        specs.append(
            {
                "carrier": str(spec["carrier"]),
                "service": str(spec["service"]),
                "rate": _money(amount),
                "delivery_days": days,
            }
        )
    return specs


# --- the label ------------------------------------------------------------------------------------
def _label_lines(shipment, rate, tracking_code):
    """What the label shows, as (font size, text) from the top."""
    to, sender = shipment["to_address"], shipment["from_address"]

    def city_line(address):
        return " ".join(str(address.get(key) or "") for key in ("city", "state", "zip")).strip()

    lines = [
        (16, f"{rate['carrier']} {rate['service']}"),
        (8, "SANDBOX LABEL - NOT VALID FOR SHIPPING"),
        (10, "FROM:"),
        (10, str(sender.get("name") or "")),
        (10, city_line(sender)),
        (10, "SHIP TO:"),
        (12, str(to.get("name") or "")),
        (12, str(to.get("street1") or "")),
        (12, str(to.get("street2") or "")),
        (12, city_line(to)),
        (12, str(to.get("country") or "")),
        (10, "TRACKING #:"),
        (16, tracking_code),
        (10, f"REF: {shipment['reference'] or ''}"),
        (10, f"WEIGHT: {shipment['parcel']['weight']} oz"),
    ]
    return [(size, text) for size, text in lines if text]


def _pdf_text(text):
    raw = text.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def label_pdf(lines, width=288, height=432):
    """A one-page 4x6 in PDF 1.4 with ``lines`` of (font size, text), written by hand with a
    correct cross-reference table, so any PDF reader (and Odoo's attachment previews) open it."""
    content = bytearray(b"0.8 w 8 8 %d %d re S\nBT\n" % (width - 16, height - 16))
    y = height - 36
    for size, text in lines:
        content += b"/F1 %d Tf 1 0 0 1 20 %d Tm (%s) Tj\n" % (size, y, _pdf_text(text))
        y -= size + 8
    content += b"ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>" % (width, height),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), bytes(content)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_offset = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        pdf += b"%010d 00000 n \n" % offset
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_offset,
    )
    return bytes(pdf)


# --- command line ---------------------------------------------------------------------------------
def main(argv=None):
    parser = command_line_parser(
        "carrier", "An EasyPost-compatible carrier aggregator sandbox on 127.0.0.1.", DEFAULT_PORT
    )
    parser.add_argument(
        "--api-key",
        default="sandbox-carrier-key",
        help="the key clients must send (HTTP Basic user name, or Bearer token)",
    )
    parser.add_argument(
        "--webhook-url", help="where tracker.updated and refund.successful Events are POSTed"
    )
    parser.add_argument("--webhook-secret", help="the secret of the X-Hmac-Signature header")
    parser.add_argument(
        "--refund-delay-seconds",
        type=float,
        default=DEFAULT_REFUND_DELAY_SECONDS,
        help="how long a submitted label refund takes to complete (refunded or rejected)",
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="delivered",
        help="what happens to parcels after their label is bought",
    )
    args = parser.parse_args(argv)
    sandbox = CarrierSandbox(
        api_key=args.api_key,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        step_seconds=args.step_seconds,
        scenario=args.scenario,
        refund_delay_seconds=args.refund_delay_seconds,
        port=args.port,
        retry_base_seconds=args.retry_base_seconds,
    )
    return serve_until_signalled(sandbox, args.faults, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
