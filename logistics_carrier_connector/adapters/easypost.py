"""EasyPost (carrier aggregator), API v2: shipments with rates, label purchase, trackers and
signed webhook events.

Pure translation between EasyPost's documents and plain Python values: it builds request bodies
and parses response bodies, and never sends anything nor touches the ORM (the Odoo models send,
through the base's delivery pipeline). The shapes follow EasyPost's recordings in
shared/fixtures/easypost.
"""

import hashlib
import hmac
import json
import math
import unicodedata
from dataclasses import dataclass, field
from datetime import timezone
from urllib.parse import quote

from odoo.addons.logistics_integration_base.models.event_time import parse_iso8601

SHIPMENTS_PATH = "/v2/shipments"
# A harmless call (Test Connection): list one of the account's saved addresses (EasyPost API
# "Retrieve a list of Addresses", GET /v2/addresses, test and production keys alike). It reads
# nothing a shipment depends on and buys nothing; a wrong key is answered 401.
CONNECTION_TEST_PATH = "/v2/addresses?page_size=1"

SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="

TRACKER_UPDATED = "tracker.updated"
# The Event EasyPost sends when a non-instantaneous Refund completes (docs.easypost.com/docs/
# events, "Refund"); its result is the Refund object, whose status says how it ended.
REFUND_SUCCESSFUL = "refund.successful"

# Every value of a Shipment's ``refund_status`` (EasyPost, "Shipping Refund"): "submitted" when
# asked, then "refunded" or "rejected" (a rejected refund may be asked again);
# "not_applicable" for bill-on-scan carriers, where an unused label costs nothing and never
# changes. A Refund object's ``status`` takes the first three.
REFUND_STATUSES = ("submitted", "refunded", "rejected", "not_applicable")

OUNCES_PER_KG = 35.27396194958041
CM_PER_INCH = 2.54
MIN_WEIGHT_OZ = 0.1

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

RATE_RULES = ("cheapest", "fastest", "preferred")

# Every value of a Tracker's ``status`` (EasyPost API reference).
TRACKER_STATUSES = (
    "unknown",
    "pre_transit",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "available_for_pickup",
    "return_to_sender",
    "failure",
    "cancelled",
    "error",
)

# How the consignee may pay a cash on delivery (EasyPost's Options object, ``cod_method``).
COD_METHODS = ("CASH", "CHECK", "MONEY_ORDER")
# The tracker status detail of a parcel whose cash on delivery the carrier collected, after its
# delivery (status "delivered"): the convention of the suite's carrier sandbox, EasyPost itself
# sending no COD event. Its TrackingDetail carries ``cod_amount`` (a money string, "150.00")
# and ``cod_currency`` (ISO 4217); see :func:`parse_event`.
COD_COLLECTED_DETAIL = "cod_collected"

# The longest piece of an unexpected error body kept in a CarrierError's message.
ERROR_SNIPPET_CHARS = 120


# --- values ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    id: str
    carrier: str | None
    service: str | None
    amount: float
    currency: str | None
    delivery_days: int | None
    carrier_account_id: str | None


@dataclass(frozen=True)
class CarrierShipment:
    id: str
    reference: str | None
    rates: list[Rate]
    tracking_code: str | None
    label_url: str | None
    label_file_type: str | None
    selected_rate: Rate | None
    tracker_id: str | None
    tracker_public_url: str | None
    # The PDF rendering of the label, when the shipment asked for label_format PDF.
    label_pdf_url: str | None = None
    # Why carriers gave no rate (EasyPost's shipment ``messages``), as "CARRIER: text".
    messages: list[str] = field(default_factory=list)
    # Where the label's refund is (one of REFUND_STATUSES); None while no refund was asked.
    refund_status: str | None = None


@dataclass(frozen=True)
class CarrierError:
    status: int | None
    code: str
    message: str
    field_errors: list[str]


@dataclass(frozen=True)
class TrackerUpdate:
    event_id: str | None
    tracking_code: str
    status: str | None
    status_detail: str | None
    occurred_at: str | None
    est_delivery_date: str | None
    signed_by: str | None
    carrier: str | None
    public_url: str | None
    shipment_id: str | None
    message: str | None
    location: dict | None
    tracker_id: str | None = None
    # The cash on delivery collected, when the newest scan reports one (COD_COLLECTED_DETAIL).
    cod_amount: float | None = None
    cod_currency: str | None = None


