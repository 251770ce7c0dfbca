"""The freight billing API (the carrier's billing portal and the finance system, as the finance
sandbox serves them): carrier invoices and COD remittances in, the finance export out.

Pure translation between the partner's JSON documents and canonical ones (see canonical); it
sends nothing and touches no ORM. The partner's format, which is not the canonical one:

- every route takes ``Authorization: Bearer <api_key>``; money is a string with 2 decimals
  ("7.50"), weights are in ounces (as EasyPost's);
- ``GET /v1/invoices?after=<id>&limit=<n>`` answers ``{"invoices": [INVOICE], "has_more"}``,
  in the order of issue, ``after`` being the id of the last one read (a cursor, see
  :func:`page_path` and :func:`next_page`). INVOICE is ``{"id": "inv_..", "object":
  "Invoice", "number", "issued_on": "2026-11-30", "currency", "amount_due": "123.45",
  "carrier", "credit_of": null | number, "charges": [{"tracking_code", "reference", "type",
  "amount": "7.50", "billed_weight_oz": 105.8 | null, "service", "description"}]}``. A
  duplicate copy of an invoice is a new id with the same number: it is returned like any
  invoice (the number, unique per carrier, is what tells a copy);
- ``GET /v1/remittances?after=<id>&limit=<n>`` answers ``{"remittances": [REMITTANCE],
  "has_more"}``, REMITTANCE being ``{"id": "rem_..", "object": "Remittance", "number",
  "paid_on", "currency", "amount_paid", "items": [{"tracking_code", "reference", "collected",
  "fee", "remitted", "collected_on"}]}``;
- ``POST /v1/exports`` (Idempotency-Key honoured) takes :func:`export_request`'s body and
  answers 201 ``{"id": "exp_..", "object": "Export", "lines": <count>}``, or 422
  ``{"error": {"code": "validation", "message"}}``.
"""

import re
from decimal import Decimal
from urllib.parse import urlencode

from . import canonical

INVOICES_PATH = "/v1/invoices"
REMITTANCES_PATH = "/v1/remittances"
EXPORTS_PATH = "/v1/exports"
MAX_PAGE_SIZE = 500

