"""The partner sandboxes on their own, without Odoo: each runs in-process on a free port and
posts its webhooks / callbacks to a small local receiver, so what is checked here is exactly what
Odoo sees over HTTP: EasyPost's shapes and signature, the WMS callbacks and their signature,
idempotency, and every fault knob the end-to-end and fault suites rely on."""

import base64
import csv
import functools
import hashlib
import hmac
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from sandboxes.carrier import CarrierSandbox
from sandboxes.wms import WmsSandbox

SANDBOXES_DIR = Path(__file__).resolve().parent / "sandboxes"
CARRIER_KEY = "carrier-test-key"
WMS_KEY = "wms-test-key"
# A compatibility ligature: EasyPost keys the HMAC with the NFKD form ("fish-and-chips").
CARRIER_SECRET = "\ufb01sh-and-chips"
WMS_SECRET = "wms-callback-secret"
EASYPOST_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DEFAULT_RATES = [
    ("USPS", "GroundAdvantage", "7.37", 5),
    ("USPS", "Priority", "9.20", 2),
    ("UPSDAP", "Ground", "11.45", 3),
]
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- the recordings -------------------------------------------------------------------------------
def fixtures_dir():
    """$LOGISTICS_FIXTURES_DIR (the fixtures root or its easypost/ folder), else the first
    shared/fixtures/easypost beside a parent of this file (as the carrier connector's tests)."""
    configured = os.environ.get("LOGISTICS_FIXTURES_DIR")
    if configured:
        root = Path(configured)
        return root / "easypost" if (root / "easypost").is_dir() else root
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "fixtures" / "easypost").is_dir():
            return parent / "shared" / "fixtures" / "easypost"
    raise FileNotFoundError("no shared/fixtures/easypost; set LOGISTICS_FIXTURES_DIR")


@functools.cache
def cassette(name):
    with (fixtures_dir() / f"{name}.yaml").open(encoding="utf-8") as file:
        return yaml.safe_load(file)["interactions"]


def recorded_response(name, index=0):
    return json.loads(cassette(name)[index]["response"]["body"]["string"])


def recorded_request(name, index=0):
    return json.loads(cassette(name)[index]["request"]["body"])


# --- HTTP both ways -------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: object
    body: bytes

    def json(self):
        return json.loads(self.body)


def call(method, url, body=None, headers=None, timeout=5):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with NO_PROXY.open(request, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, error.headers, error.read())


def admin(sandbox, path, body=None):
    answer = call("POST" if body is not None else "GET", sandbox.url + path, body)
    assert answer.status == 200, answer.body
    return answer.json()


@dataclass
class Delivery:
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class _ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status = receiver.take(Delivery(self.path, headers, body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


class Receiver:
    """The partner-facing end of Odoo's webhook controller, as far as a partner can tell: it
    stores each POST and answers 200, or first the statuses it was given."""

    def __init__(self, statuses=()):
        self.deliveries = []
        self._statuses = list(statuses)
        self._condition = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _ReceiverHandler)
        self._server.receiver = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def take(self, delivery):
        with self._condition:
            self.deliveries.append(delivery)
            self._condition.notify_all()
            return self._statuses.pop(0) if self._statuses else 200

    def wait_for(self, count, timeout=5):
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self.deliveries) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.deliveries)} deliveries, expected {count}")
                self._condition.wait(left)
            return list(self.deliveries)

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def wait_until(predicate, timeout=5, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --- signatures, written from the partners' published schemes ------------------------------------
def easypost_signature_valid(raw_body, header, secret):
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    expected = "hmac-sha256-hex=" + hmac.new(key, raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), (header or "").encode())