@dataclass(frozen=True)
class RefundUpdate:
    """A completed label refund, from a ``refund.successful`` Event (see parse_refund_event)."""

    event_id: str
    shipment_id: str | None
    tracking_code: str | None
    status: str  # one of REFUND_STATUSES: "refunded" or "rejected" once completed
    refund_id: str | None = None
    confirmation_number: str | None = None
    carrier: str | None = None
    occurred_at: str | None = None  # the Refund's updated_at, ISO 8601 with its offset


# --- requests -------------------------------------------------------------------------------------
def buy_path(shipment_id):
    return f"{SHIPMENTS_PATH}/{_path_id(shipment_id, 'shipment')}/buy"


def refund_path(shipment_id):
    """The path of EasyPost's "Refund a Shipment": ``POST /v2/shipments/<id>/refund``, sent
    without a body (docs.easypost.com/docs/shipments/shipping-refund). The answer is the
    Shipment (parse it with :func:`parse_shipment`) whose ``refund_status`` is "submitted" (or
    "not_applicable"); the outcome comes later, in a ``refund.successful`` Event (see
    :func:`parse_refund_event`) or a later read of the Shipment. Raises ValueError without an id.
    """
    return f"{SHIPMENTS_PATH}/{_path_id(shipment_id, 'shipment')}/refund"


def address(values):
    """An EasyPost address from a plain dict (name, street1, street2, city, state, zip,
    country, phone, email; company too), without the empty values Odoo gives as False/None."""
    result = {}
    for key in ADDRESS_FIELDS:
        value = values.get(key)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value is False or value == "":
            continue
        result[key] = value
    return result


def partner_address(partner):
    """The postal address of ``partner`` (a res.partner record, only read) as an EasyPost
    Address (see :func:`address`): name, street1, street2, city, state (code), zip, country
    (ISO code), phone, email; empty values are left out."""
    return {
        key: value
        for key, value in (
            ("name", partner.name),
            ("street1", partner.street),
            ("street2", partner.street2),
            ("city", partner.city),
            ("state", partner.state_id.code),
            ("zip", partner.zip),
            ("country", partner.country_id.code),
            ("phone", partner.phone),
            ("email", partner.email),
        )
        if value
    }


def parcel_from_kg(weight_kg, length_cm=None, width_cm=None, height_cm=None):
    """An EasyPost parcel (ounces and inches, one decimal) from a weight in kg and optional
    dimensions in cm. A zero weight becomes the smallest EasyPost takes (0.1 oz); a dimension
    that is not given (None, 0, False) is left out."""
    weight = _non_negative(weight_kg, "weight")
    parcel = {"weight": max(round(weight * OUNCES_PER_KG, 1), MIN_WEIGHT_OZ)}
    for key, value in (("length", length_cm), ("width", width_cm), ("height", height_cm)):
        if value is None or value is False:
            continue
        centimetres = _non_negative(value, key)
        if centimetres:
            parcel[key] = max(round(centimetres / CM_PER_INCH, 1), 0.1)
    return parcel


def shipment_request(reference, from_address, to_address, parcel, options=None, customs_info=None):
    """The body of ``POST /v2/shipments``: the shipment to rate.

    :param from_address: plain dict, see :func:`address`
    :param to_address: plain dict, see :func:`address`
    :param parcel: weight in ounces and optional dimensions in inches, see :func:`parcel_from_kg`
    :param options: EasyPost shipment options (e.g. ``{"label_format": "PDF"}``), sent as given
    :param customs_info: EasyPost customs info for international parcels, sent as given
    """
    if not isinstance(from_address, dict) or not isinstance(to_address, dict):
        raise ValueError("the shipment needs a from and a to address")
    if not isinstance(parcel, dict) or not parcel.get("weight"):
        raise ValueError("the parcel needs a weight")
    shipment = {
        "from_address": address(from_address),
        "to_address": address(to_address),
        "parcel": {key: value for key, value in parcel.items() if value is not None},
    }
    if customs_info:
        shipment["customs_info"] = customs_info
    if options:
        shipment["options"] = options
    if reference not in (None, False, ""):
        shipment["reference"] = str(reference)
    return {"shipment": shipment}