# The partner's charge types -> canonical charge codes.
CHARGE_TYPES = {
    "base_rate": "base",
    "fuel_surcharge": "fuel",
    "residential_surcharge": "residential",
    "address_correction": "address_correction",
    "weight_adjustment": "reweigh",
    "other": "other",
}
EXPORT_KINDS = ("freight", "cod")
WEIGHT_UNIT = "oz"

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def page_path(path, after=None, limit=100):
    """The path of one page of a list (INVOICES_PATH or REMITTANCES_PATH) after the cursor
    ``after`` (the id of the last document read; None for the first page).

    Raises ValueError when ``limit`` is not between 1 and MAX_PAGE_SIZE."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"page size {limit!r} is not between 1 and {MAX_PAGE_SIZE}")
    return f"{path}?{urlencode({'after': after or '', 'limit': limit})}"


def next_page(page_document, key):
    """(cursor, has_more) of a page: the id of its last document (None on an empty page) and
    whether more follow.

    :param key: "invoices" or "remittances"
    Raises ValueError when the page has no list under ``key``, its ``has_more`` is not a
    boolean, or it says more follow without giving a cursor.
    """
    documents = _page_documents(page_document, key)
    has_more = page_document.get("has_more")
    if not isinstance(has_more, bool):
        raise ValueError(f"the page's has_more {has_more!r} is not a boolean")
    cursor = None
    if documents:
        last = documents[-1]
        cursor = canonical.optional_text(last.get("id")) if isinstance(last, dict) else None
    if has_more and cursor is None:
        raise ValueError(f"the page says more {key} follow, but its last one has no id")
    return cursor, has_more


def invoices(page_document):
    """The canonical carrier invoices (canonical.invoice) of one page of ``GET /v1/invoices``,
    in the page's order (each by :func:`invoice`).

    Raises ValueError on the page's first invoice that :func:`invoice` refuses.
    """
    return [
        invoice(native, position)
        for position, native in enumerate(_page_documents(page_document, "invoices"), start=1)
    ]


def invoice(native, position):
    """The canonical carrier invoice (canonical.invoice) of one INVOICE of a page.

    Charge types map to canonical codes by CHARGE_TYPES; billed weights stay in ounces (unit
    "oz"); money strings become floats; the header's credit_of goes on every line.

    :param native: the partner's document, as the page gives it
    :param int position: its place in the page (1-based), to name it in an error
    Raises ValueError naming the invoice (position in the page and number) and the charge of
    the first problem: an unknown charge type, an amount that is not a 2-decimal string, a
    date that is not ISO, charges that do not add up to amount_due ...
    """
    where = _where("invoice", position, native)
    _check_object(native, "Invoice", where)
    charges = native.get("charges")
    if not isinstance(charges, list):
        raise ValueError(f"{where}: charges {charges!r} is not a list")
    return canonical.invoice(
        where,
        number=canonical.required_text(native.get("number"), where, "number"),
        invoice_date=canonical.iso_date(native.get("issued_on"), where, "issued_on"),
        currency_code=canonical.currency(native.get("currency"), where),
        total=canonical.money(native.get("amount_due"), where, "amount_due"),
        carrier=native.get("carrier"),
        credit_of=native.get("credit_of"),
        lines=[
            _charge(charge, f"{where}, charge {index}")
            for index, charge in enumerate(charges, start=1)
        ],
    )


def remittances(page_document):
    """The canonical COD remittances (canonical.remittance) of one page of
    ``GET /v1/remittances``, in the page's order (each by :func:`remittance`).

    Raises ValueError on the page's first remittance that :func:`remittance` refuses.
    """
    return [
        remittance(native, position)
        for position, native in enumerate(_page_documents(page_document, "remittances"), start=1)
    ]


def remittance(native, position):
    """The canonical COD remittance (canonical.remittance) of one REMITTANCE of a page: an
    item's ``fee`` is the line's deduction, its ``collected_on`` the line's collected_at.

    :param native: the partner's document, as the page gives it
    :param int position: its place in the page (1-based), to name it in an error
    Raises ValueError naming the remittance and the item of the first problem.
    """
    where = _where("remittance", position, native)
    _check_object(native, "Remittance", where)
    items = native.get("items")
    if not isinstance(items, list):
        raise ValueError(f"{where}: items {items!r} is not a list")
    return canonical.remittance(
        where,
        number=canonical.required_text(native.get("number"), where, "number"),
        remittance_date=canonical.iso_date(native.get("paid_on"), where, "paid_on"),
        currency_code=canonical.currency(native.get("currency"), where),
        total=canonical.money(native.get("amount_paid"), where, "amount_paid"),
        lines=[
            _remittance_item(item, f"{where}, item {index}")
            for index, item in enumerate(items, start=1)
        ],
    )


def export_request(period, kind, company, currency, lines):
    """The body of ``POST /v1/exports``: reconciled freight or COD of one period.

    :param str period: the month, "2026-11"
    :param str kind: "freight" or "cod"
    :param str company: the company's name as the finance system knows it
    :param str currency: ISO 4217 code of the amounts
    :param list lines: dicts with ``carrier`` (str), ``shipment_ref`` (str), ``amount`` (a
        number or a money string, at most 2 decimals), and optionally ``tracking_number`` and
        ``account`` (str or None); any other key is sent as given (JSON-safe values)
    :return: ``{"period", "kind", "company", "currency", "lines": [...]}`` with each amount
        as a string with 2 decimals ("12.30")
    Raises ValueError naming the argument or the line (1-based) that is not what it should be:
    the finance system would answer 422, and a request that can't succeed is not queued.
    """
    if not isinstance(period, str) or not _PERIOD.fullmatch(period):
        raise ValueError(f"period {period!r} is not a month YYYY-MM")
    if kind not in EXPORT_KINDS:
        raise ValueError(f"export kind {kind!r} is not one of {', '.join(EXPORT_KINDS)}")
    company = canonical.required_text(company, "the export", "company")
    currency = canonical.currency(currency, "the export")
    if not isinstance(lines, list | tuple) or not lines:
        raise ValueError("the export has no line")
    return {
        "period": period,
        "kind": kind,
        "company": company,
        "currency": currency,
        "lines": [
            _export_line(line, f"export line {index}") for index, line in enumerate(lines, 1)
        ],
    }


def _export_line(line, where):
    if not isinstance(line, dict):
        raise ValueError(f"{where}: {line!r} is not an object")
    return {
        **line,
        "carrier": canonical.required_text(line.get("carrier"), where, "carrier"),
        "shipment_ref": canonical.required_text(line.get("shipment_ref"), where, "shipment_ref"),
        "tracking_number": canonical.optional_text(line.get("tracking_number")),
        "amount": f"{_export_amount(line.get('amount'), where):.2f}",
        "account": canonical.optional_text(line.get("account")),
    }


def _export_amount(value, where):
    if isinstance(value, str):
        return canonical.money(value, where)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        amount = Decimal(str(value))
        if amount.is_finite() and amount == amount.quantize(canonical.CENT):
            return amount
    raise ValueError(f"{where}: amount {value!r} is not an amount with at most 2 decimals")


def _charge(charge, where):
    if not isinstance(charge, dict):
        raise ValueError(f"{where}: {charge!r} is not an object")
    kind = charge.get("type")
    if kind not in CHARGE_TYPES:
        raise ValueError(
            f"{where}: unknown charge type {kind!r} (one of {', '.join(CHARGE_TYPES)})"
        )
    ounces = charge.get("billed_weight_oz")
    return canonical.invoice_line(
        where,
        tracking_number=charge.get("tracking_code"),
        shipment_ref=charge.get("reference"),
        charge_code=CHARGE_TYPES[kind],
        amount=canonical.money(charge.get("amount"), where),
        billed_weight=None
        if ounces is None
        else canonical.weight(ounces, where, "billed_weight_oz"),
        weight_unit=None if ounces is None else WEIGHT_UNIT,
        description=charge.get("description"),
        service=charge.get("service"),
    )


def _remittance_item(item, where):
    if not isinstance(item, dict):
        raise ValueError(f"{where}: {item!r} is not an object")
    collected_on = item.get("collected_on")
    return canonical.remittance_line(
        where,
        tracking_number=item.get("tracking_code"),
        shipment_ref=item.get("reference"),
        collected=canonical.money(item.get("collected"), where, "collected"),
        deduction=canonical.money(item.get("fee"), where, "fee"),
        remitted=canonical.money(item.get("remitted"), where, "remitted"),
        collected_at=None
        if collected_on is None
        else canonical.iso_date(collected_on, where, "collected_on"),
    )


def _page_documents(page_document, key):
    if not isinstance(page_document, dict) or not isinstance(page_document.get(key), list):
        raise ValueError(f"expected a page of {key}: an object with a list {key!r}")
    return page_document[key]


def _where(what, position, native):
    """The place of a document in the page and its number (or id): "invoice 3 (FB-...)"."""
    name = None
    if isinstance(native, dict):
        name = canonical.optional_text(native.get("number")) or canonical.optional_text(
            native.get("id")
        )
    return f"{what} {position} ({name})" if name else f"{what} {position}"


def _check_object(native, expected, where):
    if not isinstance(native, dict):
        raise ValueError(f"{where}: not an object")
    found = native.get("object")
    if found is not None and found != expected:
        raise ValueError(f"{where}: expected an {expected}, got a {found!r}")
