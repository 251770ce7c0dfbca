"""The finance sandbox on its own, without Odoo: it runs in-process on a free port and is read
over HTTP the way Odoo's finance sync reads it: carrier invoices whose charges add up exactly
unless a fault knob says otherwise (and then the admin state says which shipment got which
fault), cursor paging, duplicates, credit notes, COD remittances (short, missing), the finance
export with its validation and Idempotency-Key, and the labels sold by the carrier sandbox
billed from its ledger."""

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sandboxes.carrier import CarrierSandbox
from sandboxes.finance import FinanceSandbox

SANDBOXES_DIR = Path(__file__).resolve().parent / "sandboxes"
FINANCE_KEY = "finance-test-key"
CARRIER_KEY = "carrier-test-key"
AUTH = {"Authorization": f"Bearer {FINANCE_KEY}"}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
NUMBER = re.compile(r"^FB-\d{4}-\d{6}$")


# --- HTTP -----------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: object
    body: bytes

    def json(self):
        return json.loads(self.body)


def call(method, url, body=None, headers=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
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


def api(sandbox, path, body=None, **headers):
    return call(
        "POST" if body is not None else "GET", sandbox.url + path, body, {**AUTH, **headers}
    )


def wait_until(predicate, timeout=5, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --- fixtures and helpers -------------------------------------------------------------------------
@pytest.fixture
def finance():
    sandbox = FinanceSandbox(api_key=FINANCE_KEY).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def carrier():
    sandbox = CarrierSandbox(api_key=CARRIER_KEY, step_seconds=0).start()
    yield sandbox
    sandbox.stop()


def shipment(code, rate="9.20", **values):
    return {
        "tracking_code": code,
        "reference": f"SHP/{code}",
        "carrier": "USPS",
        "service": "Priority",
        "rate": rate,
        "currency": "USD",
        "weight_oz": 16.0,
        "residential": False,
        "cod_amount": None,
        **values,
    }


def add(finance, *shipments):
    return admin(finance, "/_admin/shipments", {"shipments": list(shipments)})


def invoices(finance, **query):
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    answer = api(finance, "/v1/invoices" + (f"?{suffix}" if suffix else ""))
    assert answer.status == 200, answer.body
    return answer.json()["invoices"]


def charges_of(invoice, code):
    return {c["type"]: c for c in invoice["charges"] if c["tracking_code"] == code}


def total(charges):
    return sum(Decimal(charge["amount"]) for charge in charges)


def bill_one(finance, rate="9.20", **values):
    """Bill one shipment T1 alone; its invoice."""
    add(finance, shipment("T1", rate, **values))
    admin(finance, "/_admin/bill", {})
    (invoice,) = invoices(finance)
    return invoice


# --- authentication and the invoice document ------------------------------------------------------
def test_the_api_needs_the_bearer_key_and_admin_does_not(finance):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": FINANCE_KEY}):
        answer = call("GET", finance.url + "/v1/invoices", headers=headers)
        assert answer.status == 401
        assert answer.json() == {
            "error": {"code": "unauthorized", "message": "missing or wrong API key"}
        }
    assert call("POST", finance.url + "/v1/exports", {}).status == 401
    assert api(finance, "/v1/invoices").json() == {"invoices": [], "has_more": False}
    assert api(finance, "/v1/remittances").json() == {"remittances": [], "has_more": False}
    assert admin(finance, "/_admin/health")["sandbox"] == "finance"


def test_charges_split_the_rate_exactly_into_base_and_fuel(finance):
    rates = ["9.20", "7.37", "11.45", "0.01", "0.05", "123.45", "1.00", "0.00"]
    add(finance, *(shipment(f"T{i}", rate) for i, rate in enumerate(rates)))
    assert admin(finance, "/_admin/state")["unbilled"] == len(rates)
    answer = admin(finance, "/_admin/bill", {})
    (invoice,) = invoices(finance)
    assert answer == {"invoices": [invoice["number"]], "duplicates": []}
    assert NUMBER.match(invoice["number"]) and invoice["id"].startswith("inv_")
    assert invoice["object"] == "Invoice" and invoice["currency"] == "USD"
    assert invoice["carrier"] == "USPS" and invoice["credit_of"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", invoice["issued_on"])
    for i, rate in enumerate(rates):
        charges = charges_of(invoice, f"T{i}")
        assert set(charges) == {"base_rate", "fuel_surcharge"}
        # fuel = rate * 10 / 110 to the cent (the default 10 %), base the rest: sum == rate.
        fuel = (Decimal(rate) * 10 / 110).quantize(Decimal("0.01"))
        assert Decimal(charges["fuel_surcharge"]["amount"]) == fuel
        assert total(charges.values()) == Decimal(rate)
        assert charges["base_rate"]["billed_weight_oz"] == 16.0
        assert charges["base_rate"]["reference"] == f"SHP/T{i}"
        assert charges["base_rate"]["service"] == "Priority"
        for charge in charges.values():
            assert re.fullmatch(r"-?\d+\.\d\d", charge["amount"])
    assert Decimal(invoice["amount_due"]) == sum(Decimal(rate) for rate in rates)
    assert invoice["amount_due"] == f"{sum(Decimal(rate) for rate in rates):.2f}"
    state = admin(finance, "/_admin/state")
    assert state["unbilled"] == 0
    assert state["shipments"]["T1"]["billed"] == "7.37" and state["shipments"]["T1"]["faults"] == []
    assert all(not codes for codes in state["faults"].values())


def test_fuel_percent_changes_the_split_but_not_the_sum(finance):
    admin(finance, "/_admin/config", {"fuel_percent": 25})
    charges = charges_of(bill_one(finance, "12.50"), "T1")
    assert charges["fuel_surcharge"]["amount"] == "2.50"
    assert charges["base_rate"]["amount"] == "10.00"


def test_invoices_group_by_carrier_and_currency_and_respect_the_size(finance):
    admin(finance, "/_admin/config", {"lines_per_invoice": 2})
    add(
        finance,
        shipment("U1"),
        shipment("P1", carrier="UPSDAP"),
        shipment("U2"),
        shipment("U3"),
        shipment("E1", currency="EUR"),
    )
    numbers = admin(finance, "/_admin/bill", {"issued_on": "2026-11-30"})["invoices"]
    assert numbers == [f"FB-2026-{n:06d}" for n in range(1, 5)]
    served = invoices(finance)
    assert [inv["number"] for inv in served] == numbers
    assert [(inv["carrier"], inv["currency"]) for inv in served] == [
        ("USPS", "USD"),
        ("USPS", "USD"),
        ("UPSDAP", "USD"),
        ("USPS", "EUR"),
    ]
    assert [sorted({c["tracking_code"] for c in inv["charges"]}) for inv in served] == [
        ["U1", "U2"],
        ["U3"],
        ["P1"],
        ["E1"],
    ]
    assert {inv["issued_on"] for inv in served} == {"2026-11-30"}


def test_max_lines_bills_the_oldest_and_keeps_the_rest(finance):
    add(finance, shipment("T1"), shipment("T2"), shipment("T3"))
    admin(finance, "/_admin/bill", {"max_lines": 2})
    assert admin(finance, "/_admin/state")["unbilled"] == 1
    assert {c["tracking_code"] for c in invoices(finance)[0]["charges"]} == {"T1", "T2"}
    admin(finance, "/_admin/bill", {})
    assert {c["tracking_code"] for c in invoices(finance)[1]["charges"]} == {"T3"}
    assert admin(finance, "/_admin/bill", {}) == {"invoices": [], "duplicates": []}
    assert len(invoices(finance)) == 2


def test_shipments_and_bill_requests_are_validated(finance):
    bad = [
        {"shipments": []},
        {"shipments": [shipment("T1", rate=None)]},
        {"shipments": [shipment("T1", rate="9.205")]},
        {"shipments": [shipment("T1", carrier="")]},
        {"shipments": [shipment("T1", currency="usd")]},
        {"shipments": [shipment("T1", residential="yes")]},
        {"shipments": [shipment("T1", weight_oz=0)]},
        {"shipments": [shipment("T1", cod_amount="0.00")]},
        {"shipments": [shipment("T1"), shipment("T1")]},
    ]
    for body in bad:
        answer = call("POST", finance.url + "/_admin/shipments", body)
        assert answer.status == 400, body
    assert admin(finance, "/_admin/state")["unbilled"] == 0  # nothing half-added
    add(finance, shipment("T1"))
    answer = call("POST", finance.url + "/_admin/shipments", {"shipments": [shipment("T1")]})
    assert answer.status == 400 and "already queued or billed" in answer.json()["error"]
    for body in ({"max_lines": 0}, {"max_lines": "2"}, {"issued_on": "30/11/2026"}, [1]):
        assert call("POST", finance.url + "/_admin/bill", body).status == 400, body
    assert admin(finance, "/_admin/state")["unbilled"] == 1


# --- cursor paging --------------------------------------------------------------------------------
def test_invoices_are_paged_with_a_cursor(finance):
    admin(finance, "/_admin/config", {"lines_per_invoice": 1})
    add(finance, *(shipment(f"T{i}") for i in range(7)))
    numbers = admin(finance, "/_admin/bill", {})["invoices"]
    assert len(numbers) == 7
    read, after, pages = [], "", 0
    while True:
        page = api(finance, f"/v1/invoices?after={after}&limit=3").json()
        pages += 1
        read += page["invoices"]
        if not page["has_more"]:
            break
        after = page["invoices"][-1]["id"]
    assert pages == 3 and [inv["number"] for inv in read] == numbers
    assert len({inv["id"] for inv in read}) == 7
    # A cursor at the end: nothing more, until the next billing run.
    assert api(finance, f"/v1/invoices?after={read[-1]['id']}").json() == {
        "invoices": [],
        "has_more": False,
    }
    add(finance, shipment("T7"))
    admin(finance, "/_admin/bill", {})
    assert [inv["number"] for inv in invoices(finance, after=read[-1]["id"])] == [
        "FB-" + numbers[0][3:7] + "-000008"
    ]
    for limit in ("0", "501", "x", "-1"):
        answer = api(finance, f"/v1/invoices?limit={limit}")
        assert answer.status == 422 and answer.json()["error"]["code"] == "validation"
    assert len(api(finance, "/v1/invoices?limit=500").json()["invoices"]) == 8
    answer = api(finance, "/v1/invoices?after=inv_nothing")
    assert answer.status == 404 and answer.json()["error"]["code"] == "not_found"


def test_default_page_is_a_hundred_invoices(finance):
    admin(finance, "/_admin/config", {"lines_per_invoice": 1})
    add(finance, *(shipment(f"T{i}", "1.00") for i in range(101)))
    admin(finance, "/_admin/bill", {})
    page = api(finance, "/v1/invoices").json()
    assert len(page["invoices"]) == 100 and page["has_more"] is True
    rest = api(finance, f"/v1/invoices?after={page['invoices'][-1]['id']}").json()
    assert len(rest["invoices"]) == 1 and rest["has_more"] is False


# --- the billing faults ---------------------------------------------------------------------------
def test_overcharge_bills_the_base_higher_and_is_recorded(finance):
    admin(finance, "/_admin/config", {"overcharge_rate": 1})
    charges = charges_of(bill_one(finance, "11.00"), "T1")
    # rate 11.00 = base 10.00 + fuel 1.00; the base is billed 25 % higher.
    assert charges["base_rate"]["amount"] == "12.50"
    assert charges["fuel_surcharge"]["amount"] == "1.00"
    state = admin(finance, "/_admin/state")
    assert state["faults"]["overcharge"] == ["T1"]
    assert state["shipments"]["T1"]["faults"] == ["overcharge"]
    assert state["shipments"]["T1"]["rate"] == "11.00"
    assert state["shipments"]["T1"]["billed"] == "13.50"


def test_overcharge_percent_is_a_knob(finance):
    admin(finance, "/_admin/config", {"overcharge_rate": 1, "overcharge_percent": 10})
    assert charges_of(bill_one(finance, "11.00"), "T1")["base_rate"]["amount"] == "11.00"


def test_residential_address_always_pays_the_surcharge_and_is_no_fault(finance):
    add(finance, shipment("HOME", residential=True), shipment("SHOP"))
    admin(finance, "/_admin/bill", {})
    (invoice,) = invoices(finance)
    home = charges_of(invoice, "HOME")["residential_surcharge"]
    assert home["amount"] == "5.10" and home["description"] == "Residential delivery"
    assert "residential_surcharge" not in charges_of(invoice, "SHOP")
    state = admin(finance, "/_admin/state")
    assert state["faults"]["residential"] == [] and state["shipments"]["HOME"]["faults"] == []
    assert state["shipments"]["HOME"]["billed"] == "14.30"


def test_residential_rate_surcharges_commercial_addresses(finance):
    admin(finance, "/_admin/config", {"residential_rate": 1, "residential_fee": "4.00"})
    add(finance, shipment("HOME", residential=True), shipment("SHOP"))
    admin(finance, "/_admin/bill", {})
    (invoice,) = invoices(finance)
    for code in ("HOME", "SHOP"):
        assert charges_of(invoice, code)["residential_surcharge"]["amount"] == "4.00"
    state = admin(finance, "/_admin/state")
    assert state["faults"]["residential"] == ["SHOP"]  # the one marked commercial
    assert state["shipments"]["SHOP"]["residential"] is False


def test_address_correction_fee(finance):
    admin(finance, "/_admin/config", {"address_correction_rate": 1})
    charges = charges_of(bill_one(finance), "T1")
    assert charges["address_correction"]["amount"] == "18.00"
    assert admin(finance, "/_admin/state")["faults"]["address_correction"] == ["T1"]
    admin(finance, "/_admin/reset", {})
    admin(finance, "/_admin/config", {"address_correction_fee": "22.50"})
    assert charges_of(bill_one(finance), "T1")["address_correction"]["amount"] == "22.50"


def test_reweigh_bills_the_weight_times_the_factor(finance):
    admin(finance, "/_admin/config", {"reweigh_rate": 1})
    add(finance, shipment("T1", "11.00", weight_oz=16.0), shipment("T2", weight_oz=None))
    admin(finance, "/_admin/bill", {})
    (invoice,) = invoices(finance)
    charges = charges_of(invoice, "T1")
    adjustment = charges["weight_adjustment"]
    # billed weight 16 oz * 1.5; amount = base 10.00 * (1.5 - 1).
    assert adjustment["billed_weight_oz"] == 24.0 and adjustment["amount"] == "5.00"
    assert charges["base_rate"]["billed_weight_oz"] == 16.0
    assert "weight_adjustment" not in charges_of(invoice, "T2")  # no declared weight
    assert admin(finance, "/_admin/state")["faults"]["reweigh"] == ["T1"]
    admin(finance, "/_admin/reset", {})
    admin(finance, "/_admin/config", {"reweigh_factor": 2})
    adjustment = charges_of(bill_one(finance, "11.00"), "T1")["weight_adjustment"]
    assert adjustment["billed_weight_oz"] == 32.0 and adjustment["amount"] == "10.00"


def test_unknown_tracking_codes_are_billed_and_recorded(finance):
    admin(finance, "/_admin/config", {"unknown_tracking_rate": 1})
    add(finance, shipment("T1"), shipment("T2"))
    admin(finance, "/_admin/bill", {})
    (invoice,) = invoices(finance)
    state = admin(finance, "/_admin/state")
    unknown = state["faults"]["unknown_tracking"]
    assert len(unknown) == 2 and not {"T1", "T2"} & set(unknown)
    assert state["invoices"][0]["unknown_tracking_codes"] == unknown
    for code in unknown:
        charges = charges_of(invoice, code)
        assert set(charges) == {"base_rate", "fuel_surcharge"}
        assert charges["base_rate"]["reference"] is None
        assert code not in state["shipments"]
    assert {c["tracking_code"] for c in invoice["charges"]} == {"T1", "T2", *unknown}
    assert Decimal(invoice["amount_due"]) == total(invoice["charges"])


def test_duplicate_invoices_have_a_new_id_and_the_same_number(finance):
    admin(finance, "/_admin/config", {"duplicate_invoice_rate": 1})
    add(finance, shipment("T1"))
    answer = admin(finance, "/_admin/bill", {})
    assert answer["duplicates"] == answer["invoices"]
    first, copy = invoices(finance)
    assert first["id"] != copy["id"]
    assert {**copy, "id": first["id"]} == first
    state = admin(finance, "/_admin/state")
    assert state["faults"]["duplicate_invoices"] == [first["number"]]
    assert [entry["duplicate_of"] for entry in state["invoices"]] == [None, first["id"]]
    assert list(state["shipments"]) == ["T1"]  # billed once in the ledger, served twice


def test_a_seed_gives_the_same_faults_to_the_same_shipments(finance):
    knobs = {
        "seed": 7,
        "overcharge_rate": 0.3,
        "residential_rate": 0.3,
        "address_correction_rate": 0.3,
        "reweigh_rate": 0.3,
        "unknown_tracking_rate": 0.2,
        "duplicate_invoice_rate": 0.3,
        "lines_per_invoice": 5,
    }
    admin(finance, "/_admin/config", knobs)

    def run():
        add(finance, *(shipment(f"T{i}") for i in range(40)))
        admin(finance, "/_admin/bill", {})
        state = admin(finance, "/_admin/state")
        amounts = [(inv["number"], inv["amount_due"]) for inv in invoices(finance, limit=500)]
        admin(finance, "/_admin/reset", {})  # keeps the knobs, starts the dice again
        return state["faults"], amounts

    faults, amounts = run()
    assert run() == (faults, amounts)
    for name in ("overcharge", "residential", "address_correction", "reweigh"):
        assert 0 < len(faults[name]) < 40, name
    assert faults["unknown_tracking"] and faults["duplicate_invoices"]
    admin(finance, "/_admin/config", {"seed": 8})
    assert run()[0] != faults


def test_business_knobs_are_validated(finance):
    before = admin(finance, "/_admin/config")
    for body in (
        {"overcharge_rate": 1.5},
        {"residential_rate": "0.1"},
        {"residential_fee": "5.101"},
        {"short_amount": -1},
        {"reweigh_factor": 1},
        {"lines_per_invoice": 0},
        {"seed": "7"},
        {"carrier_url": "ftp://x"},
        {"bill_every_seconds": -1},
        {"no_such_knob": 1},
    ):
        assert call("POST", finance.url + "/_admin/config", body).status == 400, body
    assert admin(finance, "/_admin/config") == before
    assert before["overcharge_percent"] == 25 and before["residential_fee"] == "5.10"
    assert before["address_correction_fee"] == "18.00" and before["reweigh_factor"] == 1.5
    assert before["cod_fee_percent"] == 2 and before["short_amount"] == "10.00"


# --- credit notes ---------------------------------------------------------------------------------
def test_a_credit_note_credits_part_of_an_invoice(finance):
    admin(finance, "/_admin/config", {"overcharge_rate": 1})
    invoice = bill_one(finance, "11.00")
    body = {"invoice": invoice["number"], "amount": "2.50", "tracking_code": "T1"}
    answer = admin(finance, "/_admin/credit", {**body, "type": "base_rate"})
    _invoice, note = invoices(finance)
    assert answer == {"invoice": note["number"], "id": note["id"]}
    assert re.fullmatch(r"FC-\d{4}-000001", note["number"])
    assert note["credit_of"] == invoice["number"] and note["amount_due"] == "-2.50"
    assert note["carrier"] == "USPS" and note["currency"] == "USD"
    assert note["charges"] == [
        {
            "tracking_code": "T1",
            "reference": "SHP/T1",
            "type": "base_rate",
            "amount": "-2.50",
            "billed_weight_oz": None,
            "service": "Priority",
            "description": f"Credit on {invoice['number']}",
        }
    ]
    state = admin(finance, "/_admin/state")
    assert state["credits"] == [
        {
            "number": note["number"],
            "id": note["id"],
            "credit_of": invoice["number"],
            "tracking_code": "T1",
            "type": "base_rate",
            "amount": "2.50",
        }
    ]
    # 13.50 billed for T1, 2.50 credited: 11.00 left, no more.
    answer = call("POST", finance.url + "/_admin/credit", {**body, "amount": "11.01"})
    assert answer.status == 400 and "11.00 left" in answer.json()["error"]
    assert call("POST", finance.url + "/_admin/credit", {**body, "amount": "11.00"}).status == 200
    assert invoices(finance)[-1]["charges"][0]["type"] == "other"  # the default


def test_a_credit_note_needs_a_known_invoice_tracking_code_and_amount(finance):
    invoice = bill_one(finance)
    body = {"invoice": invoice["number"], "amount": "1.00", "tracking_code": "T1"}
    for changed, status in (
        ({"invoice": "FB-2026-999999"}, 404),
        ({"tracking_code": "NOPE"}, 404),
        ({"amount": "0.00"}, 400),
        ({"amount": "abc"}, 400),
        ({"type": "discount"}, 400),
    ):
        assert call("POST", finance.url + "/_admin/credit", {**body, **changed}).status == status
    assert len(invoices(finance)) == 1


# --- cash on delivery -----------------------------------------------------------------------------
def test_cod_is_collected_at_billing_and_remitted_less_the_fee(finance):
    add(
        finance,
        shipment("C1", cod_amount="150.00"),
        shipment("C2", cod_amount="25.50"),
        shipment("N1"),
    )
    admin(finance, "/_admin/bill", {"issued_on": "2026-11-28"})
    collected = admin(finance, "/_admin/state")["cod"]["collected"]
    assert [(item["tracking_code"], item["collected"]) for item in collected] == [
        ("C1", "150.00"),
        ("C2", "25.50"),
    ]
    answer = admin(finance, "/_admin/remit", {"paid_on": "2026-11-30"})
    assert answer == {"remittances": ["RM-2026-000001"], "missing": []}
    page = api(finance, "/v1/remittances").json()
    (remittance,) = page["remittances"]
    assert page["has_more"] is False
    assert remittance["id"].startswith("rem_") and remittance["object"] == "Remittance"
    assert remittance["number"] == "RM-2026-000001" and remittance["paid_on"] == "2026-11-30"
    assert remittance["currency"] == "USD"
    assert remittance["items"] == [
        {
            "tracking_code": "C1",
            "reference": "SHP/C1",
            "collected": "150.00",
            "fee": "3.00",
            "remitted": "147.00",
            "collected_on": "2026-11-28",
        },
        {
            "tracking_code": "C2",
            "reference": "SHP/C2",
            "collected": "25.50",
            "fee": "0.51",
            "remitted": "24.99",
            "collected_on": "2026-11-28",
        },
    ]
    assert remittance["amount_paid"] == "171.99"
    state = admin(finance, "/_admin/state")
    assert state["cod"] == {"collected": [], "short": [], "missing": []}
    # Nothing collected since: nothing to pay.
    assert admin(finance, "/_admin/remit", {}) == {"remittances": [], "missing": []}
    assert len(api(finance, "/v1/remittances").json()["remittances"]) == 1


def test_a_short_remittance_pays_less_and_is_recorded(finance):
    admin(
        finance,
        "/_admin/config",
        {"short_remittance_rate": 1, "short_amount": "5.00", "cod_fee_percent": 1},
    )
    add(finance, shipment("C1", cod_amount="100.00"))
    admin(finance, "/_admin/bill", {})
    number = admin(finance, "/_admin/remit", {})["remittances"][0]
    (remittance,) = api(finance, "/v1/remittances").json()["remittances"]
    assert remittance["items"][0]["fee"] == "1.00"
    assert remittance["items"][0]["remitted"] == "94.00"  # 100 - 1 fee - 5 short
    assert remittance["amount_paid"] == "94.00"
    assert admin(finance, "/_admin/state")["cod"]["short"] == [
        {
            "tracking_code": "C1",
            "reference": "SHP/C1",
            "expected": "99.00",
            "remitted": "94.00",
            "short_by": "5.00",
            "remittance": number,
        }
    ]


def test_a_missing_remittance_item_is_left_out_for_good(finance):
    admin(finance, "/_admin/config", {"missing_remittance_rate": 1})
    add(finance, shipment("C1", cod_amount="40.00"))
    admin(finance, "/_admin/bill", {"issued_on": "2026-11-28"})
    assert admin(finance, "/_admin/remit", {}) == {"remittances": [], "missing": ["C1"]}
    admin(finance, "/_admin/config", {"missing_remittance_rate": 0})
    add(finance, shipment("C2", cod_amount="10.00"))
    admin(finance, "/_admin/bill", {})
    admin(finance, "/_admin/remit", {})
    (remittance,) = api(finance, "/v1/remittances").json()["remittances"]
    assert [item["tracking_code"] for item in remittance["items"]] == ["C2"]
    assert admin(finance, "/_admin/state")["cod"]["missing"] == [
        {
            "tracking_code": "C1",
            "reference": "SHP/C1",
            "currency": "USD",
            "collected": "40.00",
            "collected_on": "2026-11-28",
        }
    ]


def test_remittances_are_paged_and_one_per_currency(finance):
    add(
        finance,
        shipment("C1", cod_amount="10.00"),
        shipment("E1", cod_amount="20.00", currency="EUR"),
    )
    admin(finance, "/_admin/bill", {})
    numbers = admin(finance, "/_admin/remit", {})["remittances"]
    assert len(numbers) == 2
    first = api(finance, "/v1/remittances?limit=1").json()
    assert first["has_more"] is True and first["remittances"][0]["currency"] == "USD"
    rest = api(finance, f"/v1/remittances?after={first['remittances'][0]['id']}").json()
    assert rest["has_more"] is False
    assert [(r["number"], r["currency"]) for r in rest["remittances"]] == [(numbers[1], "EUR")]
    assert api(finance, "/v1/remittances?after=rem_nothing").status == 404


# --- the finance export ---------------------------------------------------------------------------
EXPORT = {
    "period": "2026-11",
    "kind": "freight",
    "company": "YourCompany",
    "currency": "USD",
    "lines": [
        {
            "carrier": "USPS",
            "shipment_ref": "WH/OUT/00012",
            "tracking_number": "9400111",
            "amount": "12.30",
            "account": "6100",
            "warehouse": "WH",
        },
        {
            "carrier": "USPS",
            "shipment_ref": "WH/OUT/00013",
            "tracking_number": None,
            "amount": "-1.05",
            "account": None,
        },
    ],
}


def test_an_export_is_stored_once_per_idempotency_key(finance):
    first = api(finance, "/v1/exports", EXPORT, **{"Idempotency-Key": "exp-1"})
    assert first.status == 201
    document = first.json()
    assert document["id"].startswith("exp_")
    assert document == {"id": document["id"], "object": "Export", "lines": 2}
    again = api(finance, "/v1/exports", EXPORT, **{"Idempotency-Key": "exp-1"})
    assert again.status == 201 and again.json() == document
    assert again.headers["Idempotent-Replayed"] == "true"
    (stored,) = admin(finance, "/_admin/state")["exports"]
    assert stored["id"] == document["id"] and stored["document"] == EXPORT
    assert stored["idempotency_key"] == "exp-1" and stored["total"] == "11.25"
    other = api(finance, "/v1/exports", {**EXPORT, "kind": "cod"}, **{"Idempotency-Key": "exp-2"})
    assert other.status == 201 and other.json()["id"] != document["id"]
    assert [e["document"]["kind"] for e in admin(finance, "/_admin/state")["exports"]] == [
        "freight",
        "cod",
    ]


def test_an_invalid_export_is_refused_with_422(finance):
    line = EXPORT["lines"][0]
    invalid = [
        {key: value for key, value in EXPORT.items() if key != "period"},
        {**EXPORT, "period": "2026-13"},
        {**EXPORT, "period": "November"},
        {key: value for key, value in EXPORT.items() if key != "kind"},
        {**EXPORT, "kind": "sales"},
        {key: value for key, value in EXPORT.items() if key != "lines"},
        {**EXPORT, "lines": []},
        {**EXPORT, "lines": ["x"]},
        {**EXPORT, "lines": [{**line, "amount": 12.3}]},
        {**EXPORT, "lines": [{**line, "amount": "12.3"}]},
        {**EXPORT, "lines": [{**line, "shipment_ref": ""}]},
        {**EXPORT, "lines": [{**line, "carrier": None}]},
        {**EXPORT, "lines": [{**line, "tracking_number": 9400111}]},
        {**EXPORT, "company": ""},
        {**EXPORT, "currency": "dollars"},
        ["not", "an", "object"],
    ]
    for body in invalid:
        answer = api(finance, "/v1/exports", body)
        assert answer.status == 422, body
        error = answer.json()["error"]
        assert error["code"] == "validation" and error["message"], body
    answer = api(finance, "/v1/exports", {**EXPORT, "lines": [line, {**line, "amount": "x"}]})
    assert answer.json()["error"]["message"].startswith("lines[1].amount")
    assert admin(finance, "/_admin/state")["exports"] == []
    broken = call(
        "POST", finance.url + "/v1/exports", None, {**AUTH, "Content-Type": "application/json"}
    )
    assert broken.status == 422  # an empty body is no export either


# --- faults on the API ----------------------------------------------------------------------------
def test_fault_knobs_apply_to_the_api_not_to_admin(finance):
    add(finance, shipment("T1"))
    admin(finance, "/_admin/bill", {})
    admin(finance, "/_admin/faults", {"error_rate": 1})
    answer = api(finance, "/v1/invoices")
    assert answer.status == 500 and answer.json()["error"]["code"] == "internal_server_error"
    assert api(finance, "/v1/exports", EXPORT).status == 500
    assert admin(finance, "/_admin/state")["exports"] == []  # failed before the effect
    admin(finance, "/_admin/faults", {"error_rate": 0, "down": True})
    answer = api(finance, "/v1/remittances")
    assert answer.status == 503 and answer.headers["Retry-After"]
    admin(finance, "/_admin/faults", {"down": False, "error_after_rate": 1})
    assert api(finance, "/v1/exports", EXPORT).status == 500
    assert len(admin(finance, "/_admin/state")["exports"]) == 1  # stored, answer lost
    admin(finance, "/_admin/faults", {"error_after_rate": 0, "latency_ms": 300})
    started = time.monotonic()
    assert api(finance, "/v1/invoices").status == 200
    assert time.monotonic() - started >= 0.3
    received = admin(finance, "/_admin/received")
    assert received[0]["path"] == "/v1/invoices"
    assert "authorization" not in received[0]["headers"]


def test_reset_clears_the_business_and_keeps_the_knobs(finance):
    admin(finance, "/_admin/config", {"overcharge_rate": 1})
    add(finance, shipment("T1", cod_amount="5.00"), shipment("T2"))
    admin(finance, "/_admin/bill", {"max_lines": 1})
    api(finance, "/v1/exports", EXPORT)
    admin(finance, "/_admin/reset", {})
    state = admin(finance, "/_admin/state")
    assert state["unbilled"] == 0 and state["shipments"] == {} and state["invoices"] == []
    assert state["exports"] == [] and state["cod"]["collected"] == []
    assert invoices(finance) == []
    assert admin(finance, "/_admin/config")["overcharge_rate"] == 1
    # Tracking codes billed before the reset may be billed again, numbers start again.
    assert bill_one(finance)["number"].endswith("-000001")


# --- the carrier sandbox's ledger -----------------------------------------------------------------
ADDRESS = {"street1": "1 Main St", "city": "Charleston", "state": "SC", "zip": "29401"}


def buy_label(carrier, reference, residential=None, cod_amount=None, weight=15.4):
    options = {"cod_amount": cod_amount} if cod_amount is not None else {}
    request = {
        "shipment": {
            "reference": reference,
            "to_address": {"name": "Jane", **ADDRESS, "residential": residential},
            "from_address": {"name": "Shop", **ADDRESS},
            "parcel": {"weight": weight},
            "options": options,
        }
    }
    headers = {"Authorization": f"Bearer {CARRIER_KEY}"}
    created = call("POST", carrier.url + "/v2/shipments", request, headers)
    assert created.status == 201, created.body
    document = created.json()
    rate = next(r for r in document["rates"] if r["service"] == "Priority")
    path = f"/v2/shipments/{document['id']}/buy"
    bought = call("POST", carrier.url + path, {"rate": {"id": rate["id"]}}, headers)
    assert bought.status == 200, bought.body
    return bought.json()


def test_the_carrier_ledger_tells_what_finance_bills(carrier):
    home = buy_label(carrier, "SHP/1", residential=True, cod_amount="42.50")
    shop = buy_label(carrier, "SHP/2", weight=8)
    purchases = admin(carrier, "/_admin/state")["purchases"]
    assert [
        {key: p[key] for key in ("tracking_code", "currency", "weight_oz", "residential")}
        | {"cod_amount": p["cod_amount"]}
        for p in purchases
    ] == [
        {
            "tracking_code": home["tracking_code"],
            "currency": "USD",
            "weight_oz": 15.4,
            "residential": True,
            "cod_amount": "42.50",
        },
        {
            "tracking_code": shop["tracking_code"],
            "currency": "USD",
            "weight_oz": 8.0,
            "residential": False,
            "cod_amount": None,
        },
    ]


def test_labels_sold_by_the_carrier_are_billed_once(finance, carrier):
    admin(finance, "/_admin/config", {"carrier_url": carrier.url})
    home = buy_label(carrier, "SHP/1", residential=True, cod_amount="42.50")
    shop = buy_label(carrier, "SHP/2")
    refunded = buy_label(carrier, "SHP/3")
    headers = {"Authorization": f"Bearer {CARRIER_KEY}"}
    path = f"/v2/shipments/{refunded['id']}/refund"
    assert call("POST", carrier.url + path, headers=headers).status == 200
    admin(finance, "/_admin/bill", {})
    (invoice,) = invoices(finance)
    billed = {c["tracking_code"] for c in invoice["charges"]}
    # The label whose refund is pending is not billed (nor later, once refunded).
    assert billed == {home["tracking_code"], shop["tracking_code"]}
    assert invoice["carrier"] == "USPS"
    for label in (home, shop):
        charges = charges_of(invoice, label["tracking_code"])
        assert total([charges["base_rate"], charges["fuel_surcharge"]]) == Decimal("9.20")
        assert charges["base_rate"]["reference"] == label["reference"]
        assert charges["base_rate"]["service"] == "Priority"
        assert charges["base_rate"]["billed_weight_oz"] == 15.4
    assert charges_of(invoice, home["tracking_code"])["residential_surcharge"]["amount"] == "5.10"
    state = admin(finance, "/_admin/state")
    assert state["cod"]["collected"][0]["tracking_code"] == home["tracking_code"]
    assert state["cod"]["collected"][0]["collected"] == "42.50"
    assert state["carrier_ledger"]["error"] is None
    # A second run bills only what was sold since.
    wait_until(
        lambda: admin(carrier, "/_admin/state")["purchases"][2]["refund_status"] == "refunded",
        what="the refund",
    )
    later = buy_label(carrier, "SHP/4")
    admin(finance, "/_admin/bill", {})
    assert {c["tracking_code"] for c in invoices(finance)[1]["charges"]} == {later["tracking_code"]}
    assert admin(finance, "/_admin/bill", {})["invoices"] == []


def test_an_unreachable_carrier_ledger_fails_the_run_visibly(finance, carrier):
    url = carrier.url
    carrier.stop()
    admin(finance, "/_admin/config", {"carrier_url": url})
    add(finance, shipment("T1"))
    answer = call("POST", finance.url + "/_admin/bill", {})
    assert answer.status == 502 and "carrier ledger" in answer.json()["error"]
    state = admin(finance, "/_admin/state")
    assert state["unbilled"] == 1 and state["carrier_ledger"]["error"].startswith(url)
    assert invoices(finance) == []


def test_background_runs_remit_then_bill(carrier):
    finance = FinanceSandbox(
        api_key=FINANCE_KEY, carrier_url=carrier.url, bill_every_seconds=0.3
    ).start()
    try:
        label = buy_label(carrier, "SHP/1", cod_amount="10.00")
        wait_until(lambda: invoices(finance), what="a background billing run")
        (invoice,) = invoices(finance)
        assert {c["tracking_code"] for c in invoice["charges"]} == {label["tracking_code"]}
        # The next run pays out what this one collected.
        remittances = wait_until(
            lambda: api(finance, "/v1/remittances").json()["remittances"], what="a remittance"
        )
        assert remittances[0]["items"][0]["tracking_code"] == label["tracking_code"]
        admin(finance, "/_admin/config", {"bill_every_seconds": 0})
        assert admin(finance, "/_admin/config")["bill_every_seconds"] == 0
    finally:
        finance.stop()


# --- command line ---------------------------------------------------------------------------------
def test_the_finance_sandbox_runs_from_the_command_line():
    script = str(SANDBOXES_DIR / "finance.py")
    usage = subprocess.run(
        [sys.executable, script, "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert usage.returncode == 0
    for option in ("--carrier-url", "--bill-every-seconds", "--api-key", "--config"):
        assert option in usage.stdout
    refused = subprocess.run(
        [sys.executable, script, "--port", "0", "--config", '{"overcharge_rate": 2}'],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 2 and "overcharge_rate" in refused.stderr
    process = subprocess.Popen(
        [
            sys.executable,
            script,
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--faults",
            '{"seed": 1}',
            "--config",
            '{"overcharge_rate": 0.1, "duplicate_invoice_rate": 0.05}',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"sandbox finance listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line + process.stderr.read()
        url = match.group(1)
        assert call("GET", url + "/_admin/health").json() == {"sandbox": "finance", "url": url}
        config = call("GET", url + "/_admin/config").json()
        assert config["overcharge_rate"] == 0.1 and config["duplicate_invoice_rate"] == 0.05
        assert call("GET", url + "/_admin/faults").json()["seed"] == 1
        answer = call("GET", url + "/v1/invoices", headers={"Authorization": "Bearer cli-key"})
        assert answer.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()


def test_the_finance_sandbox_listens_on_loopback_only(finance):
    assert finance._server.server_address[0] == "127.0.0.1"