def cod_options(amount, currency, method="CASH"):
    """EasyPost's cash-on-delivery shipment options (the Options object of a Shipment,
    docs.easypost.com/docs/shipments/options): ``cod_amount``, the amount to collect as a
    string with 2 decimals ("150.00"), ``cod_method`` (one of COD_METHODS), and ``currency``
    (the ISO 4217 code of the amounts of the options). Merge them into the options of
    :func:`shipment_request`: the carrier rates and labels the parcel with them.

    Raises ValueError when the amount is not a positive finite number, the method is not one
    of COD_METHODS or the currency is not a 3-letter code.
    """
    number = _amount(amount)
    if number is None or number <= 0:
        raise ValueError(f"a cash on delivery amount must be a positive number, not {amount!r}")
    if method not in COD_METHODS:
        raise ValueError(f"unknown COD method {method!r}: expected one of {', '.join(COD_METHODS)}")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"a currency is a 3-letter ISO 4217 code, not {currency!r}")
    return {"cod_amount": f"{number:.2f}", "cod_method": method, "currency": currency.upper()}


def buy_request(rate_id):
    """The body of ``POST /v2/shipments/<id>/buy``: the rate to buy."""
    if not rate_id:
        raise ValueError("no rate to buy")
    return {"rate": {"id": rate_id}}


# --- responses ------------------------------------------------------------------------------------
def parse_shipment(body):
    """A Shipment response (create or buy) as a :class:`CarrierShipment`.

    Raises ValueError when the body is not a shipment (an error body included). Fields EasyPost
    leaves out or null are None; a rate without an id or a numeric price is left out.
    ``refund_status`` is EasyPost's as given (see REFUND_STATUSES), None while no refund was
    asked: a value EasyPost adds later is kept for the caller to judge, not refused here.
    """
    data = _json_object(body, "a Shipment")
    if "error" in data and "id" not in data:
        error = parse_error(data, None)
        raise ValueError(f"EasyPost answered with an error: {error.code}: {error.message}")
    _check_object(data, "Shipment")
    if not data.get("id"):
        raise ValueError("the Shipment has no id")
    label = _dict(data.get("postage_label"))
    tracker = _dict(data.get("tracker"))
    rates = [rate for rate in map(_rate, _list(data.get("rates"))) if rate]
    return CarrierShipment(
        id=data["id"],
        reference=data.get("reference"),
        rates=rates,
        tracking_code=data.get("tracking_code") or tracker.get("tracking_code"),
        label_url=label.get("label_url"),
        label_file_type=label.get("label_file_type"),
        selected_rate=_rate(data.get("selected_rate")),
        tracker_id=tracker.get("id"),
        tracker_public_url=tracker.get("public_url"),
        label_pdf_url=label.get("label_pdf_url"),
        messages=[_shipment_message(message) for message in _list(data.get("messages"))],
        refund_status=_refund_status(data.get("refund_status")),
    )


def parse_error(body, status):
    """An error answer as a :class:`CarrierError`, from EasyPost's error shape
    ``{"error": {"code", "message", "errors": [{"field", "message"}]}}``.

    Never raises: a body that is not JSON or not of that shape gives code "UNKNOWN" and a short
    message with the HTTP status and the start of the body.
    """
    status = _int(status)
    data = body
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return _unknown_error(status, body)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str) and error.strip():
        return CarrierError(status, "UNKNOWN", error.strip(), [])
    if not isinstance(error, dict):
        return _unknown_error(status, body)
    message = error.get("message")
    if isinstance(message, list):
        message = "; ".join(str(item) for item in message)
    return CarrierError(
        status=status,
        code=str(error.get("code") or "UNKNOWN"),
        message=str(message or "").strip() or _status_text(status),
        field_errors=_field_errors(error.get("errors")),
    )


