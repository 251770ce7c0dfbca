"""The canonical finance documents every adapter produces (carrier invoices and COD remittances),
and the checks of their values the adapters share.

The contract (shared with the finance sandbox and the Odoo models): plain, JSON-safe dicts.

Carrier invoice::

    {"invoice_number": str, "invoice_date": "2026-11-30", "currency": "USD", "total": 123.45,
     "carrier": str | None, "credit_of": str | None,
     "lines": [{"tracking_number": str | None, "shipment_ref": str | None,
                "charge_code": one of CHARGE_CODES, "amount": 7.5 (negative: a credit),
                "billed_weight": 3.0 | None, "weight_unit": one of WEIGHT_UNITS | None,
                "description": str | None, "service": str | None, "credit_of": str | None}]}

COD remittance::

    {"remittance_number": str, "remittance_date": "2026-11-30", "currency": "USD",
     "total": 410.0,
     "lines": [{"tracking_number": str | None, "shipment_ref": str | None,
                "collected": 150.0, "deduction": 3.0, "remitted": 147.0,
                "collected_at": "2026-11-28" | None}]}

Money is a float of at most 2 decimals in the document's currency. While an adapter reads a
file, amounts are ``Decimal`` so that a total is compared with its lines to the cent; the
builders below turn them into floats once the document has been checked.

Every check raises ValueError whose message starts with the place of the problem (``where``:
"line 4", "segment 12 (L1)", "invoice FB-2026-000123, charge 2"); nothing is dropped or
"corrected": a value that is not what the contract says is refused.
"""

import math
import re
from datetime import datetime
from decimal import Decimal

CHARGE_CODES = ("base", "fuel", "residential", "address_correction", "reweigh", "other")
WEIGHT_UNITS = ("kg", "g", "lb", "oz")

# Decimal text with at most 2 decimals: "7.50", "-3.2", "12". No sign "+", no exponent, no
# thousands separator: a carrier that writes those is refused, not guessed at.
_MONEY = re.compile(r"-?\d+(?:\.\d{1,2})?")
_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
CENT = Decimal("0.01")


def money(value, where, what="amount"):
    """The ``Decimal`` of a money text ("7.50", "-3.20", "12"; at most 2 decimals).

    Raises ValueError naming ``where`` and ``what`` when ``value`` is not one (a number given
    as a JSON number or with 3 decimals included: rounding it would change what was billed).
    """
    if not isinstance(value, str) or not _MONEY.fullmatch(value.strip()):
        raise ValueError(
            f"{where}: {what} {value!r} is not an amount (decimal text with at most 2 decimals, "
            "like 7.50 or -3.20)"
        )
    return Decimal(value.strip())


def weight(value, where, what="billed weight"):
    """The ``Decimal`` of a weight (>= 0) given as decimal text or a JSON number.

    Raises ValueError naming ``where`` and ``what`` when it is not a finite number >= 0.
    """
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return Decimal(value.strip())
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    ):
        return Decimal(str(value))
    raise ValueError(f"{where}: {what} {value!r} is not a weight (a number >= 0)")


def iso_date(value, where, what="date"):
    """``value`` when it is an ISO date "YYYY-MM-DD" of the calendar; ValueError otherwise."""
    text = value.strip() if isinstance(value, str) else value
    problem = ValueError(f"{where}: {what} {value!r} is not an ISO date (YYYY-MM-DD)")
    if not isinstance(text, str) or not _ISO_DATE.fullmatch(text):
        raise problem
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise problem from None
    return text


def currency(value, where, what="currency"):
    """``value`` when it is an ISO 4217 code in upper case ("USD"); ValueError otherwise."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and _CURRENCY.fullmatch(text):
        return text
    raise ValueError(f"{where}: {what} {value!r} is not an ISO 4217 currency code (like USD)")


def optional_text(value):
    """A stripped non-empty str, or None for None / "" / blanks (the partner left it out)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def required_text(value, where, what):
    """``optional_text(value)``, refused (ValueError naming ``where``) when there is none."""
    text = optional_text(value)
    if text is None:
        raise ValueError(f"{where}: no {what}")
    return text


