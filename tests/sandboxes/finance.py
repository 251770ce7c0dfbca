"""A carrier's billing portal and a finance system on 127.0.0.1: carrier invoices (with the
overcharges, accessorial charges, unknown tracking numbers, duplicate copies and credit notes a
freight audit has to find), cash-on-delivery remittances (short or missing items), and the finance
export, in the partner format of the finance sync brief (Bearer key, money as "7.50" strings,
weights in ounces as EasyPost gives them, cursor paging).

What it bills are "billable shipments": added with ``POST /_admin/shipments``, or read at each
billing run from the carrier sandbox's ledger (``GET <carrier_url>/_admin/state``, its
``purchases``), so the labels the demo buys come back as invoices. Every fault a billing run
applies is recorded per shipment in ``GET /_admin/state``: what Odoo's audit must find.

    python tests/sandboxes/finance.py --port 8706 --api-key sandbox-finance-key \\
        --carrier-url http://127.0.0.1:8702 --bill-every-seconds 180
"""

import copy
import json
import logging
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

try:
    from .common import (
        MalformedBody,
        RequestRejected,
        Sandbox,
        admin_error,
        command_line_parser,
        json_response,
        recorded_at,
        route,
        serve_until_signalled,
    )
except ImportError:  # run as a script: python tests/sandboxes/finance.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sandboxes.common import (
        MalformedBody,
        RequestRejected,
        Sandbox,
        admin_error,
        command_line_parser,
        json_response,
        recorded_at,
        route,
        serve_until_signalled,
    )

_logger = logging.getLogger(__name__)

DEFAULT_PORT = 8706
CENT = Decimal("0.01")
PAGE_LIMIT_DEFAULT = 100
PAGE_LIMIT_MAX = 500
LEDGER_TIMEOUT_SECONDS = 10
# How often the background billing loop looks at its clock: a changed bill_every_seconds takes
# effect within this delay.
BILLING_POLL_SECONDS = 0.5

CHARGE_TYPES = (
    "base_rate",
    "fuel_surcharge",
    "residential_surcharge",
    "address_correction",
    "weight_adjustment",
    "other",
)
EXPORT_KINDS = ("freight", "cod")
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MONEY_TEXT = re.compile(r"^-?\d+\.\d{2}$")
# Refunded labels are never billed; one whose refund is pending waits for a later run.
UNBILLABLE_REFUND_STATUSES = frozenset({"submitted", "refunded"})

# The business knobs of POST /_admin/config, and their defaults (all faults off).
FRACTION_KNOBS = (
    "overcharge_rate",
    "residential_rate",
    "address_correction_rate",
    "reweigh_rate",
    "unknown_tracking_rate",
    "duplicate_invoice_rate",
    "short_remittance_rate",
    "missing_remittance_rate",
)
PERCENT_KNOBS = ("fuel_percent", "overcharge_percent", "cod_fee_percent")
FEE_KNOBS = ("residential_fee", "address_correction_fee", "short_amount")
KNOB_DEFAULTS = {
    **dict.fromkeys(FRACTION_KNOBS, 0.0),
    "fuel_percent": Decimal("10"),
    "overcharge_percent": Decimal("25"),
    "cod_fee_percent": Decimal("2"),
    "residential_fee": Decimal("5.10"),
    "address_correction_fee": Decimal("18.00"),
    "short_amount": Decimal("10.00"),
    "reweigh_factor": Decimal("1.5"),
    "lines_per_invoice": 50,
    "seed": None,
}
# The shipment faults, in the order their dice are rolled: each shipment rolls every die, fired
# or not, so with a seed the faults of a shipment do not depend on which rates are set.
SHIPMENT_DICE = (
    "overcharge",
    "residential",
    "address_correction",
    "reweigh",
    "unknown_tracking",
)
REMITTANCE_DICE = ("short", "missing")


class CarrierLedgerError(Exception):
    """The carrier sandbox's ledger could not be read (unreachable, not its state document)."""