# --- rate choice ----------------------------------------------------------------------------------
def choose_rate(rates, rule, preferred_carrier=None, preferred_service=None):
    """The rate to buy by the backend's rule.

    - cheapest: the lowest amount; ties go to fewer delivery days, then the carrier's name.
    - fastest: the fewest delivery days (unknown days count as slowest); ties go to the cheapest.
    - preferred: the cheapest rate of the preferred carrier and service; when that carrier has
      no rate for the service, its cheapest rate; when it has no rate at all (or no carrier is
      preferred), the cheapest rate. Carrier and service compare case-insensitively.

    Raises ValueError on an unknown rule or when there is no rate.
    """
    if rule not in RATE_RULES:
        raise ValueError(f"unknown rate rule {rule!r}: expected one of {', '.join(RATE_RULES)}")
    rates = list(rates or [])
    if not rates:
        raise ValueError("the carrier offered no rate to choose from")
    if rule == "fastest":
        return min(rates, key=_fastest_key)
    if rule == "preferred" and preferred_carrier:
        carrier = _folded(preferred_carrier)
        of_carrier = [rate for rate in rates if _folded(rate.carrier) == carrier]
        if preferred_service:
            service = _folded(preferred_service)
            of_service = [rate for rate in of_carrier if _folded(rate.service) == service]
            of_carrier = of_service or of_carrier
        rates = of_carrier or rates
    return min(rates, key=_cheapest_key)


# --- webhooks -------------------------------------------------------------------------------------
def sign(raw_body, secret):
    """The X-Hmac-Signature header value EasyPost sends with ``raw_body`` for ``secret``:
    ``hmac-sha256-hex=`` and the hex HMAC-SHA256 of the raw bytes, keyed with the NFKD-normalised
    secret in UTF-8 (as easypost-python's ``validate_webhook``)."""
    key = unicodedata.normalize("NFKD", _text(secret)).encode("utf-8")
    digest = hmac.new(key, _bytes(raw_body), hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(raw_body, headers, secret):
    """Check that EasyPost signed ``raw_body`` with ``secret``; raises ValueError with the reason
    when not. ``headers`` is any mapping (looked up case-insensitively)."""
    if not secret:
        raise ValueError("no webhook secret is configured for this EasyPost backend")
    received = _header(headers, SIGNATURE_HEADER)
    if not received or not received.strip():
        raise ValueError(f"missing {SIGNATURE_HEADER} header")
    expected = sign(raw_body, secret)
    # Compared as bytes: compare_digest refuses non-ASCII str, and a forged header may be that.
    if not hmac.compare_digest(expected.encode(), received.strip().encode("utf-8", "replace")):
        raise ValueError(
            f"the {SIGNATURE_HEADER} signature does not match the body "
            "(wrong webhook secret or altered body)"
        )


def parse_event(body):
    """A webhook Event: a :class:`TrackerUpdate` for ``tracker.updated``, None for any other
    event (the caller ignores those). Raises ValueError when the body is not an EasyPost Event
    or its tracker has no tracking code.

    A newest scan of detail COD_COLLECTED_DETAIL gives the update's ``cod_amount`` and
    ``cod_currency`` (None otherwise, and when its amount is not a number)."""
    data = _json_object(body, "an EasyPost Event")
    if data.get("object") != "Event":
        raise ValueError(f"not an EasyPost Event (object is {data.get('object')!r})")
    if data.get("description") != TRACKER_UPDATED:
        return None
    if not data.get("id"):
        raise ValueError("the Event has no id")
    tracker = data.get("result")
    if not isinstance(tracker, dict):
        raise ValueError("the tracker.updated Event has no result (tracker)")
    return _tracker_update(
        tracker,
        event_id=str(data["id"]),
        fallback_times=(data.get("updated_at"), data.get("created_at")),
    )


def parse_refund_event(body):
    """A webhook Event: a :class:`RefundUpdate` for ``refund.successful``, None for any other
    event (tracker.updated included: see :func:`parse_event`).

    EasyPost sends ``refund.successful`` when a non-instantaneous Refund completes
    (docs.easypost.com/docs/events); its ``result`` is the Refund object (docs.easypost.com/
    docs/refunds): ``{"id": "rfnd_...", "object": "Refund", "tracking_code", "confirmation_number",
    "status": "submitted" | "refunded" | "rejected", "carrier", "shipment_id", "created_at",
    "updated_at"}``. The status is read from the Refund, never assumed from the description.

    Raises ValueError when the body is not an EasyPost Event, or the refund Event has no id, no
    Refund, neither shipment_id nor tracking_code, or a status that is not in REFUND_STATUSES.
    """
    data = _json_object(body, "an EasyPost Event")
    if data.get("object") != "Event":
        raise ValueError(f"not an EasyPost Event (object is {data.get('object')!r})")
    if data.get("description") != REFUND_SUCCESSFUL:
        return None
    if not data.get("id"):
        raise ValueError("the Event has no id")
    refund = data.get("result")
    if not isinstance(refund, dict):
        raise ValueError("the refund.successful Event has no result (refund)")
    _check_object(refund, "Refund")
    shipment_id = _optional_text(refund.get("shipment_id"))
    tracking_code = _optional_text(refund.get("tracking_code"))
    if shipment_id is None and tracking_code is None:
        raise ValueError("the refund has neither a shipment_id nor a tracking_code")
    status = refund.get("status")
    if status not in REFUND_STATUSES:
        raise ValueError(
            f"unknown refund status {status!r}: expected one of {', '.join(REFUND_STATUSES)}"
        )
    return RefundUpdate(
        event_id=str(data["id"]),
        shipment_id=shipment_id,
        tracking_code=tracking_code,
        status=status,
        refund_id=_optional_text(refund.get("id")),
        confirmation_number=_optional_text(refund.get("confirmation_number")),
        carrier=_optional_text(refund.get("carrier")),
        occurred_at=_iso(refund.get("updated_at") or data.get("updated_at")),
    )


def event_id(body):
    """The id of an EasyPost webhook Event (any event, whatever it describes), or None when the
    body is not an Event with an id. It is the partner's event id a redelivery repeats."""
    if not isinstance(body, dict) or body.get("object") != "Event":
        return None
    value = body.get("id")
    return str(value) if value not in (None, "") else None


# --- internals ------------------------------------------------------------------------------------
def _path_id(value, what):
    if not value or not isinstance(value, str):
        raise ValueError(f"no {what} id")
    return quote(value, safe="")


def _non_negative(value, what):
    if isinstance(value, bool):
        value = float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"the parcel {what} is not a number: {value!r}") from None
    if number < 0 or not math.isfinite(number):
        raise ValueError(f"the parcel {what} must be a positive number, not {value!r}")
    return number