def invoice_line(
    where,
    *,
    tracking_number,
    shipment_ref,
    charge_code,
    amount,
    billed_weight=None,
    weight_unit=None,
    description=None,
    service=None,
):
    """One line of a carrier invoice, checked, its amount still a ``Decimal``.

    :param amount: ``Decimal`` (see :func:`money`)
    :param billed_weight: ``Decimal`` or None; ``weight_unit`` is required with it and must be
        None without it
    Raises ValueError naming ``where`` when the line names no shipment (neither tracking
    number nor shipment reference), has an unknown charge code or a weight without its unit.
    """
    tracking_number = optional_text(tracking_number)
    shipment_ref = optional_text(shipment_ref)
    if tracking_number is None and shipment_ref is None:
        raise ValueError(f"{where}: neither a tracking number nor a shipment reference")
    if charge_code not in CHARGE_CODES:
        raise ValueError(
            f"{where}: unknown charge code {charge_code!r} (one of {', '.join(CHARGE_CODES)})"
        )
    weight_unit = optional_text(weight_unit)
    if billed_weight is None and weight_unit is not None:
        raise ValueError(f"{where}: weight unit {weight_unit!r} without a billed weight")
    if billed_weight is not None and weight_unit not in WEIGHT_UNITS:
        raise ValueError(
            f"{where}: billed weight without a known unit ({weight_unit!r}; one of "
            f"{', '.join(WEIGHT_UNITS)})"
        )
    return {
        "tracking_number": tracking_number,
        "shipment_ref": shipment_ref,
        "charge_code": charge_code,
        "amount": amount,
        "billed_weight": billed_weight,
        "weight_unit": weight_unit,
        "description": optional_text(description),
        "service": optional_text(service),
    }


def invoice(where, *, number, invoice_date, currency_code, total, carrier, credit_of, lines):
    """A canonical carrier invoice from its checked header values and :func:`invoice_line`
    lines (amounts as ``Decimal``); ``credit_of`` goes on the header and on every line.

    Raises ValueError naming ``where`` when there is no line or the lines do not add up to
    ``total`` to the cent: an invoice that contradicts itself is not booked.
    """
    if not lines:
        raise ValueError(f"{where}: no charge line")
    added = sum((line["amount"] for line in lines), Decimal(0))
    if added != total:
        raise ValueError(
            f"{where}: the charges add up to {added:.2f}, the invoice states a total of {total:.2f}"
        )
    credit_of = optional_text(credit_of)
    return {
        "invoice_number": number,
        "invoice_date": invoice_date,
        "currency": currency_code,
        "total": as_float(total),
        "carrier": optional_text(carrier),
        "credit_of": credit_of,
        "lines": [
            dict(
                line,
                amount=as_float(line["amount"]),
                billed_weight=_weight_float(line["billed_weight"]),
                credit_of=credit_of,
            )
            for line in lines
        ],
    }


def remittance_line(
    where, *, tracking_number, shipment_ref, collected, deduction, remitted, collected_at
):
    """One line of a COD remittance, checked, its amounts still ``Decimal``.

    A line is what the carrier says it did; whether it remitted what it should (collected minus
    deduction, the shipment's COD amount) is the audit's question, not refused here.
    Raises ValueError naming ``where`` when the line names no shipment, or collected or
    deduction is negative.
    """
    tracking_number = optional_text(tracking_number)
    shipment_ref = optional_text(shipment_ref)
    if tracking_number is None and shipment_ref is None:
        raise ValueError(f"{where}: neither a tracking number nor a shipment reference")
    for what, value in (("collected", collected), ("deduction", deduction)):
        if value < 0:
            raise ValueError(f"{where}: {what} {value:.2f} is negative")
    return {
        "tracking_number": tracking_number,
        "shipment_ref": shipment_ref,
        "collected": collected,
        "deduction": deduction,
        "remitted": remitted,
        "collected_at": collected_at,
    }


def remittance(where, *, number, remittance_date, currency_code, total, lines):
    """A canonical COD remittance from its checked header values and :func:`remittance_line`
    lines. Raises ValueError naming ``where`` when there is no line or the remitted amounts
    do not add up to ``total`` (the amount paid out) to the cent."""
    if not lines:
        raise ValueError(f"{where}: no remittance line")
    added = sum((line["remitted"] for line in lines), Decimal(0))
    if added != total:
        raise ValueError(
            f"{where}: the remitted amounts add up to {added:.2f}, the remittance states a "
            f"total of {total:.2f}"
        )
    return {
        "remittance_number": number,
        "remittance_date": remittance_date,
        "currency": currency_code,
        "total": as_float(total),
        "lines": [
            dict(
                line,
                collected=as_float(line["collected"]),
                deduction=as_float(line["deduction"]),
                remitted=as_float(line["remitted"]),
            )
            for line in lines
        ],
    }


def file_text(data):
    """The text of a file given as str or as UTF-8 bytes (a leading byte order mark removed).

    Raises ValueError when the bytes are not UTF-8 or ``data`` is neither."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"the file is not UTF-8 text (byte {error.start})") from None
    if not isinstance(data, str):
        raise ValueError(f"expected the text of a file, got {type(data).__name__}")
    return data.removeprefix("\ufeff")


def _weight_float(value):
    return None if value is None else float(value)


def as_float(amount):
    """The float of a ``Decimal`` amount, rounded to the cent (the contract's money)."""
    return round(float(amount), 2)