@dataclass(frozen=True)
class BillableShipment:
    """A label sold, as the billing run sees it: ``rate`` in ``currency``, ``weight_oz`` the
    declared weight in ounces (None when unknown: no reweigh), ``cod_amount`` what the carrier
    collects on delivery (None without cash on delivery)."""

    tracking_code: str
    reference: str | None
    carrier: str
    service: str | None
    rate: Decimal
    currency: str
    weight_oz: float | None
    residential: bool
    cod_amount: Decimal | None

    @classmethod
    def parse(cls, document, where):
        """From the JSON of ``POST /_admin/shipments`` or a carrier ledger entry; ValueError
        naming ``where`` and the field when it is not a billable shipment."""
        if not isinstance(document, dict):
            raise ValueError(f"{where}: expected a JSON object")
        code = document.get("tracking_code")
        carrier = document.get("carrier")
        if not isinstance(code, str) or not code:
            raise ValueError(f"{where}.tracking_code: a non-empty string is required")
        if not isinstance(carrier, str) or not carrier:
            raise ValueError(f"{where}.carrier: a non-empty string is required")
        rate = _money(document.get("rate"), f"{where}.rate")
        if rate < 0:
            raise ValueError(f"{where}.rate: must not be negative")
        currency = document.get("currency") or "USD"
        if not isinstance(currency, str) or not CURRENCY.match(currency):
            raise ValueError(f"{where}.currency: an ISO 4217 code such as USD is required")
        weight = document.get("weight_oz")
        if weight is not None:
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
                raise ValueError(f"{where}.weight_oz: a positive number or null is required")
            weight = float(weight)
        residential = document.get("residential", False)
        if not isinstance(residential, bool):
            raise ValueError(f"{where}.residential: true or false is required")
        cod_amount = document.get("cod_amount")
        if cod_amount is not None:
            cod_amount = _money(cod_amount, f"{where}.cod_amount")
            if cod_amount <= 0:
                raise ValueError(f"{where}.cod_amount: must be positive (or null)")
        service, reference = document.get("service"), document.get("reference")
        return cls(
            tracking_code=code,
            reference=None if reference is None else str(reference),
            carrier=carrier,
            service=None if service is None else str(service),
            rate=rate,
            currency=currency,
            weight_oz=weight,
            residential=residential,
            cod_amount=cod_amount,
        )