def _json_object(body, what):
    data = body
    if isinstance(data, bytes | bytearray | str):
        try:
            data = json.loads(data)
        except ValueError as error:
            raise ValueError(f"expected {what}, got a body that is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected {what} (a JSON object), got {type(data).__name__}")
    return data


def _check_object(data, expected):
    found = data.get("object")
    if found is not None and found != expected:
        raise ValueError(f"expected an EasyPost {expected}, got a {found}")


def _dict(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def _int(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _amount(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return None
    return amount if math.isfinite(amount) else None


def _rate(data):
    if not isinstance(data, dict) or not data.get("id"):
        return None
    amount = _amount(data.get("rate"))
    if amount is None:
        return None
    days = data.get("delivery_days")
    if days is None:
        days = data.get("est_delivery_days")
    return Rate(
        id=data["id"],
        carrier=data.get("carrier"),
        service=data.get("service"),
        amount=amount,
        currency=data.get("currency"),
        delivery_days=_int(days),
        carrier_account_id=data.get("carrier_account_id"),
    )


def _optional_text(value):
    if value is None or isinstance(value, bool) or value == "":
        return None
    return str(value)


def _refund_status(value):
    return value if isinstance(value, str) and value.strip() else None


def _shipment_message(message):
    if not isinstance(message, dict):
        return str(message)
    text = str(message.get("message") or message.get("type") or "")
    carrier = message.get("carrier")
    return f"{carrier}: {text}" if carrier else text


def _folded(value):
    return (value or "").casefold()


def _cheapest_key(rate):
    days = rate.delivery_days if rate.delivery_days is not None else math.inf
    return (rate.amount, days, _folded(rate.carrier), _folded(rate.service), rate.id)


def _fastest_key(rate):
    days = rate.delivery_days if rate.delivery_days is not None else math.inf
    return (days, rate.amount, _folded(rate.carrier), _folded(rate.service), rate.id)


def _field_errors(errors):
    if isinstance(errors, dict):
        errors = [{"field": key, "message": value} for key, value in errors.items()]
    result = []
    for item in _list(errors):
        if isinstance(item, dict):
            message = item.get("message")
            if isinstance(message, list):
                message = ", ".join(str(part) for part in message)
            message = str(message or "").strip()
            name = item.get("field")
            result.append(f"{name}: {message}" if name and message else str(name or message))
        elif item not in (None, ""):
            result.append(str(item))
    return [text for text in result if text]


def _status_text(status):
    return f"HTTP {status}" if status else "no HTTP status"


def _unknown_error(status, body):
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if body is None or body == "":
        snippet = ""
    elif isinstance(body, str):
        snippet = " ".join(body.split())
    else:
        snippet = " ".join(json.dumps(body, default=str).split())
    if len(snippet) > ERROR_SNIPPET_CHARS:
        snippet = snippet[: ERROR_SNIPPET_CHARS - 1] + "…"
    message = f"unexpected answer from EasyPost ({_status_text(status)})"
    if snippet:
        message += f": {snippet}"
    return CarrierError(status, "UNKNOWN", message, [])


def _text(secret):
    return secret.decode("utf-8") if isinstance(secret, bytes | bytearray) else str(secret)


def _bytes(raw_body):
    if isinstance(raw_body, str):
        return raw_body.encode("utf-8")
    return bytes(raw_body)


def _header(headers, name):
    """A header value from any mapping: werkzeug's headers look up case-insensitively
    themselves, a plain dict is searched."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next(
            (v for k, v in headers.items() if isinstance(k, str) and k.lower() == wanted), None
        )
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _parse_time(value):
    """An aware datetime from an EasyPost timestamp ("Z", an offset, or naive meaning UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = parse_iso8601(value)
    except (ValueError, OverflowError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _iso(value):
    """An EasyPost timestamp as ISO 8601 with its offset ("Z" written "+00:00"); a value that
    is no timestamp is kept as it is."""
    moment = _parse_time(value)
    if moment is None:
        return value or None
    return moment.isoformat()


def _location(detail):
    location = _dict(detail.get("tracking_location"))
    values = {
        key: location[key]
        for key in ("city", "state", "country", "zip")
        if location.get(key) not in (None, "")
    }
    return values or None


def _tracker_update(tracker, event_id, fallback_times):
    _check_object(tracker, "Tracker")
    tracking_code = tracker.get("tracking_code")
    if not tracking_code:
        raise ValueError("the tracker has no tracking_code")
    # The status is what the mapping table reads: a tracker without one maps to nothing ever.
    if not isinstance(tracker.get("status"), str) or not tracker["status"].strip():
        raise ValueError("the tracker has no status")
    details = [
        detail for detail in _list(tracker.get("tracking_details")) if isinstance(detail, dict)
    ]
    # The newest scan by its time, not by its place in the list; the later one wins a tie.
    timed = [
        (moment, index, detail)
        for index, detail in enumerate(details)
        if (moment := _parse_time(detail.get("datetime"))) is not None
    ]
    newest = max(timed, key=lambda item: item[:2])[2] if timed else (details[-1] if details else {})
    occurred_at = _iso(newest.get("datetime")) if timed else None
    if occurred_at is None:
        times = (*fallback_times, tracker.get("updated_at"), tracker.get("created_at"))
        occurred_at = next((_iso(value) for value in times if _parse_time(value)), None)
    cod = newest if newest.get("status_detail") == COD_COLLECTED_DETAIL else {}
    return TrackerUpdate(
        event_id=event_id,
        tracking_code=str(tracking_code),
        status=tracker.get("status"),
        status_detail=tracker.get("status_detail"),
        occurred_at=occurred_at,
        est_delivery_date=_iso(tracker.get("est_delivery_date")),
        signed_by=tracker.get("signed_by"),
        carrier=tracker.get("carrier"),
        public_url=tracker.get("public_url"),
        shipment_id=tracker.get("shipment_id"),
        message=newest.get("message") or None,
        location=_location(newest) if newest else None,
        tracker_id=tracker.get("id"),
        cod_amount=_amount(cod.get("cod_amount")),
        cod_currency=_optional_text(cod.get("cod_currency")),
    )