def generic_signature_valid(raw_body, header, secret, tolerance=300):
    parts = dict(item.split("=", 1) for item in (header or "").split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts or abs(time.time() - int(parts["t"])) > tolerance:
        return False
    signed = f"{parts['t']}.".encode() + raw_body
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
def receiver():
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def carrier(receiver):
    sandbox = CarrierSandbox(
        api_key=CARRIER_KEY,
        webhook_url=receiver.url,
        webhook_secret=CARRIER_SECRET,
        step_seconds=0,
        retry_base_seconds=0.05,
    ).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def wms(receiver):
    sandbox = WmsSandbox(
        api_key=WMS_KEY,
        callback_url=receiver.url,
        callback_secret=WMS_SECRET,
        step_seconds=0,
        retry_base_seconds=0.05,
    ).start()
    yield sandbox
    sandbox.stop()


# --- carrier helpers ------------------------------------------------------------------------------
def basic_auth(key):
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def carrier_call(carrier, method, path, body=None, timeout=5, **headers):
    headers = {**basic_auth(CARRIER_KEY), **headers}
    return call(method, carrier.url + path, body, headers, timeout=timeout)


def create_shipment(carrier, reference="SHP/00012"):
    request = recorded_request("test_shipment_create")
    request["shipment"]["reference"] = reference
    answer = carrier_call(carrier, "POST", "/v2/shipments", request)
    assert answer.status == 201, answer.body
    return answer.json()


def buy(carrier, shipment, rate_index=0, idempotency_key=None):
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    rate = {"rate": {"id": shipment["rates"][rate_index]["id"]}}
    return carrier_call(carrier, "POST", f"/v2/shipments/{shipment['id']}/buy", rate, **headers)


def bought(carrier, reference="SHP/00012"):
    answer = buy(carrier, create_shipment(carrier, reference))
    assert answer.status == 200, answer.body
    return answer.json()


def advance_to_the_end(sandbox, **which):
    statuses = []
    while (answer := call("POST", sandbox.url + "/_admin/advance", which)).status == 200:
        statuses.append(answer.json()["status"])
    assert answer.status == 409, answer.body
    return statuses


def assert_valid_pdf(data):
    """A PDF whose cross-reference table points at its objects and whose stream length is
    right: what a strict reader needs to open it."""
    assert data.startswith(b"%PDF-1.4\n")
    assert data.rstrip().endswith(b"%%EOF")
    xref = int(re.search(rb"startxref\n(\d+)\n", data).group(1))
    assert data[xref:].startswith(b"xref\n")
    offsets = re.findall(rb"(\d{10}) 00000 n \n", data[xref:])
    assert len(offsets) == 5
    for number, offset in enumerate(offsets, start=1):
        assert data[int(offset) :].startswith(b"%d 0 obj\n" % number)
    length = int(re.search(rb"/Length (\d+)", data).group(1))
    stream = data.index(b"stream\n") + len(b"stream\n")
    assert data[stream + length :].startswith(b"\nendstream")


# --- carrier: shipments, labels, trackers ---------------------------------------------------------
def test_carrier_shipment_has_the_recorded_shape_and_three_rates(carrier):
    shipment = create_shipment(carrier)
    recorded = recorded_response("test_shipment_create")
    assert list(shipment) == list(recorded)
    assert shipment["id"].startswith("shp_") and shipment["object"] == "Shipment"
    assert shipment["reference"] == "SHP/00012"
    assert EASYPOST_TIME.match(shipment["created_at"])
    for key in ("to_address", "from_address", "parcel", "return_address", "buyer_address"):
        assert set(shipment[key]) == set(recorded[key]), key
    assert shipment["to_address"]["id"].startswith("adr_")
    assert shipment["parcel"]["id"].startswith("prcl_")
    assert shipment["parcel"]["weight"] == 15.4
    assert set(shipment["customs_info"]) == set(recorded["customs_info"])
    assert set(shipment["options"]) == set(recorded["options"])
    rates = shipment["rates"]
    assert [set(rate) for rate in rates] == [set(recorded["rates"][0])] * 3
    assert [(r["carrier"], r["service"], r["rate"], r["delivery_days"]) for r in rates] == (
        DEFAULT_RATES
    )
    assert all(r["id"].startswith("rate_") and r["shipment_id"] == shipment["id"] for r in rates)
    assert all(isinstance(r["retail_rate"], str) and r["currency"] == "USD" for r in rates)


def test_carrier_rates_can_be_configured(carrier):
    rates = [{"carrier": "FedEx", "service": "FEDEX_GROUND", "rate": 12.5, "delivery_days": 4}]
    admin(carrier, "/_admin/config", {"rates": rates})
    shipment = create_shipment(carrier)
    assert [(r["carrier"], r["service"], r["rate"]) for r in shipment["rates"]] == [
        ("FedEx", "FEDEX_GROUND", "12.50")
    ]
    admin(carrier, "/_admin/config", {"rates": None})
    assert len(create_shipment(carrier)["rates"]) == 3


def test_carrier_rejects_an_incomplete_shipment_like_easypost(carrier):
    recorded = recorded_response("test_error")
    answer = carrier_call(carrier, "POST", "/v2/shipments", {"shipment": {}})
    assert answer.status == 422
    assert answer.json() == recorded  # the recorded answer to the recorded request
    shipment = recorded_request("test_shipment_create")["shipment"]
    del shipment["to_address"]
    shipment["parcel"] = {"length": 10}
    answer = carrier_call(carrier, "POST", "/v2/shipments", {"shipment": shipment})
    assert answer.status == 422
    error = answer.json()["error"]
    assert error["code"] == "PARAMETER.REQUIRED"
    assert [e["field"] for e in error["errors"]] == [
        "shipment.to_address",
        "shipment.parcel.weight",
    ]
    shipment["to_address"] = {"name": "Elizabeth Swan"}
    shipment["parcel"] = {"weight": -1}
    error = carrier_call(carrier, "POST", "/v2/shipments", {"shipment": shipment}).json()["error"]
    assert error["code"] == "PARAMETER.INVALID"
    assert carrier_call(carrier, "POST", "/v2/shipments", b"{not json").status == 400
    assert admin(carrier, "/_admin/state")["shipments"] == {}


def test_carrier_requires_the_api_key(carrier):
    body = recorded_request("test_shipment_create")
    for headers in (
        {},
        basic_auth("wrong-key"),
        {"Authorization": "Basic " + base64.b64encode(f"{CARRIER_KEY}:pw".encode()).decode()},
        {"Authorization": f"Token {CARRIER_KEY}"},
    ):
        answer = call("POST", carrier.url + "/v2/shipments", body, headers)
        assert answer.status == 401
        assert answer.json()["error"]["code"] == "APIKEY.INACTIVE"
        assert answer.json()["error"]["errors"] == []
    bearer = {"Authorization": f"Bearer {CARRIER_KEY}"}
    assert call("POST", carrier.url + "/v2/shipments", body, bearer).status == 201
    assert admin(carrier, "/_admin/state")["purchases_total"] == 0
    received = admin(carrier, "/_admin/received")
    assert len(received) == 5
    assert all("authorization" not in entry["headers"] for entry in received)
    assert received[-1]["headers"]["content-type"] == "application/json"
    assert received[-1]["body"] == body
    assert received[-1]["method"] == "POST" and received[-1]["path"] == "/v2/shipments"


def test_buy_returns_a_label_pdf_a_tracking_code_and_a_tracker(carrier):
    shipment = create_shipment(carrier, reference="SHP/00042")
    answer = buy(carrier, shipment, rate_index=1)
    assert answer.status == 200
    result = answer.json()
    recorded = recorded_response("test_shipment_buy", 1)
    assert list(result) == list(recorded)
    assert set(result["postage_label"]) == set(recorded["postage_label"])
    label = result["postage_label"]
    assert label["id"].startswith("pl_") and label["label_file_type"] == "application/pdf"
    assert label["label_url"] == f"{carrier.url}/labels/{label['id']}.pdf"
    assert re.fullmatch(r"9400\d{18}", result["tracking_code"])
    assert result["selected_rate"]["id"] == shipment["rates"][1]["id"]
    assert [fee["amount"] for fee in result["fees"]] == ["0.00000", "9.20000"]
    tracker = result["tracker"]
    assert set(recorded_response("test_tracker_retrieve", 1)) <= set(tracker)
    assert tracker["id"].startswith("trk_") and tracker["status"] == "pre_transit"
    assert tracker["tracking_code"] == result["tracking_code"]
    assert tracker["shipment_id"] == shipment["id"]
    # The label: a real PDF, downloadable without credentials.
    pdf = call("GET", label["label_url"])
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert_valid_pdf(pdf.body)
    assert result["tracking_code"].encode() in pdf.body and b"SHP/00042" in pdf.body
    assert call("GET", f"{carrier.url}/labels/pl_unknown.pdf").status == 404
    # The shipment, read back, is the bought one.
    read = carrier_call(carrier, "GET", f"/v2/shipments/{shipment['id']}").json()
    assert read["tracking_code"] == result["tracking_code"]
    assert call("GET", tracker["public_url"]).status == 200


def test_buy_is_idempotent_and_never_buys_twice(carrier):
    shipment = create_shipment(carrier)
    first = buy(carrier, shipment, idempotency_key="key-1")
    again = buy(carrier, shipment, idempotency_key="key-1")
    assert first.status == again.status == 200
    assert again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    state = admin(carrier, "/_admin/state")
    assert state["shipments"][shipment["id"]]["purchases"] == 1
    other = buy(carrier, shipment, idempotency_key="key-2")
    assert other.status == 422
    assert other.json()["error"]["code"] == "SHIPMENT.POSTAGE.EXISTS"
    assert buy(carrier, shipment).status == 422
    state = admin(carrier, "/_admin/state")
    assert state["purchases_total"] == 1
    assert state["shipments"][shipment["id"]]["reference"] == "SHP/00012"
    assert state["shipments"][shipment["id"]]["tracking_code"] == first.json()["tracking_code"]
    missing = carrier_call(carrier, "POST", "/v2/shipments/shp_nope/buy", {"rate": {"id": "x"}})
    assert missing.status == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    fresh = create_shipment(carrier)
    unknown_rate = carrier_call(
        carrier, "POST", f"/v2/shipments/{fresh['id']}/buy", {"rate": {"id": "rate_nope"}}
    )
    assert unknown_rate.status == 422
    assert unknown_rate.json()["error"]["errors"][0]["field"] == "rate.id"


def test_tracker_walk_sends_signed_events_in_order(carrier, receiver):
    shipment = bought(carrier)
    statuses = advance_to_the_end(carrier, tracking_code=shipment["tracking_code"])
    assert statuses == ["in_transit", "out_for_delivery", "delivered"]
    deliveries = receiver.wait_for(4)
    events = [delivery.json() for delivery in deliveries]
    for delivery in deliveries:
        signature = delivery.headers["x-hmac-signature"]
        assert easypost_signature_valid(delivery.body, signature, CARRIER_SECRET)
        # Keyed with the NFKD form of the secret, not with its raw UTF-8 bytes.
        raw_key = hmac.new(CARRIER_SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
        assert not signature.endswith(raw_key)
    # The label's pre_transit state is an update of its own, sent first (as EasyPost does).
    assert [e["result"]["status"] for e in events] == ["pre_transit", *statuses]
    assert [e["previous_attributes"] for e in events] == [
        {"status": "unknown"},
        {"status": "pre_transit"},
        {"status": "in_transit"},
        {"status": "out_for_delivery"},
    ]
    assert [e["result"]["status_detail"] for e in events] == [
        "status_update",
        "arrived_at_facility",
        "out_for_delivery",
        "arrived_at_destination",
    ]
    # The first Event carries the tracker as the purchase answered it, time-stamped with the
    # tracker's own updated_at (its creation: nothing scanned yet).
    created = shipment["tracker"]
    assert EASYPOST_TIME.match(created["updated_at"])
    assert created["updated_at"] == created["created_at"]
    assert events[0]["result"] == created
    assert events[0]["created_at"] == events[0]["updated_at"] == created["updated_at"]
    assert [d["status"] for d in events[0]["result"]["tracking_details"]] == ["pre_transit"]
    assert events[0]["result"]["finalized"] is False
    stamps = [e["created_at"] for e in events]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert all(e["created_at"] == e["result"]["updated_at"] for e in events)
    for event in events:
        assert event["object"] == "Event" and event["description"] == "tracker.updated"
        assert event["id"].startswith("evt_") and event["user_id"].startswith("user_")
        assert event["mode"] == "test" and event["status"] == "pending"
        assert event["pending_urls"] == [] and event["completed_urls"] == []
        assert EASYPOST_TIME.match(event["created_at"])
        assert event["result"]["tracking_code"] == shipment["tracking_code"]
    assert len({e["id"] for e in events}) == 4
    assert events[-1]["result"]["signed_by"] == "J. Doe"
    times = [d["datetime"] for d in events[-1]["result"]["tracking_details"]]
    assert times == sorted(times) and len(set(times)) == 4
    tracker_id = shipment["tracker"]["id"]
    tracker = carrier_call(carrier, "GET", f"/v2/trackers/{tracker_id}").json()
    assert set(recorded_response("test_tracker_retrieve", 1)) <= set(tracker)
    assert tracker["status"] == "delivered" and tracker["finalized"] is True
    assert set(tracker["tracking_details"][0]) == set(
        recorded_response("test_tracker_retrieve", 1)["tracking_details"][0]
    )
    state = admin(carrier, "/_admin/state")
    assert state["shipments"][shipment["id"]]["tracker_status"] == "delivered"
    assert state["trackers"][tracker_id]["events_sent"] == 4


def test_scenarios_by_reference_and_by_default(carrier, receiver):
    admin(carrier, "/_admin/config", {"scenario": "return", "scenarios": {"SHP/FAIL": "failure"}})
    failing = bought(carrier, reference="SHP/FAIL")
    returned = bought(carrier, reference="SHP/BACK")
    assert advance_to_the_end(carrier, reference="SHP/FAIL") == ["in_transit", "failure"]
    assert advance_to_the_end(carrier, reference="SHP/BACK") == ["in_transit", "return_to_sender"]
    events = [delivery.json() for delivery in receiver.wait_for(6)]
    assert len(events) == 6

    def walk_of(shipment):
        return [
            (e["previous_attributes"]["status"], e["result"]["status"])
            for e in events
            if e["result"]["tracking_code"] == shipment["tracking_code"]
        ]

    assert walk_of(failing) == [
        ("unknown", "pre_transit"),
        ("pre_transit", "in_transit"),
        ("in_transit", "failure"),
    ]
    assert walk_of(returned) == [
        ("unknown", "pre_transit"),
        ("pre_transit", "in_transit"),
        ("in_transit", "return_to_sender"),
    ]
    bad = call("POST", carrier.url + "/_admin/config", {"scenario": "lost_in_space"})
    assert bad.status == 400


def test_a_cash_on_delivery_parcel_reports_the_cash_collected_after_delivery(carrier, receiver):
    request = recorded_request("test_shipment_create")
    request["shipment"]["reference"] = "SHP/COD"
    request["shipment"]["options"] = {
        "cod_amount": "150.00",
        "cod_method": "CASH",
        "currency": "USD",
    }
    created = carrier_call(carrier, "POST", "/v2/shipments", request)
    assert created.status == 201, created.body
    shipment = created.json()
    assert shipment["options"]["cod_amount"] == "150.00"
    assert shipment["options"]["cod_method"] == "CASH"
    answer = buy(carrier, shipment)
    assert answer.status == 200, answer.body
    cod_parcel = answer.json()
    assert cod_parcel["options"]["cod_amount"] == "150.00"
    plain = bought(carrier, reference="SHP/PLAIN")

    codes = {"cod": cod_parcel["tracking_code"], "plain": plain["tracking_code"]}
    assert advance_to_the_end(carrier, tracking_code=codes["cod"]) == [
        "in_transit",
        "out_for_delivery",
        "delivered",
        "delivered",
    ]
    assert advance_to_the_end(carrier, tracking_code=codes["plain"]) == [
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    events = [delivery.json() for delivery in receiver.wait_for(9)]
    cod_events = [e for e in events if e["result"]["tracking_code"] == codes["cod"]]
    assert [e["result"]["status_detail"] for e in cod_events] == [
        "status_update",
        "arrived_at_facility",
        "out_for_delivery",
        "arrived_at_destination",
        "cod_collected",
    ]
    delivered, collected = cod_events[-2:]
    assert delivered["result"]["finalized"] is False  # the cash is still to be collected
    assert collected["result"]["finalized"] is True
    assert collected["previous_attributes"] == {"status": "delivered"}
    scan = collected["result"]["tracking_details"][-1]
    assert (scan["status"], scan["status_detail"]) == ("delivered", "cod_collected")
    assert (scan["cod_amount"], scan["cod_currency"]) == ("150.00", "USD")
    assert scan["message"] == "Cash on Delivery Collected: 150.00 USD"
    assert "cod_amount" not in delivered["result"]["tracking_details"][-1]
    assert not any(
        d["status_detail"] == "cod_collected"
        for e in events
        if e["result"]["tracking_code"] == codes["plain"]
        for d in e["result"]["tracking_details"]
    )
    state = admin(carrier, "/_admin/state")
    assert state["trackers"][cod_parcel["tracker"]["id"]]["cod"] == {
        "amount": "150.00",
        "currency": "USD",
    }
    assert state["trackers"][plain["tracker"]["id"]]["cod"] is None
    # A parcel that is never delivered collects nothing.
    admin(carrier, "/_admin/config", {"scenarios": {"SHP/COD-FAIL": "failure"}})
    request["shipment"]["reference"] = "SHP/COD-FAIL"
    failing = carrier_call(carrier, "POST", "/v2/shipments", request).json()
    failing_parcel = buy(carrier, failing).json()
    assert advance_to_the_end(carrier, tracking_code=failing_parcel["tracking_code"]) == [
        "in_transit",
        "failure",
    ]


def test_trackers_walk_on_their_own_with_a_step_delay(carrier, receiver):
    admin(carrier, "/_admin/config", {"step_seconds": 0.05})
    bought(carrier)
    events = [delivery.json() for delivery in receiver.wait_for(4)]
    assert [e["result"]["status"] for e in events] == [
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]


def test_create_and_retrieve_a_tracker(carrier, receiver):
    body = {"tracker": {"tracking_code": "EZ1000000001", "carrier": "USPS"}}
    created = carrier_call(carrier, "POST", "/v2/trackers", body)
    assert created.status == 201
    tracker = created.json()
    # The union of the recorded create and retrieve answers (each lacks a key of the other).
    assert set(tracker) == set(recorded_response("test_tracker_create")) | set(
        recorded_response("test_tracker_retrieve", 1)
    )
    assert tracker["status"] == "pre_transit" and tracker["tracking_code"] == "EZ1000000001"
    again = carrier_call(carrier, "POST", "/v2/trackers", body)
    assert again.status == 200 and again.json()["id"] == tracker["id"]
    read = carrier_call(carrier, "GET", f"/v2/trackers/{tracker['id']}")
    assert read.status == 200 and read.json()["id"] == tracker["id"]
    assert carrier_call(carrier, "GET", "/v2/trackers/trk_nope").status == 404
    assert carrier_call(carrier, "POST", "/v2/trackers", {"tracker": {}}).status == 422
    assert advance_to_the_end(carrier, tracking_code="EZ1000000001")[-1] == "delivered"
    # The new tracker's pre_transit update went out first, stamped with its own updated_at;
    # the repeated create (200) started no second walk.
    events = [delivery.json() for delivery in receiver.wait_for(4)]
    assert events[0]["previous_attributes"] == {"status": "unknown"}
    assert events[0]["result"] == tracker
    assert events[0]["created_at"] == tracker["updated_at"] == tracker["created_at"]
    state = admin(carrier, "/_admin/state")
    assert list(state["trackers"]) == [tracker["id"]]
    assert state["trackers"][tracker["id"]]["events_sent"] == 4


# --- carrier: faults on the way in ----------------------------------------------------------------
def test_error_rate_fails_before_the_effect(carrier):
    admin(carrier, "/_admin/faults", {"error_rate": 1.0})
    answer = carrier_call(
        carrier, "POST", "/v2/shipments", recorded_request("test_shipment_create")
    )
    assert answer.status == 500
    assert set(answer.json()["error"]) == {"code", "message", "errors"}
    # Admin endpoints are never faulted; the failed request was received, nothing was created.
    assert admin(carrier, "/_admin/state")["shipments"] == {}
    assert len(admin(carrier, "/_admin/received")) == 1
    assert admin(carrier, "/_admin/faults")["error_rate"] == 1.0


def test_error_after_rate_applies_the_effect_and_loses_the_answer(carrier):
    shipment = create_shipment(carrier)
    admin(carrier, "/_admin/faults", {"error_after_rate": 1.0})
    assert buy(carrier, shipment, idempotency_key="label-1").status == 500
    state = admin(carrier, "/_admin/state")
    assert state["shipments"][shipment["id"]]["purchases"] == 1
    admin(carrier, "/_admin/faults", {"error_after_rate": 0})
    retry = buy(carrier, shipment, idempotency_key="label-1")
    assert retry.status == 200
    assert retry.json()["tracking_code"] == state["shipments"][shipment["id"]]["tracking_code"]
    assert admin(carrier, "/_admin/state")["purchases_total"] == 1


def test_down_latency_and_timeouts(carrier):
    body = recorded_request("test_shipment_create")
    admin(carrier, "/_admin/faults", {"down": True})
    answer = carrier_call(carrier, "POST", "/v2/shipments", body)
    assert answer.status == 503 and answer.headers["Retry-After"] == "5"
    admin(carrier, "/_admin/faults", {"down": False, "down_for_seconds": 0.3})
    assert carrier_call(carrier, "POST", "/v2/shipments", body).status == 503
    time.sleep(0.35)
    assert carrier_call(carrier, "POST", "/v2/shipments", body).status == 201
    admin(carrier, "/_admin/faults", {"latency_ms": 200})
    started = time.monotonic()
    assert carrier_call(carrier, "POST", "/v2/shipments", body).status == 201
    assert time.monotonic() - started >= 0.2
    admin(carrier, "/_admin/faults", {"latency_ms": 0, "timeout_rate": 1.0, "hang_seconds": 1})
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        carrier_call(carrier, "GET", "/v2/trackers/trk_x", timeout=0.3)
    bad = call("POST", carrier.url + "/_admin/faults", {"error_rate": 2})
    assert bad.status == 400
    assert call("POST", carrier.url + "/_admin/faults", {"chaos": 1}).status == 400


def test_seeded_faults_repeat():
    def statuses():
        sandbox = CarrierSandbox(api_key=CARRIER_KEY, step_seconds=0).start()
        try:
            admin(sandbox, "/_admin/faults", {"error_rate": 0.5, "seed": 7})
            body = recorded_request("test_shipment_create")
            return [carrier_call(sandbox, "POST", "/v2/shipments", body).status for _ in range(12)]
        finally:
            sandbox.stop()

    first = statuses()
    assert first == statuses()
    assert {500, 201} == set(first)


def test_reset_clears_state_faults_and_logs(carrier, receiver):
    shipment = bought(carrier)
    advance_to_the_end(carrier, tracking_code=shipment["tracking_code"])
    receiver.wait_for(4)
    admin(carrier, "/_admin/faults", {"down": True})
    assert admin(carrier, "/_admin/reset", {}) == {"reset": True}
    assert admin(carrier, "/_admin/state")["shipments"] == {}
    assert admin(carrier, "/_admin/faults")["down"] is False
    assert admin(carrier, "/_admin/received") == []
    assert admin(carrier, "/_admin/deliveries") == []
    assert admin(carrier, "/_admin/config")["webhook_url"] == receiver.url


# --- carrier: faults on the way out ---------------------------------------------------------------
def test_duplicate_deliveries_repeat_the_same_event(carrier, receiver):
    admin(carrier, "/_admin/faults", {"duplicate_rate": 1.0})
    shipment = bought(carrier)
    advance_to_the_end(carrier, tracking_code=shipment["tracking_code"])
    deliveries = receiver.wait_for(8)
    assert [d.body for d in deliveries[0::2]] == [d.body for d in deliveries[1::2]]
    assert len({d.json()["id"] for d in deliveries}) == 4
    assert [d.json()["result"]["status"] for d in deliveries[0::2]] == [
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    assert all(
        easypost_signature_valid(d.body, d.headers["x-hmac-signature"], CARRIER_SECRET)
        for d in deliveries
    )


def test_out_of_order_swaps_consecutive_updates(carrier, receiver):
    admin(carrier, "/_admin/faults", {"out_of_order": True})
    shipment = bought(carrier)
    advance_to_the_end(carrier, tracking_code=shipment["tracking_code"])
    # The pre_transit update is held until the first scan, which overtakes it; the final
    # update flushes the one held before it, after itself.
    events = [d.json() for d in receiver.wait_for(4)]
    assert [e["result"]["status"] for e in events] == [
        "in_transit",
        "pre_transit",
        "delivered",
        "out_for_delivery",
    ]
    assert [e["previous_attributes"]["status"] for e in events] == [
        "pre_transit",
        "unknown",
        "out_for_delivery",
        "in_transit",
    ]
    # The receiver can put them back in order by their time stamps.
    in_order = sorted(events, key=lambda e: e["created_at"])
    assert [e["result"]["status"] for e in in_order] == [
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]


def test_bad_signatures_and_malformed_bodies(carrier, receiver):
    shipment = bought(carrier)
    # The pre_transit update went out before any fault was set: whole and correctly signed.
    genuine = receiver.wait_for(1)[0]
    assert genuine.json()["result"]["status"] == "pre_transit"
    assert easypost_signature_valid(
        genuine.body, genuine.headers["x-hmac-signature"], CARRIER_SECRET
    )
    admin(carrier, "/_admin/faults", {"bad_signature_rate": 1.0})
    call("POST", carrier.url + "/_admin/advance", {"tracking_code": shipment["tracking_code"]})
    forged = receiver.wait_for(2)[1]
    assert forged.json()["object"] == "Event"
    assert forged.json()["result"]["status"] == "in_transit"
    assert not easypost_signature_valid(
        forged.body, forged.headers["x-hmac-signature"], CARRIER_SECRET
    )
    admin(carrier, "/_admin/faults", {"bad_signature_rate": 0, "malformed_rate": 1.0})
    call("POST", carrier.url + "/_admin/advance", {"tracking_code": shipment["tracking_code"]})
    truncated = receiver.wait_for(3)[2]
    with pytest.raises(ValueError):
        json.loads(truncated.body)
    assert easypost_signature_valid(
        truncated.body, truncated.headers["x-hmac-signature"], CARRIER_SECRET
    )


def test_failed_deliveries_are_retried_with_backoff(carrier):
    flaky = Receiver(statuses=[500, 503])
    try:
        admin(carrier, "/_admin/config", {"webhook_url": flaky.url})
        shipment = bought(carrier)
        # The pre_transit update meets the two failures and is delivered on the third attempt,
        # the same body each time, freshly and correctly signed.
        deliveries = flaky.wait_for(3)
        assert deliveries[0].body == deliveries[1].body == deliveries[2].body
        assert json.loads(deliveries[0].body)["result"]["status"] == "pre_transit"
        assert all(
            easypost_signature_valid(d.body, d.headers["x-hmac-signature"], CARRIER_SECRET)
            for d in deliveries
        )
        wait_until(lambda: len(admin(carrier, "/_admin/deliveries")) == 3)
        # Advanced only now, so the next update is not interleaved with the retries.
        call("POST", carrier.url + "/_admin/advance", {"tracking_code": shipment["tracking_code"]})
        assert json.loads(flaky.wait_for(4)[3].body)["result"]["status"] == "in_transit"
        wait_until(lambda: len(admin(carrier, "/_admin/deliveries")) == 4)
        log = admin(carrier, "/_admin/deliveries")
        assert [(d["attempt"], d["status"]) for d in log] == [
            (1, 500),
            (2, 503),
            (3, 200),
            (1, 200),
        ]
        assert log[0]["url"] == flaky.url and json.loads(log[0]["body"])["object"] == "Event"
        assert all(d["error"] is None for d in log)
    finally:
        flaky.close()


# --- carrier: label refunds -----------------------------------------------------------------------
REFUND_KEYS = {
    "id",
    "object",
    "created_at",
    "updated_at",
    "tracking_code",
    "confirmation_number",
    "status",
    "carrier",
    "shipment_id",
}


def refund(carrier, shipment_id, idempotency_key=None):
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return carrier_call(carrier, "POST", f"/v2/shipments/{shipment_id}/refund", **headers)


def refund_events(receiver, count, timeout=5):
    """The first ``count`` refund.successful Events received (tracker Events left aside)."""

    def found():
        events = [
            (delivery, delivery.json())
            for delivery in list(receiver.deliveries)
            if b'"refund.successful"' in delivery.body
        ]
        return events if len(events) >= count else None

    return wait_until(found, timeout, f"{count} refund.successful Event(s)")


def test_refund_is_submitted_then_refunded_with_a_signed_event(carrier, receiver):
    admin(carrier, "/_admin/config", {"refund_delay_seconds": 0.2})
    shipment = bought(carrier)
    answer = refund(carrier, shipment["id"])
    assert answer.status == 200, answer.body
    submitted = answer.json()
    # The Shipment, as EasyPost answers a refund request, with its refund pending.
    assert list(submitted) == list(recorded_response("test_shipment_buy"))
    assert submitted["id"] == shipment["id"]
    assert submitted["tracking_code"] == shipment["tracking_code"]
    assert submitted["postage_label"] == shipment["postage_label"]
    assert submitted["refund_status"] == "submitted"
    pending = carrier_call(carrier, "GET", f"/v2/shipments/{shipment['id']}").json()
    assert pending["refund_status"] == "submitted"
    [(delivery, event)] = refund_events(receiver, 1)
    assert easypost_signature_valid(
        delivery.body, delivery.headers["x-hmac-signature"], CARRIER_SECRET
    )
    assert event["object"] == "Event" and event["description"] == "refund.successful"
    assert event["id"].startswith("evt_") and event["user_id"].startswith("user_")
    assert event["mode"] == "test" and event["status"] == "pending"
    assert event["previous_attributes"] == {"status": "submitted"}
    assert EASYPOST_TIME.match(event["created_at"])
    result = event["result"]
    assert set(result) == REFUND_KEYS
    assert result["object"] == "Refund" and result["id"].startswith("rfnd_")
    assert result["status"] == "refunded"
    assert result["shipment_id"] == shipment["id"]
    assert result["tracking_code"] == shipment["tracking_code"]
    assert result["carrier"] == shipment["selected_rate"]["carrier"] == "USPS"
    assert result["confirmation_number"]
    assert EASYPOST_TIME.match(result["created_at"]) and EASYPOST_TIME.match(result["updated_at"])
    assert result["created_at"] <= result["updated_at"] == event["created_at"]
    done = carrier_call(carrier, "GET", f"/v2/shipments/{shipment['id']}").json()
    assert done["refund_status"] == "refunded"
    assert done["fees"] and all(fee["refunded"] for fee in done["fees"])
    # A refunded label's parcel does not move any more.
    stopped = call(
        "POST", carrier.url + "/_admin/advance", {"tracking_code": done["tracking_code"]}
    )
    assert stopped.status == 409
    state = admin(carrier, "/_admin/state")
    assert state["shipments"][shipment["id"]]["refunds"] == 1
    assert state["shipments"][shipment["id"]]["refund_status"] == "refunded"
    assert state["shipments"][shipment["id"]]["refund_events_sent"] == 1
    assert state["references"] == {"SHP/00012": {"purchases": 1, "refunds": 1, "refunded": 1}}
    assert state["purchases"] == [
        {
            "shipment_id": shipment["id"],
            "reference": "SHP/00012",
            "tracking_code": shipment["tracking_code"],
            "carrier": "USPS",
            "service": "GroundAdvantage",
            "rate": "7.37",
            "currency": "USD",
            "weight_oz": 15.4,
            "residential": False,
            "cod_amount": None,
            "refund_status": "refunded",
        }
    ]
    assert state["refunds_total"] == 1 and state["refunds"] == [result]
    assert state["trackers"][shipment["tracker"]["id"]]["halted"] == "refunded"
    assert state["trackers"][shipment["tracker"]["id"]]["status"] == "pre_transit"


def test_a_refunded_label_stops_its_tracker_walking(carrier, receiver):
    # The refund is asked well within the first step, and done before it would come.
    admin(carrier, "/_admin/config", {"step_seconds": 0.5, "refund_delay_seconds": 0.05})
    shipment = bought(carrier)
    assert refund(carrier, shipment["id"]).status == 200
    refund_events(receiver, 1)
    time.sleep(1.6)  # three steps' worth: the parcel would be delivered by now
    events = [delivery.json() for delivery in receiver.deliveries]
    assert [(e["description"], e["result"]["status"]) for e in events] == [
        ("tracker.updated", "pre_transit"),
        ("refund.successful", "refunded"),
    ]
    tracker = carrier_call(carrier, "GET", f"/v2/trackers/{shipment['tracker']['id']}").json()
    assert tracker["status"] == "pre_transit"


def test_refund_is_rejected_on_demand_and_once_the_parcel_was_scanned(carrier, receiver):
    admin(carrier, "/_admin/config", {"refund_delay_seconds": 0.05, "refund_reject": True})
    refused = bought(carrier, reference="SHP/REJECT")
    assert refund(carrier, refused["id"]).json()["refund_status"] == "submitted"
    [(_delivery, event)] = refund_events(receiver, 1)
    assert event["result"]["status"] == "rejected"
    assert event["result"]["confirmation_number"] is None
    again = carrier_call(carrier, "GET", f"/v2/shipments/{refused['id']}").json()
    assert again["refund_status"] == "rejected"
    assert not any(fee["refunded"] for fee in again["fees"])
    # The label stays valid: its parcel walks on.
    moved = call(
        "POST", carrier.url + "/_admin/advance", {"tracking_code": refused["tracking_code"]}
    )
    assert moved.status == 200 and moved.json()["status"] == "in_transit"

    admin(carrier, "/_admin/config", {"refund_reject": False})
    scanned = bought(carrier, reference="SHP/SCANNED")
    advanced = call(
        "POST", carrier.url + "/_admin/advance", {"tracking_code": scanned["tracking_code"]}
    )
    assert advanced.json()["status"] == "in_transit"
    assert refund(carrier, scanned["id"]).json()["refund_status"] == "submitted"
    assert refund_events(receiver, 2)[1][1]["result"]["status"] == "rejected"
    # EasyPost lets a rejected refund be asked again; a scanned parcel is rejected again.
    retried = refund(carrier, scanned["id"])
    assert retried.status == 200 and retried.json()["refund_status"] == "submitted"
    third = refund_events(receiver, 3)[2][1]["result"]
    assert third["status"] == "rejected" and third["shipment_id"] == scanned["id"]
    state = admin(carrier, "/_admin/state")
    assert state["references"] == {
        "SHP/REJECT": {"purchases": 1, "refunds": 1, "refunded": 0},
        "SHP/SCANNED": {"purchases": 1, "refunds": 2, "refunded": 0},
    }
    assert [p["refund_status"] for p in state["purchases"]] == ["rejected", "rejected"]
    assert state["refunds_total"] == 3


def test_refund_is_refused_without_a_label_and_once_asked(carrier, receiver):
    recorded = recorded_response("test_error")
    unbought = create_shipment(carrier, reference="SHP/NOLABEL")
    answer = refund(carrier, unbought["id"])
    assert answer.status == 422
    error = answer.json()["error"]
    assert set(error) == set(recorded["error"])
    assert error["code"] == "SHIPMENT.REFUND.UNAVAILABLE"
    assert error["errors"] and set(error["errors"][0]) == {"field", "message"}
    assert refund(carrier, "shp_nope").status == 404

    admin(carrier, "/_admin/config", {"refund_delay_seconds": 30})
    pending = bought(carrier, reference="SHP/PENDING")
    assert refund(carrier, pending["id"]).status == 200
    twice = refund(carrier, pending["id"])
    assert twice.status == 422
    assert twice.json()["error"]["code"] == "SHIPMENT.REFUND.EXISTS"

    admin(carrier, "/_admin/config", {"refund_delay_seconds": 0})
    done = bought(carrier, reference="SHP/DONE")
    assert refund(carrier, done["id"]).status == 200
    refund_events(receiver, 1)
    after = refund(carrier, done["id"])
    assert after.status == 422
    assert after.json()["error"]["code"] == "SHIPMENT.REFUND.EXISTS"
    assert "refunded" in after.json()["error"]["message"]
    state = admin(carrier, "/_admin/state")
    assert state["refunds_total"] == 2
    assert state["references"]["SHP/PENDING"] == {"purchases": 1, "refunds": 1, "refunded": 0}
    assert state["references"]["SHP/DONE"] == {"purchases": 1, "refunds": 1, "refunded": 1}
    assert "SHP/NOLABEL" not in state["references"]
    bad = call("POST", carrier.url + "/_admin/config", {"refund_delay_seconds": -1})
    assert bad.status == 400
    bad = call("POST", carrier.url + "/_admin/config", {"refund_reject": "yes"})
    assert bad.status == 400


def test_refund_is_idempotent_on_its_key(carrier, receiver):
    admin(carrier, "/_admin/config", {"refund_delay_seconds": 0.1})
    shipment = bought(carrier)
    first = refund(carrier, shipment["id"], idempotency_key="refund-1")
    again = refund(carrier, shipment["id"], idempotency_key="refund-1")
    assert first.status == again.status == 200
    assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
    refund_events(receiver, 1)
    # After the refund completed, the same key still gets the first answer, and nothing more.
    late = refund(carrier, shipment["id"], idempotency_key="refund-1")
    assert late.status == 200 and late.body == first.body
    other = refund(carrier, shipment["id"], idempotency_key="refund-2")
    assert other.status == 422
    time.sleep(0.3)
    assert len(refund_events(receiver, 1)) == 1
    state = admin(carrier, "/_admin/state")
    assert state["shipments"][shipment["id"]]["refunds"] == 1
    assert state["refunds_total"] == 1

    # The answer lost after the effect: the retry with the same key gets it, no second refund.
    lost = bought(carrier, reference="SHP/LOST")
    admin(carrier, "/_admin/faults", {"error_after_rate": 1.0})
    assert refund(carrier, lost["id"], idempotency_key="refund-lost").status == 500
    admin(carrier, "/_admin/faults", {"error_after_rate": 0.0})
    retried = refund(carrier, lost["id"], idempotency_key="refund-lost")
    assert retried.status == 200 and retried.json()["refund_status"] == "submitted"
    assert admin(carrier, "/_admin/state")["references"]["SHP/LOST"]["refunds"] == 1


def test_refund_events_get_the_webhook_faults(carrier, receiver):
    admin(carrier, "/_admin/config", {"refund_delay_seconds": 0})
    shipment = bought(carrier)
    receiver.wait_for(1)
    admin(carrier, "/_admin/faults", {"duplicate_rate": 1.0, "bad_signature_rate": 1.0})
    assert refund(carrier, shipment["id"]).status == 200
    copies = refund_events(receiver, 2)
    assert copies[0][0].body == copies[1][0].body
    assert not easypost_signature_valid(
        copies[0][0].body, copies[0][0].headers["x-hmac-signature"], CARRIER_SECRET
    )


# --- WMS ------------------------------------------------------------------------------------------
def wms_call(wms, method, path, body=None, **headers):
    return call(method, wms.url + path, body, {"Authorization": f"Bearer {WMS_KEY}", **headers})


def release_body(order_ref="WH/OUT/00012", lines=None):
    return {
        "order_ref": order_ref,
        "shipment_ref": order_ref.replace("WH/OUT", "SHP"),
        "warehouse": "WH",
        "ship_to": {"name": "Elizabeth Swan", "city": "Redondo Beach", "country": "US"},
        "lines": lines or [{"line_id": "17", "sku": "FURN_0001", "quantity": 3.0}],
    }


def release(wms, order_ref="WH/OUT/00012", lines=None, **headers):
    answer = wms_call(wms, "POST", "/api/orders", release_body(order_ref, lines), **headers)
    assert answer.status == 201, answer.body
    return answer.json()


def test_wms_release_runs_through_signed_callbacks(wms, receiver):
    created = release(wms)
    assert created == {"id": "wms-ord-1", "order_ref": "WH/OUT/00012", "status": "received"}
    steps = advance_to_the_end(wms, order_ref="WH/OUT/00012")
    assert steps == ["acknowledged", "picked", "packed", "shipped"]
    deliveries = receiver.wait_for(4)
    for delivery in deliveries:
        signature = delivery.headers["x-logistics-signature"]
        assert generic_signature_valid(delivery.body, signature, WMS_SECRET)
        assert not generic_signature_valid(delivery.body, signature, "another-secret")
    callbacks = [d.json() for d in deliveries]
    assert [c["event"] for c in callbacks] == [
        "order.acknowledged",
        "order.picked",
        "order.packed",
        "order.shipped",
    ]
    assert len({c["event_id"] for c in callbacks}) == 4
    assert all(c["event_id"].startswith("wms-evt-") for c in callbacks)
    assert {(c["order_ref"], c["shipment_ref"]) for c in callbacks} == {
        ("WH/OUT/00012", "SHP/00012")
    }
    times = [datetime.fromisoformat(c["occurred_at"]) for c in callbacks]
    assert all(c["occurred_at"].endswith("+00:00") for c in callbacks)
    assert times == sorted(times) and len(set(times)) == 4
    assert [c["lines"][0]["quantity_done"] for c in callbacks] == [0.0, 3.0, 3.0, 3.0]
    assert callbacks[0]["lines"] == [
        {"line_id": "17", "sku": "FURN_0001", "quantity_ordered": 3.0, "quantity_done": 0.0}
    ]
    assert "packages" not in callbacks[0] and "packages" not in callbacks[1]
    assert callbacks[2]["packages"] == callbacks[3]["packages"]
    package = callbacks[3]["packages"][0]
    assert package["package_id"].startswith("PKG-") and package["weight_kg"] > 0
    order = admin(wms, "/_admin/state")["orders"]["WH/OUT/00012"]
    assert order["status"] == "shipped" and order["id"] == "wms-ord-1"
    assert order["steps_sent"] == [c["event"] for c in callbacks]
    assert wms_call(wms, "GET", "/api/orders/WH/OUT/00012").json()["status"] == "shipped"


def test_wms_packs_one_package_per_configured_weight(wms, receiver):
    dimensions = {"length_cm": 40.0, "width_cm": 30.0, "height_cm": 20.0}
    config = admin(
        wms,
        "/_admin/config",
        {"package_weights": [3.0, 4.5], "package_dimensions_cm": dimensions},
    )
    assert config["package_weights"] == [3.0, 4.5]
    assert config["package_dimensions_cm"] == dimensions
    release(wms)
    advance_to_the_end(wms, order_ref="WH/OUT/00012")
    callbacks = [d.json() for d in receiver.wait_for(4)]
    packed, shipped = callbacks[2], callbacks[3]
    assert (packed["event"], shipped["event"]) == ("order.packed", "order.shipped")
    assert packed["packages"] == shipped["packages"]
    assert [
        (p["weight_kg"], p["length_cm"], p["width_cm"], p["height_cm"]) for p in packed["packages"]
    ] == [(3.0, 40.0, 30.0, 20.0), (4.5, 40.0, 30.0, 20.0)]
    first_ids = [p["package_id"] for p in packed["packages"]]
    assert len(set(first_ids)) == 2 and all(i.startswith("PKG-") for i in first_ids)
    order = admin(wms, "/_admin/state")["orders"]["WH/OUT/00012"]
    assert order["packages"] == packed["packages"]
    # Another order's packages have ids of their own.
    release(wms, order_ref="WH/OUT/00013")
    advance_to_the_end(wms, order_ref="WH/OUT/00013")
    other = [d.json() for d in receiver.wait_for(8)][7]
    assert other["order_ref"] == "WH/OUT/00013" and len(other["packages"]) == 2
    assert not {p["package_id"] for p in other["packages"]} & set(first_ids)
    # Back to the default: one package weighed from the units, without dimensions.
    admin(wms, "/_admin/config", {"package_weights": None, "package_dimensions_cm": None})
    release(wms, order_ref="WH/OUT/00014")
    advance_to_the_end(wms, order_ref="WH/OUT/00014")
    [single] = [d.json() for d in receiver.wait_for(12)][11]["packages"]
    assert set(single) == {"package_id", "weight_kg"} and single["weight_kg"] == 1.7
    for bad in (
        {"package_weights": [3.0, 0]},
        {"package_weights": "3.0"},
        {"package_weights": [True]},
        {"package_dimensions_cm": {"length_cm": 10}},
        {"package_dimensions_cm": {"length_cm": 10, "width_cm": 10, "height_cm": -1}},
    ):
        assert call("POST", wms.url + "/_admin/config", bad).status == 400, bad


def test_wms_can_ship_without_a_packed_callback(wms, receiver):
    admin(wms, "/_admin/config", {"skip_events": ["order.packed"], "package_weights": [3.0, 4.5]})
    release(wms)
    steps = advance_to_the_end(wms, order_ref="WH/OUT/00012")
    assert steps == ["acknowledged", "picked", "shipped"]
    callbacks = [d.json() for d in receiver.wait_for(3)]
    assert [c["event"] for c in callbacks] == [
        "order.acknowledged",
        "order.picked",
        "order.shipped",
    ]
    # Packed all the same: the shipped callback lists the packages and the quantities shipped.
    assert [p["weight_kg"] for p in callbacks[2]["packages"]] == [3.0, 4.5]
    assert callbacks[2]["lines"][0]["quantity_done"] == 3.0
    order = admin(wms, "/_admin/state")["orders"]["WH/OUT/00012"]
    assert order["steps_sent"] == ["order.acknowledged", "order.picked", "order.shipped"]
    assert order["status"] == "shipped"
    # Only the shipment reported: picked and packed on the way, silently.
    admin(
        wms,
        "/_admin/config",
        {"skip_events": ["order.acknowledged", "order.picked", "order.packed"]},
    )
    release(wms, order_ref="WH/OUT/00013")
    assert advance_to_the_end(wms, order_ref="WH/OUT/00013") == ["shipped"]
    [only] = [d.json() for d in receiver.wait_for(4)][3:]
    assert only["event"] == "order.shipped" and only["lines"][0]["quantity_done"] == 3.0
    assert len(only["packages"]) == 2
    for bad in ({"skip_events": ["order.shipped"]}, {"skip_events": "order.packed"}):
        assert call("POST", wms.url + "/_admin/config", bad).status == 400, bad
    assert admin(wms, "/_admin/config", {"skip_events": []})["skip_events"] == []


def test_wms_validates_and_authenticates(wms):
    body = release_body()
    assert call("POST", wms.url + "/api/orders", body).status == 401
    unauthorized = call("POST", wms.url + "/api/orders", body, basic_auth(WMS_KEY))
    assert unauthorized.status == 401 and unauthorized.json()["error"] == "unauthorized"
    for broken, field in (
        ({**body, "lines": []}, "lines"),
        ({**body, "lines": [{"line_id": "1", "sku": "X", "quantity": 0}]}, "lines[0].quantity"),
        ({key: value for key, value in body.items() if key != "order_ref"}, "order_ref"),
    ):
        answer = wms_call(wms, "POST", "/api/orders", broken)
        assert answer.status == 422
        assert answer.json()["error"] == "validation"
        assert [detail["field"] for detail in answer.json()["details"]] == [field]
    assert admin(wms, "/_admin/state")["orders"] == {}


def test_wms_release_is_idempotent(wms, receiver):
    first = wms_call(wms, "POST", "/api/orders", release_body(), **{"Idempotency-Key": "rel-1"})
    again = wms_call(wms, "POST", "/api/orders", release_body(), **{"Idempotency-Key": "rel-1"})
    assert first.status == again.status == 201 and first.body == again.body
    other = wms_call(wms, "POST", "/api/orders", release_body(), **{"Idempotency-Key": "rel-2"})
    assert other.status == 409
    assert other.json()["error"] == "duplicate_order" and other.json()["id"] == "wms-ord-1"
    assert list(admin(wms, "/_admin/state")["orders"]) == ["WH/OUT/00012"]


def test_wms_without_idempotency_keys_refuses_a_repeated_order_ref(wms, receiver):
    admin(wms, "/_admin/config", {"refuse_repeated_orders": True})
    first = wms_call(wms, "POST", "/api/orders", release_body(), **{"Idempotency-Key": "rel-1"})
    assert first.status == 201, first.body
    for key in ("rel-1", "rel-2"):
        again = wms_call(wms, "POST", "/api/orders", release_body(), **{"Idempotency-Key": key})
        assert again.status == 409
        assert again.json() == {
            "error": {
                "code": "ORDER_EXISTS",
                "message": "order WH/OUT/00012 already exists",
                "order_ref": "WH/OUT/00012",
                "id": "wms-ord-1",
            }
        }
    assert list(admin(wms, "/_admin/state")["orders"]) == ["WH/OUT/00012"]
    assert (
        admin(wms, "/_admin/config", {"refuse_repeated_orders": False})["refuse_repeated_orders"]
        is False
    )
    assert call("POST", wms.url + "/_admin/config", {"refuse_repeated_orders": 1}).status == 400


def test_wms_short_picks_make_partial_shipments(wms, receiver):
    admin(wms, "/_admin/config", {"short": {"FURN_0001": 1, "FURN_0009": 5}})
    release(
        wms,
        "WH/OUT/00001",
        [
            {"line_id": "1", "sku": "FURN_0001", "quantity": 3.0},
            {"line_id": "2", "sku": "FURN_0002", "quantity": 2.0},
            {"line_id": "3", "sku": "FURN_0009", "quantity": 3.0},
        ],
    )
    advance_to_the_end(wms, order_ref="WH/OUT/00001")
    shipped = receiver.wait_for(4)[3].json()
    assert [line["quantity_done"] for line in shipped["lines"]] == [2.0, 2.0, 0.0]
    admin(wms, "/_admin/config", {"short": {}, "short_ratio": 0.5})
    release(
        wms,
        "WH/OUT/00002",
        [
            {"line_id": "1", "sku": "FURN_0001", "quantity": 3.0},
            {"line_id": "2", "sku": "FURN_0002", "quantity": 1.0},
        ],
    )
    advance_to_the_end(wms, order_ref="WH/OUT/00002")
    shipped = receiver.wait_for(8)[7].json()
    assert [line["quantity_done"] for line in shipped["lines"]] == [1.0, 0.0]
    assert [line["quantity_ordered"] for line in shipped["lines"]] == [3.0, 1.0]


def test_wms_cancel_before_and_after_shipping(wms, receiver):
    release(wms, "WH/OUT/00007")
    call("POST", wms.url + "/_admin/advance", {"order_ref": "WH/OUT/00007"})
    cancelled = wms_call(wms, "POST", "/api/orders/WH/OUT/00007/cancel")
    assert cancelled.status == 200 and cancelled.json()["status"] == "cancelled"
    callbacks = [d.json() for d in receiver.wait_for(2)]
    assert [c["event"] for c in callbacks] == ["order.acknowledged", "order.cancelled"]
    assert callbacks[1]["lines"][0]["quantity_done"] == 0.0
    assert call("POST", wms.url + "/_admin/advance", {"order_ref": "WH/OUT/00007"}).status == 409
    assert wms_call(wms, "POST", "/api/orders/WH/OUT/00007/cancel").status == 200
    release(wms, "WH/OUT/00008")
    advance_to_the_end(wms, order_ref="WH/OUT/00008")
    too_late = wms_call(wms, "POST", "/api/orders/WH%2FOUT%2F00008/cancel")
    assert too_late.status == 409 and too_late.json()["error"] == "already_shipped"
    assert wms_call(wms, "POST", "/api/orders/WH/OUT/99999/cancel").status == 404
    receiver.wait_for(6)
    time.sleep(0.1)
    assert len(receiver.deliveries) == 6  # the repeated cancel sent nothing new


def test_wms_stock_snapshot_follows_shipments(wms, receiver):
    items = [{"sku": "FURN_0001", "quantity": 10}, {"sku": "FURN_0002", "quantity": 1}]
    admin(wms, "/_admin/stock", {"items": items})
    release(
        wms,
        lines=[
            {"line_id": "1", "sku": "FURN_0001", "quantity": 3.0},
            {"line_id": "2", "sku": "FURN_0002", "quantity": 2.0},
        ],
    )
    advance_to_the_end(wms, order_ref="WH/OUT/00012")
    snapshot = wms_call(wms, "GET", "/api/stock").json()
    assert snapshot["warehouse"] == "WH"
    assert datetime.fromisoformat(snapshot["snapshot_at"]).utcoffset().total_seconds() == 0
    assert snapshot["items"] == [
        {"sku": "FURN_0001", "quantity": 7.0},
        {"sku": "FURN_0002", "quantity": 0.0},
    ]
    assert admin(wms, "/_admin/state")["stock"] == {"FURN_0001": 7.0, "FURN_0002": 0.0}
    assert call("GET", wms.url + "/api/stock").status == 401


def test_wms_stock_snapshot_serves_raw_items_and_documents(wms):
    admin(wms, "/_admin/stock", {"items": [{"sku": "FURN_0001", "quantity": 4}]})
    bad = [
        {"sku": "LIST", "quantity": [3]},
        {"sku": "TEXT", "quantity": "abc"},
        {"sku": "NULL", "quantity": None},
        {"sku": "NEG", "quantity": -5},
        {"quantity": 1},
        "not an item",
    ]
    assert admin(wms, "/_admin/stock/raw", {"items": bad})["items"] == bad
    assert wms_call(wms, "GET", "/api/stock").json()["items"] == [
        {"sku": "FURN_0001", "quantity": 4.0},
        *bad,
    ]
    # Not a snapshot at all, then a snapshot again.
    admin(wms, "/_admin/stock/raw", {"document": {"items": "none"}})
    assert wms_call(wms, "GET", "/api/stock").json() == {"items": "none"}
    admin(wms, "/_admin/stock/raw", {"document": None, "items": []})
    assert wms_call(wms, "GET", "/api/stock").json()["items"] == [
        {"sku": "FURN_0001", "quantity": 4.0}
    ]
    assert call("POST", wms.url + "/_admin/stock/raw", {"items": "x"}).status == 400
    assert call("POST", wms.url + "/_admin/stock/raw", {}).status == 400
    # A file drop is needed to write stock files.
    assert call("POST", wms.url + "/_admin/stock/file", {}).status == 409
    admin(wms, "/_admin/stock/raw", {"items": bad})
    admin(wms, "/_admin/reset", {})
    assert wms_call(wms, "GET", "/api/stock").json()["items"] == []


def test_wms_csv_writes_stock_files_on_request(tmp_path, receiver):
    sandbox = WmsSandbox(api_key=WMS_KEY, step_seconds=0, drop_dir=tmp_path).start()
    try:
        admin(sandbox, "/_admin/stock", {"items": [{"sku": "FURN_0001", "quantity": 4}]})
        admin(
            sandbox,
            "/_admin/stock/raw",
            {
                "items": [
                    {"sku": "LIST", "quantity": [3]},
                    {"sku": "TEXT", "quantity": "abc"},
                    {"sku": "NULL", "quantity": None},
                    {"sku": "NEG", "quantity": -5},
                    {"quantity": 1},
                ]
            },
        )
        first = admin(sandbox, "/_admin/stock/file", {})
        assert re.fullmatch(r"stock-[0-9a-f]{8}-1\.csv", first["file"])
        path = tmp_path / "inbound" / first["file"]
        assert path.read_text() == (
            "sku,quantity\nFURN_0001,4.0\nLIST,[3]\nTEXT,abc\nNULL,\nNEG,-5\n,1\n"
        )
        raw = admin(sandbox, "/_admin/stock/file", {"text": "no,stock\n1,2\n"})
        assert raw["file"] != first["file"]
        assert (tmp_path / "inbound" / raw["file"]).read_text() == "no,stock\n1,2\n"
        assert not list((tmp_path / "inbound").glob(".*"))
        assert call("POST", sandbox.url + "/_admin/stock/file", {"text": 3}).status == 400
    finally:
        sandbox.stop()


def test_wms_callback_faults(wms, receiver):
    admin(wms, "/_admin/faults", {"out_of_order": True, "duplicate_rate": 1.0})
    release(wms)
    advance_to_the_end(wms, order_ref="WH/OUT/00012")
    events = [d.json()["event"] for d in receiver.wait_for(8)]
    assert events == [
        "order.picked",
        "order.picked",
        "order.acknowledged",
        "order.acknowledged",
        "order.shipped",
        "order.shipped",
        "order.packed",
        "order.packed",
    ]
    admin(wms, "/_admin/faults", {"out_of_order": False, "duplicate_rate": 0})
    admin(wms, "/_admin/faults", {"bad_signature_rate": 1.0})
    release(wms, "WH/OUT/00013")
    call("POST", wms.url + "/_admin/advance", {"order_ref": "WH/OUT/00013"})
    forged = receiver.wait_for(9)[8]
    assert not generic_signature_valid(
        forged.body, forged.headers["x-logistics-signature"], WMS_SECRET
    )


def write_atomically(path, text):
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def read_confirmations(inbound):
    rows = []
    for path in sorted(
        inbound.glob("confirmations-*.csv"), key=lambda p: int(p.stem.split("-")[1])
    ):
        rows.extend(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    return rows


def test_wms_csv_file_drop_round_trip(tmp_path, receiver):
    (tmp_path / "inbound" / "processed").mkdir(parents=True)
    (tmp_path / "inbound" / "processed" / "confirmations-7.csv").write_text("old\n")
    sandbox = WmsSandbox(
        api_key=WMS_KEY, callback_url=receiver.url, step_seconds=0, drop_dir=tmp_path
    ).start()
    try:
        outbound = tmp_path / "outbound"
        write_atomically(
            outbound / "order-SHP_00012-5.csv",
            "order_ref,shipment_ref,line_id,sku,quantity\n"
            "WH/OUT/00012,SHP/00012,17,FURN_0001,3.0\n"
            "WH/OUT/00012,SHP/00012,18,FURN_0002,1.0\n",
        )
        write_atomically(outbound / "order-broken.csv", "order_ref,sku\nWH/OUT/1,X\n")
        wait_until(lambda: (outbound / "processed" / "order-SHP_00012-5.csv").exists(), 3)
        wait_until(lambda: (outbound / "rejected" / "order-broken.csv").exists(), 3)
        error = (outbound / "rejected" / "order-broken.csv.error.txt").read_text()
        assert "missing column(s): shipment_ref, line_id, quantity" in error
        steps = advance_to_the_end(sandbox, order_ref="WH/OUT/00012")
        assert steps == ["acknowledged", "picked", "packed", "shipped"]
        inbound = tmp_path / "inbound"
        # Numbered after the files already there, processed ones included: names never repeat.
        names = {path.name for path in inbound.glob("*.csv")}
        assert names == {f"confirmations-{number}.csv" for number in range(8, 12)}
        assert not list(inbound.glob("*.tmp"))
        rows = read_confirmations(inbound)
        assert [(r["event"], r["line_id"], r["quantity_done"]) for r in rows] == [
            ("order.acknowledged", "17", "0.0"),
            ("order.acknowledged", "18", "0.0"),
            ("order.picked", "17", "3.0"),
            ("order.picked", "18", "1.0"),
            ("order.packed", "17", "3.0"),
            ("order.packed", "18", "1.0"),
            ("order.shipped", "17", "3.0"),
            ("order.shipped", "18", "1.0"),
        ]
        assert {r["order_ref"] for r in rows} == {"WH/OUT/00012"}
        assert {r["shipment_ref"] for r in rows} == {"SHP/00012"}
        assert len({r["event_id"] for r in rows}) == 4
        # The same order dropped again (a retried export) releases nothing new.
        write_atomically(
            outbound / "order-SHP_00012-6.csv",
            "order_ref,shipment_ref,line_id,sku,quantity\nWH/OUT/00012,SHP/00012,17,FURN_0001,3\n",
        )
        sandbox.scan_drop_dir()
        files = admin(sandbox, "/_admin/state")["files"]
        assert files["processed"][-1] == {
            "file": "order-SHP_00012-6.csv",
            "released": [],
            "duplicates": ["WH/OUT/00012"],
        }
        assert files["rejected"][0]["file"] == "order-broken.csv"
        assert receiver.deliveries == []  # file-drop orders get files, not HTTP callbacks
    finally:
        sandbox.stop()


# --- command line ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("module", "option"), [("carrier", "--webhook-secret"), ("wms", "--drop-dir")]
)
def test_sandboxes_run_from_the_command_line(module, option):
    script = str(SANDBOXES_DIR / f"{module}.py")
    usage = subprocess.run(
        [sys.executable, script, "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert usage.returncode == 0 and option in usage.stdout
    process = subprocess.Popen(
        [sys.executable, script, "--port", "0", "--step-seconds", "0", "--faults", '{"seed": 1}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(rf"sandbox {module} listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line + process.stderr.read()
        health = call("GET", match.group(1) + "/_admin/health").json()
        assert health == {"sandbox": module, "url": match.group(1)}
        assert call("GET", match.group(1) + "/_admin/faults").json()["seed"] == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()


def test_sandboxes_listen_on_loopback_only(carrier, wms):
    """Their admin APIs have no authentication: only this machine may reach them (README)."""
    for sandbox in (carrier, wms):
        assert sandbox._server.server_address[0] == "127.0.0.1"