class FinanceSandbox(Sandbox):
    """The carrier's billing portal (``GET /v1/invoices``, ``GET /v1/remittances``) and the
    finance system (``POST /v1/exports``), with ``Authorization: Bearer <api_key>``.

    ``carrier_url``: the carrier sandbox whose ledger each billing run reads (None: only the
    shipments added over the admin API are billed). ``bill_every_seconds`` > 0: a background
    run every that many seconds remits the COD collected by earlier runs, then bills.
    """

    name = "finance"

    def __init__(self, *, api_key, carrier_url=None, bill_every_seconds=0.0, port=0):
        if not api_key:
            raise ValueError("the finance sandbox needs an api_key")
        self.api_key = api_key
        self.carrier_url = _checked_url("carrier_url", carrier_url)
        self.bill_every_seconds = _checked_seconds("bill_every_seconds", bill_every_seconds)
        self.knobs = dict(KNOB_DEFAULTS)
        self._billing_thread = None
        self._ledger_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._clear_business()
        super().__init__(port=port, step_seconds=0)

    def routes(self):
        return [
            route("GET", "/v1/invoices", self._list_invoices),
            route("GET", "/v1/remittances", self._list_remittances),
            route("POST", "/v1/exports", self._create_export),
            route("POST", "/_admin/shipments", self._admin_add_shipments, "admin"),
            route("POST", "/_admin/bill", self._admin_bill, "admin"),
            route("POST", "/_admin/credit", self._admin_credit, "admin"),
            route("POST", "/_admin/remit", self._admin_remit, "admin"),
        ]

    # --- partner protocol -------------------------------------------------------------------------
    def authenticate(self, request):
        return request.header("Authorization") == f"Bearer {self.api_key}"

    def error_response(self, status, code, message, **extra):
        # The finance API's error shape: {"error": {"code": "validation", "message": ...}}.
        return json_response(status, {"error": {"code": code.lower(), "message": message}})

    def _validation_error(self, message):
        return RequestRejected(self.error_response(422, "validation", message))

    # --- life cycle -------------------------------------------------------------------------------
    def start(self):
        super().start()
        self._billing_thread = threading.Thread(
            target=self._billing_loop, name=f"{self.name}-billing", daemon=True
        )
        self._billing_thread.start()
        return self

    def stop(self):
        super().stop()
        if self._billing_thread is not None:
            self._billing_thread.join(timeout=LEDGER_TIMEOUT_SECONDS + 1)
            self._billing_thread = None

    def _billing_loop(self):
        last_run = time.monotonic()
        while not self.stopping.wait(BILLING_POLL_SECONDS):
            every = self.bill_every_seconds
            if every <= 0:
                last_run = time.monotonic()  # once switched on, the first run is a period later
                continue
            if time.monotonic() - last_run < every:
                continue
            last_run = time.monotonic()
            try:
                self.remit()
                self.bill()
            except CarrierLedgerError as error:
                _logger.warning("billing run skipped: %s", error)
            except Exception:
                _logger.exception("billing run failed")

    def _call(self, found, request, match):
        # A billing run reads the carrier's ledger over HTTP: that wait must not hold the lock
        # every other request needs, so the run takes the lock itself, after the read.
        if found.handler == self._admin_bill:
            try:
                return self._admin_bill(request, match)
            except RequestRejected as rejected:
                return rejected.response
            except MalformedBody as error:
                return admin_error(400, str(error))
        return super()._call(found, request, match)

    # --- billing ----------------------------------------------------------------------------------
    def add_shipments(self, documents):
        """Queue billable shipments (the JSON documents of ``POST /_admin/shipments``) for the
        next billing run; returns their tracking codes. ValueError, nothing queued, when one is
        not a billable shipment or its tracking code was queued or billed already."""
        if not isinstance(documents, list) or not documents:
            raise ValueError("shipments: a non-empty list is required")
        shipments = [
            BillableShipment.parse(document, f"shipments[{index}]")
            for index, document in enumerate(documents)
        ]
        with self.lock:
            seen = set(self._known_codes)
            for index, shipment in enumerate(shipments):
                if shipment.tracking_code in seen:
                    raise ValueError(
                        f"shipments[{index}].tracking_code: {shipment.tracking_code} is already"
                        " queued or billed"
                    )
                seen.add(shipment.tracking_code)
            self._queue(shipments)
        return [shipment.tracking_code for shipment in shipments]

    def bill(self, max_lines=None, issued_on=None):
        """One billing run: the carrier ledger's new purchases (with a carrier_url) join the
        queue, then up to ``max_lines`` queued shipments (all when None) are billed, grouped by
        carrier and currency into invoices of at most ``lines_per_invoice`` shipments, each dated
        ``issued_on`` (ISO date; today in UTC when None). Returns ``{"invoices": [numbers],
        "duplicates": [numbers served twice]}``. CarrierLedgerError (nothing billed) when the
        ledger cannot be read."""
        generation = self.generation
        purchases = self._read_carrier_ledger() if self.carrier_url else []
        with self.lock:
            if generation == self.generation:  # else reset meanwhile: the next run reads again
                self._queue_purchases(purchases)
            taken = self._unbilled[:max_lines] if max_lines else list(self._unbilled)
            del self._unbilled[: len(taken)]
            groups = {}
            for shipment in taken:
                groups.setdefault((shipment.carrier, shipment.currency), []).append(shipment)
            issued_on = issued_on or _today()
            size = self.knobs["lines_per_invoice"]
            numbers, duplicates = [], []
            for (carrier, currency), shipments in groups.items():
                for start in range(0, len(shipments), size):
                    invoice = self._issue_invoice(
                        carrier, currency, shipments[start : start + size], issued_on
                    )
                    numbers.append(invoice["number"])
                    if self._dice.random() < self.knobs["duplicate_invoice_rate"]:
                        self._serve_duplicate(invoice)
                        duplicates.append(invoice["number"])
            return {"invoices": numbers, "duplicates": duplicates}

    def _read_carrier_ledger(self):
        url = f"{self.carrier_url.rstrip('/')}/_admin/state"
        try:
            with self._ledger_opener.open(url, timeout=LEDGER_TIMEOUT_SECONDS) as answer:
                state = json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError) as error:
            problem = f"{url}: {getattr(error, 'reason', error)}"
        else:
            purchases = state.get("purchases") if isinstance(state, dict) else None
            problem = None
            if not isinstance(purchases, list):
                problem = f"{url}: no purchases list (is it the carrier sandbox?)"
        with self.lock:
            self._ledger_error = problem
        if problem:
            raise CarrierLedgerError(problem)
        return purchases

    def _queue_purchases(self, purchases):
        new = []
        for index, purchase in enumerate(purchases):
            if not isinstance(purchase, dict) or not purchase.get("tracking_code"):
                continue
            if purchase.get("refund_status") in UNBILLABLE_REFUND_STATUSES:
                continue
            if purchase["tracking_code"] in self._known_codes:
                continue
            try:
                new.append(BillableShipment.parse(purchase, f"purchases[{index}]"))
            except ValueError as error:
                # One odd label must not stop the others being billed: shown in the state.
                self._ledger_rejected.append({"purchase": purchase, "error": str(error)})
                self._known_codes.add(purchase["tracking_code"])
        self._queue(new)

    def _queue(self, shipments):
        self._unbilled.extend(shipments)
        self._known_codes.update(shipment.tracking_code for shipment in shipments)

    def _issue_invoice(self, carrier, currency, shipments, issued_on):
        number = self._next_number("FB", issued_on)
        charges, unknown = [], []
        for shipment in shipments:
            dice = {name: self._dice.random() for name in SHIPMENT_DICE}
            shipment_charges, faults = self._shipment_charges(shipment, dice)
            charges.extend(shipment_charges)
            self._billed[shipment.tracking_code] = {
                "invoice": number,
                "reference": shipment.reference,
                "carrier": shipment.carrier,
                "service": shipment.service,
                "rate": _text(shipment.rate),
                "billed": _text(sum(_amount(c) for c in shipment_charges)),
                "charges": {c["type"]: c["amount"] for c in shipment_charges},
                "currency": shipment.currency,
                "weight_oz": shipment.weight_oz,
                "residential": shipment.residential,
                "cod_amount": None if shipment.cod_amount is None else _text(shipment.cod_amount),
                "faults": faults,
            }
            if shipment.cod_amount is not None:
                self._collected.append(
                    {
                        "tracking_code": shipment.tracking_code,
                        "reference": shipment.reference,
                        "currency": shipment.currency,
                        "collected": _text(shipment.cod_amount),
                        "collected_on": issued_on,
                    }
                )
            if dice["unknown_tracking"] < self.knobs["unknown_tracking_rate"]:
                code, unknown_charges = self._unknown_charges(carrier)
                charges.extend(unknown_charges)
                unknown.append(code)
        invoice = {
            "id": _new_id("inv"),
            "object": "Invoice",
            "number": number,
            "issued_on": issued_on,
            "currency": currency,
            "amount_due": _text(sum(_amount(charge) for charge in charges)),
            "carrier": carrier,
            "credit_of": None,
            "charges": charges,
        }
        self._invoices.append(invoice)
        self._invoice_notes[invoice["id"]] = {
            "shipments": [shipment.tracking_code for shipment in shipments],
            "unknown_tracking_codes": unknown,
            "duplicate_of": None,
        }
        return invoice

    def _shipment_charges(self, shipment, dice):
        """The charges of one shipment and the faults applied (names of SHIPMENT_DICE). Without
        faults base + fuel is exactly the rate: fuel = rate * p / (100 + p) rounded to the cent,
        base the rest, so the invoice states the rate bought split the way carriers print it."""
        knobs = self.knobs
        fuel, base = _split_fuel(shipment.rate, knobs["fuel_percent"])
        faults = []
        billed_base = base
        if dice["overcharge"] < knobs["overcharge_rate"]:
            billed_base = _cents(base * (100 + knobs["overcharge_percent"]) / 100)
            faults.append("overcharge")
        postage = f"{shipment.service or shipment.carrier} postage"
        charges = [
            _charge(shipment, "base_rate", billed_base, postage, shipment.weight_oz),
            _charge(shipment, "fuel_surcharge", fuel, _fuel_description(knobs)),
        ]
        injected = dice["residential"] < knobs["residential_rate"]
        if shipment.residential or injected:
            charges.append(
                _charge(
                    shipment,
                    "residential_surcharge",
                    knobs["residential_fee"],
                    "Residential delivery",
                )
            )
            if not shipment.residential:
                faults.append("residential")
        if dice["address_correction"] < knobs["address_correction_rate"]:
            charges.append(
                _charge(
                    shipment,
                    "address_correction",
                    knobs["address_correction_fee"],
                    "Address correction",
                )
            )
            faults.append("address_correction")
        if dice["reweigh"] < knobs["reweigh_rate"] and shipment.weight_oz is not None:
            factor = knobs["reweigh_factor"]
            weight = round(shipment.weight_oz * float(factor), 2)
            charges.append(
                _charge(
                    shipment,
                    "weight_adjustment",
                    _cents(base * (factor - 1)),
                    f"Reweighed: {shipment.weight_oz} oz declared, {weight} oz billed",
                    weight,
                )
            )
            faults.append("reweigh")
        return charges, faults

    def _unknown_charges(self, carrier):
        """A base rate and its fuel for a tracking code nobody sold (a carrier's mix-up)."""
        while True:
            code = f"9400{self._dice.randrange(10**18):018d}"
            if code not in self._known_codes:
                break
        rate = Decimal(self._dice.randint(500, 2500)) / 100
        fuel, base = _split_fuel(rate, self.knobs["fuel_percent"])
        stranger = BillableShipment(code, None, carrier, None, rate, "USD", None, False, None)
        self._unknown_codes.append(code)
        return code, [
            _charge(stranger, "base_rate", base, "Postage"),
            _charge(stranger, "fuel_surcharge", fuel, _fuel_description(self.knobs)),
        ]

    def _serve_duplicate(self, invoice):
        duplicate = copy.deepcopy(invoice)
        duplicate["id"] = _new_id("inv")
        self._invoices.append(duplicate)
        self._invoice_notes[duplicate["id"]] = {
            **self._invoice_notes[invoice["id"]],
            "duplicate_of": invoice["id"],
        }

    def _next_number(self, prefix, on):
        self._sequences[prefix] = self._sequences.get(prefix, 0) + 1
        return f"{prefix}-{on[:4]}-{self._sequences[prefix]:06d}"

    def credit(self, invoice_number, tracking_code, amount, charge_type="other", issued_on=None):
        """Issue a credit note for ``amount`` (Decimal > 0) of what invoice ``invoice_number``
        billed for ``tracking_code``: an invoice with one negative charge and ``credit_of`` the
        number it credits. Returns the credit note. LookupError when the invoice or the tracking
        code on it is unknown; ValueError when the amount exceeds what is left to credit."""
        with self.lock:
            return self._issue_credit(
                invoice_number, tracking_code, amount, charge_type, issued_on or _today()
            )

    def _issue_credit(self, invoice_number, tracking_code, amount, charge_type, issued_on):
        original = next(
            (
                invoice
                for invoice in self._invoices
                if invoice["number"] == invoice_number and invoice["credit_of"] is None
            ),
            None,
        )
        if original is None:
            raise LookupError(f"no invoice {invoice_number}")
        billed = [c for c in original["charges"] if c["tracking_code"] == tracking_code]
        if not billed:
            raise LookupError(f"invoice {invoice_number} bills nothing for {tracking_code}")
        credited = sum(
            (
                Decimal(entry["amount"])
                for entry in self._credits
                if entry["credit_of"] == invoice_number and entry["tracking_code"] == tracking_code
            ),
            Decimal(0),
        )
        left = sum(_amount(charge) for charge in billed) - credited
        if amount > left:
            raise ValueError(
                f"{invoice_number} has {_text(left)} left to credit for {tracking_code}"
            )
        number = self._next_number("FC", issued_on)
        charge = {
            "tracking_code": tracking_code,
            "reference": billed[0]["reference"],
            "type": charge_type,
            "amount": _text(-amount),
            "billed_weight_oz": None,
            "service": billed[0]["service"],
            "description": f"Credit on {invoice_number}",
        }
        note = {
            "id": _new_id("inv"),
            "object": "Invoice",
            "number": number,
            "issued_on": issued_on,
            "currency": original["currency"],
            "amount_due": _text(-amount),
            "carrier": original["carrier"],
            "credit_of": invoice_number,
            "charges": [charge],
        }
        self._invoices.append(note)
        self._invoice_notes[note["id"]] = {
            "shipments": [],
            "unknown_tracking_codes": [],
            "duplicate_of": None,
        }
        self._credits.append(
            {
                "number": number,
                "id": note["id"],
                "credit_of": invoice_number,
                "tracking_code": tracking_code,
                "type": charge_type,
                "amount": _text(amount),
            }
        )
        return note

    # --- cash on delivery -------------------------------------------------------------------------
    def remit(self, paid_on=None):
        """Pay out every COD amount collected and not remitted yet: one remittance per currency,
        each item less ``cod_fee_percent`` % of what was collected; ``short_remittance_rate`` of
        the items are paid ``short_amount`` less (not below 0), ``missing_remittance_rate`` of
        them are left out for good (recorded as missing). Returns ``{"remittances": [numbers],
        "missing": [tracking codes]}``."""
        with self.lock:
            paid_on = paid_on or _today()
            knobs = self.knobs
            by_currency = {}
            for item in self._collected:
                by_currency.setdefault(item["currency"], []).append(item)
            self._collected.clear()
            numbers, missing = [], []
            for currency, collected in by_currency.items():
                items, shorts = [], []
                for item in collected:
                    dice = {name: self._dice.random() for name in REMITTANCE_DICE}
                    if dice["missing"] < knobs["missing_remittance_rate"]:
                        self._cod_missing.append(dict(item))
                        missing.append(item["tracking_code"])
                        continue
                    amount = Decimal(item["collected"])
                    fee = _cents(amount * knobs["cod_fee_percent"] / 100)
                    remitted = amount - fee
                    if dice["short"] < knobs["short_remittance_rate"]:
                        remitted = max(Decimal("0.00"), remitted - knobs["short_amount"])
                        shorts.append(
                            {
                                "tracking_code": item["tracking_code"],
                                "reference": item["reference"],
                                "expected": _text(amount - fee),
                                "remitted": _text(remitted),
                                "short_by": _text(amount - fee - remitted),
                            }
                        )
                    items.append(
                        {
                            "tracking_code": item["tracking_code"],
                            "reference": item["reference"],
                            "collected": item["collected"],
                            "fee": _text(fee),
                            "remitted": _text(remitted),
                            "collected_on": item["collected_on"],
                        }
                    )
                if not items:
                    continue
                remittance = {
                    "id": _new_id("rem"),
                    "object": "Remittance",
                    "number": self._next_number("RM", paid_on),
                    "paid_on": paid_on,
                    "currency": currency,
                    "amount_paid": _text(sum(Decimal(item["remitted"]) for item in items)),
                    "items": items,
                }
                for short in shorts:
                    short["remittance"] = remittance["number"]
                self._cod_short.extend(shorts)
                self._remittances.append(remittance)
                numbers.append(remittance["number"])
            return {"remittances": numbers, "missing": missing}

    # --- the API ----------------------------------------------------------------------------------
    def _list_invoices(self, request, match):
        page, has_more = self._page(self._invoices, request, "invoice")
        return json_response(200, {"invoices": page, "has_more": has_more})

    def _list_remittances(self, request, match):
        page, has_more = self._page(self._remittances, request, "remittance")
        return json_response(200, {"remittances": page, "has_more": has_more})

    def _page(self, documents, request, what):
        """The documents after the cursor ``after`` (an id; empty: from the first), at most
        ``limit`` of them (default 100, at most 500), and whether more follow."""
        after = (request.query.get("after") or [""])[0]
        raw_limit = (request.query.get("limit") or [str(PAGE_LIMIT_DEFAULT)])[0]
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= PAGE_LIMIT_MAX:
            raise self._validation_error(f"limit must be a whole number from 1 to {PAGE_LIMIT_MAX}")
        start = 0
        if after:
            position = next((i for i, doc in enumerate(documents) if doc["id"] == after), None)
            if position is None:
                raise RequestRejected(self.error_response(404, "not_found", f"no {what} {after}"))
            start = position + 1
        page = documents[start : start + limit]
        return copy.deepcopy(page), start + limit < len(documents)

    def _create_export(self, request, match):
        document = request.json()
        problem = _export_problem(document)
        if problem:
            raise self._validation_error(problem)
        export_id = _new_id("exp")
        self._exports.append(
            {
                "id": export_id,
                "received_at": recorded_at(),
                "idempotency_key": request.header("Idempotency-Key") or None,
                "total": _text(sum(Decimal(line["amount"]) for line in document["lines"])),
                "document": document,
            }
        )
        return json_response(
            201, {"id": export_id, "object": "Export", "lines": len(document["lines"])}
        )

    # --- admin API --------------------------------------------------------------------------------
    def _admin_add_shipments(self, request, match):
        document = request.json()
        shipments = document.get("shipments") if isinstance(document, dict) else None
        try:
            codes = self.add_shipments(shipments)
        except ValueError as error:
            raise RequestRejected(admin_error(400, str(error))) from None
        return json_response(200, {"added": codes, "unbilled": len(self._unbilled)})

    def _admin_bill(self, request, match):
        document = _admin_object(request)
        max_lines = document.get("max_lines")
        if max_lines is not None and (
            isinstance(max_lines, bool) or not isinstance(max_lines, int) or max_lines < 1
        ):
            raise RequestRejected(admin_error(400, "max_lines must be a whole number >= 1"))
        try:
            issued_on = _checked_date("issued_on", document.get("issued_on"))
        except ValueError as error:
            raise RequestRejected(admin_error(400, str(error))) from None
        try:
            return json_response(200, self.bill(max_lines, issued_on))
        except CarrierLedgerError as error:
            raise RequestRejected(admin_error(502, f"the carrier ledger: {error}")) from None

    def _admin_credit(self, request, match):
        document = _admin_object(request)
        try:
            amount = _money(document.get("amount"), "amount")
            if amount <= 0:
                raise ValueError("amount: must be positive")
            charge_type = document.get("type", "other")
            if charge_type not in CHARGE_TYPES:
                raise ValueError(f"type: one of {', '.join(CHARGE_TYPES)}")
            issued_on = _checked_date("issued_on", document.get("issued_on"))
            note = self.credit(
                document.get("invoice"),
                document.get("tracking_code"),
                amount,
                charge_type,
                issued_on,
            )
        except LookupError as error:
            raise RequestRejected(admin_error(404, str(error.args[0]))) from None
        except ValueError as error:
            raise RequestRejected(admin_error(400, str(error))) from None
        return json_response(200, {"invoice": note["number"], "id": note["id"]})

    def _admin_remit(self, request, match):
        document = _admin_object(request)
        try:
            paid_on = _checked_date("paid_on", document.get("paid_on"))
        except ValueError as error:
            raise RequestRejected(admin_error(400, str(error))) from None
        return json_response(200, self.remit(paid_on))

    # --- configuration and state ------------------------------------------------------------------
    def configure(self, values):
        checked = {}
        for key, value in values.items():
            if key == "carrier_url":
                checked[key] = _checked_url(key, value)
            elif key == "bill_every_seconds":
                checked[key] = _checked_seconds(key, value)
            elif key in KNOB_DEFAULTS:
                checked[key] = _checked_knob(key, value)
            else:
                raise ValueError(f"unknown setting {key!r}")
        for key, value in checked.items():
            if key in KNOB_DEFAULTS:
                self.knobs[key] = value
            else:
                setattr(self, key, value)
        if "seed" in checked:
            self._dice = random.Random(checked["seed"])  # noqa: S311 - billing dice

    def public_config(self):
        shown = {}
        for key, value in self.knobs.items():
            if key in FEE_KNOBS:
                shown[key] = _text(value)
            elif key in PERCENT_KNOBS or key == "reweigh_factor":
                shown[key] = float(value)
            else:
                shown[key] = value
        return {
            "carrier_url": self.carrier_url,
            "bill_every_seconds": self.bill_every_seconds,
            **shown,
        }

    def business_state(self):
        """What tests (and the end-to-end suite) assert Odoo found:

        - ``unbilled``: shipments waiting for a billing run; ``shipments``: per billed tracking
          code its invoice, rate, billed total, charges by type and ``faults`` (overcharge,
          residential: a surcharge on an address not marked residential, address_correction,
          reweigh); ``faults``: the tracking codes of each fault, ``unknown_tracking`` the codes
          billed that nobody sold, ``duplicate_invoices`` the numbers served twice;
        - ``invoices``: every invoice served, in order, with its shipments, unknown codes and,
          for a copy, the id of the invoice it duplicates; ``credits``: the credit notes;
        - ``cod``: ``collected`` (not remitted yet), ``short`` (expected, remitted, short_by)
          and ``missing`` items; ``remittances`` as served;
        - ``exports``: each export received, with its body;
        - ``carrier_ledger``: the carrier URL, the last error reading it, entries refused.
        """
        faults = {name: [] for name in ("overcharge", "residential", "address_correction")}
        faults["reweigh"] = []
        for code, billed in self._billed.items():
            for fault in billed["faults"]:
                faults[fault].append(code)
        faults["unknown_tracking"] = list(self._unknown_codes)
        faults["duplicate_invoices"] = [
            self._invoice_by_id(notes["duplicate_of"])["number"]
            for notes in self._invoice_notes.values()
            if notes["duplicate_of"]
        ]
        invoices = [
            {
                "id": invoice["id"],
                "number": invoice["number"],
                "issued_on": invoice["issued_on"],
                "carrier": invoice["carrier"],
                "currency": invoice["currency"],
                "amount_due": invoice["amount_due"],
                "credit_of": invoice["credit_of"],
                "charges": len(invoice["charges"]),
                **copy.deepcopy(self._invoice_notes[invoice["id"]]),
            }
            for invoice in self._invoices
        ]
        return {
            "unbilled": len(self._unbilled),
            "shipments": copy.deepcopy(self._billed),
            "faults": faults,
            "invoices": invoices,
            "credits": [dict(entry) for entry in self._credits],
            "cod": {
                "collected": [dict(item) for item in self._collected],
                "short": [dict(item) for item in self._cod_short],
                "missing": [dict(item) for item in self._cod_missing],
            },
            "remittances": copy.deepcopy(self._remittances),
            "exports": copy.deepcopy(self._exports),
            "carrier_ledger": {
                "url": self.carrier_url,
                "error": self._ledger_error,
                "rejected": copy.deepcopy(self._ledger_rejected),
            },
        }

    def _invoice_by_id(self, invoice_id):
        return next(invoice for invoice in self._invoices if invoice["id"] == invoice_id)

    def reset_state(self):
        self._clear_business()

    def _clear_business(self):
        # The configured seed starts the dice again: the same shipments get the same faults.
        self._dice = random.Random(self.knobs["seed"])  # noqa: S311 - billing dice
        self._unbilled = []
        self._known_codes = set()
        self._billed = {}
        self._unknown_codes = []
        self._invoices = []
        self._invoice_notes = {}
        self._credits = []
        self._sequences = {}
        self._collected = []
        self._cod_short = []
        self._cod_missing = []
        self._remittances = []
        self._exports = []
        self._ledger_error = None
        self._ledger_rejected = []


# --- money and documents --------------------------------------------------------------------------
def _money(value, where):
    """A money amount (a "7.50" string, or a number) as a Decimal of whole cents; ValueError
    naming ``where`` when it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f'{where}: a money amount such as "7.50" is required')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{where}: {value!r} is not a money amount") from None
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise ValueError(f"{where}: {value!r} is not a whole number of cents")
    return amount.quantize(CENT)


def _cents(amount):
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _text(amount):
    return f"{_cents(Decimal(amount)):.2f}"


def _amount(charge):
    return Decimal(charge["amount"])


def _split_fuel(rate, fuel_percent):
    """(fuel, base) of a rate that includes a fuel surcharge of ``fuel_percent`` % of the base:
    fuel = rate * p / (100 + p) to the cent, base = rate - fuel, so they add up to the rate."""
    fuel = _cents(rate * fuel_percent / (100 + fuel_percent))
    return fuel, rate - fuel


def _fuel_description(knobs):
    return f"Fuel surcharge {knobs['fuel_percent']} %"


def _charge(shipment, charge_type, amount, description, billed_weight_oz=None):
    return {
        "tracking_code": shipment.tracking_code,
        "reference": shipment.reference,
        "type": charge_type,
        "amount": _text(amount),
        "billed_weight_oz": billed_weight_oz,
        "service": shipment.service,
        "description": description,
    }


def _new_id(prefix):
    return f"{prefix}_{uuid.uuid4().hex}"


def _today():
    return datetime.now(timezone.utc).date().isoformat()


def _export_problem(document):
    """Why a finance export body is invalid (the first problem, naming its field), or None."""
    if not isinstance(document, dict):
        return "the body must be a JSON object"
    period = document.get("period")
    if not isinstance(period, str) or not PERIOD.match(period):
        return 'period: a month such as "2026-11" is required'
    if document.get("kind") not in EXPORT_KINDS:
        return f"kind: one of {', '.join(EXPORT_KINDS)} is required"
    company = document.get("company")
    if not isinstance(company, str) or not company:
        return "company: a non-empty string is required"
    currency = document.get("currency")
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        return "currency: an ISO 4217 code such as USD is required"
    lines = document.get("lines")
    if not isinstance(lines, list) or not lines:
        return "lines: a non-empty list is required"
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            return f"{where}: a JSON object is required"
        for key in ("carrier", "shipment_ref"):
            if not isinstance(line.get(key), str) or not line[key]:
                return f"{where}.{key}: a non-empty string is required"
        for key in ("tracking_number", "account"):
            if line.get(key) is not None and not isinstance(line[key], str):
                return f"{where}.{key}: a string or null is required"
        amount = line.get("amount")
        if not isinstance(amount, str) or not MONEY_TEXT.match(amount):
            return f'{where}.amount: a money string such as "12.30" is required'
    return None


# --- checks -----------------------------------------------------------------------------------
def _admin_object(request):
    document = request.json() or {}
    if not isinstance(document, dict):
        raise RequestRejected(admin_error(400, "expected a JSON object"))
    return document


def _checked_date(key, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be an ISO date such as 2026-11-30") from None


def _checked_url(key, value):
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string or null")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"{key} must be an http(s) URL")
    return value or None


def _checked_number(key, value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    return value


def _checked_seconds(key, value):
    seconds = float(_checked_number(key, value))
    if seconds < 0:
        raise ValueError(f"{key} must not be negative")
    return seconds


def _checked_knob(key, value):
    if key == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("seed must be an integer or null")
        return value
    if key == "lines_per_invoice":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("lines_per_invoice must be a whole number >= 1")
        return value
    if key in FEE_KNOBS:
        amount = _money(value, key)
        if amount < 0:
            raise ValueError(f"{key} must not be negative")
        return amount
    number = _checked_number(key, value)
    if key in FRACTION_KNOBS:
        if not 0 <= number <= 1:
            raise ValueError(f"{key} must be between 0 and 1")
        return float(number)
    if key == "reweigh_factor" and number <= 1:
        raise ValueError("reweigh_factor must be greater than 1")
    if number < 0:
        raise ValueError(f"{key} must not be negative")
    return Decimal(str(number))


# --- command line ---------------------------------------------------------------------------------
def main(argv=None):
    parser = command_line_parser(
        "finance",
        "A carrier billing portal and finance system sandbox on 127.0.0.1.",
        DEFAULT_PORT,
    )
    parser.add_argument(
        "--api-key", default="sandbox-finance-key", help="the Bearer token clients must send"
    )
    parser.add_argument(
        "--carrier-url", help="the carrier sandbox whose sold labels (its ledger) are billed"
    )
    parser.add_argument(
        "--bill-every-seconds",
        type=float,
        default=0.0,
        help="remit the COD collected, then bill, every that many seconds; 0: on demand only",
    )
    parser.add_argument(
        "--config",
        type=json.loads,
        default=None,
        help='initial business knobs as JSON, e.g. \'{"overcharge_rate": 0.1, "seed": 7}\'',
    )
    args = parser.parse_args(argv)
    try:
        sandbox = FinanceSandbox(
            api_key=args.api_key,
            carrier_url=args.carrier_url,
            bill_every_seconds=args.bill_every_seconds,
            port=args.port,
        )
        sandbox.configure(args.config or {})
    except ValueError as error:
        print(f"ERROR: sandbox finance: {error}", file=sys.stderr)
        return 2
    return serve_until_signalled(sandbox, args.faults, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
