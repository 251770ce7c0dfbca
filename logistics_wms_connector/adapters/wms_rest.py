"""The WMS / 3PL REST protocol: order releases out, signed pick / pack / ship callbacks in.

Pure translation between the partner's documents and canonical ones; no ORM access.

Units: a release line states its unit (``uom``, Odoo's unit name, e.g. "Dozens") and, for a WMS
that counts pieces, the quantity in the unit that one is counted from (``quantity_base``,
``base_uom``: 24 "Units" for 2 "Dozens"). A confirmation line may state the unit its quantities
are in (``uom``); without one, they are in the release line's unit.

Lots and serial numbers: a confirmation line lists what it shipped of each as
``lots: [{"lot": "<lot or serial number>", "quantity": <in the line's unit>}]``.

Packages: a packed or shipped callback lists the parcels as
``packages: [{"package_id": "PKG-00001", "weight_kg": 3.0, "length_cm": 30, "width_cm": 20,
"height_cm": 10}]`` (dimensions optional); they become canonical packages (the base's
``canonical_package``).
"""

import json
import math

from odoo.addons.logistics_integration_base.models.logistics_package import (
    canonical_packages as base_canonical_packages,
)

ORDERS_PATH = "/api/orders"
STOCK_PATH = "/api/stock"
# A harmless call (Test Connection): authenticated like every call, it reads and changes
# nothing; the WMS answers 200 {"ok": true}.
PING_PATH = "/api/ping"

# The partner's event names -> canonical event types.
EVENT_TYPES = {
    "order.acknowledged": "wms_acknowledged",
    "order.picked": "picked",
    "order.packed": "packed",
    "order.shipped": "shipped",
    "order.cancelled": "cancelled",
}


def cancel_refused_as_shipped(status, answer):
    """Whether a WMS's answer to a cancel says the order has shipped: 409 Conflict with the
    error code ``already_shipped``."""
    return status == 409 and isinstance(answer, dict) and answer.get("error") == "already_shipped"


def cancel_path(order_ref):
    return f"{ORDERS_PATH}/{order_ref}/cancel"


RELEASE_LINE_FIELDS = ("uom", "quantity_base", "base_uom")


def partner_address(partner):
    """The postal address of ``partner`` (a res.partner record, only read) as this WMS takes
    it in ``ship_to``: name, street1, street2, city, state (code), zip, country (ISO code),
    phone, email; empty values are left out."""
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


def release_request(order_ref, shipment_ref, warehouse, ship_to, lines):
    """The body of an order release.

    :param lines: dicts with line_id, sku, quantity, and optionally uom, quantity_base and
        base_uom (see the module's docstring)
    """
    return {
        "order_ref": order_ref,
        "shipment_ref": shipment_ref,
        "warehouse": warehouse,
        "ship_to": {key: value for key, value in ship_to.items() if value},
        "lines": [
            {
                "line_id": str(line["line_id"]),
                "sku": line["sku"],
                "quantity": line["quantity"],
                **{key: line[key] for key in RELEASE_LINE_FIELDS if line.get(key) is not None},
            }
            for line in lines
        ],
    }


def order_exists(status, answer):
    """Whether a refused order release says that the WMS already has the order: HTTP 409 with
    ``{"error": {"code": "ORDER_EXISTS", ...}}``, a WMS's answer to an order reference it has
    taken before (one without Idempotency-Key support, to a release sent again).

    :param int status: the HTTP status of the answer
    :param answer: the parsed JSON body (any value)
    """
    error = answer.get("error") if isinstance(answer, dict) else None
    return status == 409 and isinstance(error, dict) and error.get("code") == "ORDER_EXISTS"


def canonical_event(native):
    """One canonical event from one of the partner's callback documents.

    Raises ValueError with the reason when the document is not a known callback.
    """
    if not isinstance(native, dict):
        raise ValueError("a WMS callback must be a JSON object")
    name = native.get("event")
    if name not in EVENT_TYPES:
        raise ValueError(f"unknown WMS event {name!r}")
    for key in ("event_id", "order_ref", "occurred_at"):
        if not native.get(key):
            raise ValueError(f"WMS callback without {key!r}")
    lines = native.get("lines") or []
    if not isinstance(lines, list):
        raise ValueError("'lines' must be a list")
    return {
        "type": EVENT_TYPES[name],
        "event_id": str(native["event_id"]),
        "occurred_at": native["occurred_at"],
        "shipment_ref": native.get("shipment_ref") or native["order_ref"],
        "payload": {
            "order_ref": native["order_ref"],
            "lines": [canonical_line(line) for line in lines],
            "packages": canonical_packages(native.get("packages") or []),
        },
    }


def canonical_packages(packages):
    """The canonical packages of a callback's ``packages`` list (see the module's docstring).

    Raises ValueError with the reason when the list or one of its packages is not one."""
    if not isinstance(packages, list):
        raise ValueError("'packages' must be a list")
    for package in packages:
        if not isinstance(package, dict):
            raise ValueError(f"a package must be an object: {package!r}")
    return base_canonical_packages(
        [
            {
                "reference": package.get("package_id"),
                "weight": package.get("weight_kg"),
                "weight_unit": "kg",
                "length": package.get("length_cm"),
                "width": package.get("width_cm"),
                "height": package.get("height_cm"),
                "dimension_unit": "cm",
            }
            for package in packages
        ]
    )


def canonical_line(line):
    """One canonical confirmation line: line_id, sku, quantity_ordered, quantity_done, and the
    unit (``uom``) and ``lots`` when the partner states them.

    Raises ValueError with the reason when the line is not one.
    """
    if not isinstance(line, dict):
        raise ValueError(f"a confirmation line must be an object: {line!r}")
    canonical = {
        "line_id": str(line.get("line_id") or ""),
        "sku": line.get("sku"),
        "quantity_ordered": quantity(line, "quantity_ordered"),
        "quantity_done": quantity(line, "quantity_done"),
    }
    if line.get("uom"):
        canonical["uom"] = str(line["uom"])
    lots = line.get("lots") or []
    if not isinstance(lots, list):
        raise ValueError(f"'lots' must be a list: {lots!r}")
    if lots:
        canonical["lots"] = []
        for lot in lots:
            if not isinstance(lot, dict) or not lot.get("lot"):
                raise ValueError(f"a lot must be an object with its 'lot' number: {lot!r}")
            canonical["lots"].append(
                {"lot": str(lot["lot"]), "quantity": quantity(lot, "quantity")}
            )
    return canonical


def quantity(document, key):
    """A non-negative finite number from ``document[key]`` (absent, null or empty: 0).

    Raises ValueError with the reason when it is not one."""
    value = document.get(key)
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} {value!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ValueError(f"{key} {value!r} is not a quantity")
    return number


def canonical_events(document):
    """Canonical events from a callback body: one document or a list of them."""
    documents = document if isinstance(document, list) else [document]
    return [canonical_event(native) for native in documents]


def stock_items(snapshot):
    """The items of a stock snapshot, as they are (``stock_levels`` checks them).

    A snapshot is the answer of ``GET /api/stock``: ``{"warehouse": "WH", "snapshot_at":
    "2026-11-22T10:00:00+00:00", "items": [{"sku": "FURN_0001", "quantity": 7.0}, ...]}``,
    quantities in the product's unit. Raises ValueError when ``snapshot`` is not one (not an
    object with a list of items).
    """
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("items"), list):
        raise ValueError("a stock snapshot must be an object with a list of items")
    return snapshot["items"]


def stock_levels(items):
    """The quantities on hand the snapshot ``items`` report, and what is wrong with the others.

    An item is usable when it is an object with a SKU (text, or an integer) and a quantity
    that is a finite number (int or float, not a bool) >= 0. A SKU reported twice with the
    same quantity counts once; with different quantities, neither is usable. What is not
    usable is reported, never read as a count (a null quantity is not 0).

    :param list items: ``stock_items`` of a snapshot
    :return: ({sku: quantity (float)} of the usable items, [(item, reason)] for the others,
        ``item`` naming it by position (1-based) and SKU: "item 3 (FURN_0001)", "items 2, 5
        (FURN_0002)", "item 4")
    """
    reported, problems = {}, []
    for position, item in enumerate(items, start=1):
        sku = _stock_sku(item)
        label = f"item {position} ({sku})" if sku else f"item {position}"
        reason = _stock_item_problem(item, sku)
        if reason:
            problems.append((label, reason))
        else:
            reported.setdefault(sku, []).append((position, float(item["quantity"])))
    levels = {}
    for sku, sightings in reported.items():
        quantities = sorted({quantity for _position, quantity in sightings})
        if len(quantities) == 1:
            levels[sku] = quantities[0]
            continue
        positions = ", ".join(str(position) for position, _quantity in sightings)
        problems.append(
            (
                f"items {positions} ({sku})",
                "reported with different quantities: "
                + ", ".join(f"{quantity:g}" for quantity in quantities),
            )
        )
    return levels, problems


def _stock_sku(item):
    sku = item.get("sku") if isinstance(item, dict) else None
    if isinstance(sku, int) and not isinstance(sku, bool):
        return str(sku)
    return sku if isinstance(sku, str) and sku.strip() else None


def _stock_item_problem(item, sku):
    """Why a snapshot item is not usable, or None."""
    if not isinstance(item, dict):
        return f"not an object ({json.dumps(item)})"
    if not sku:
        return "no SKU"
    if "quantity" not in item:
        return "no quantity"
    quantity = item["quantity"]
    if quantity is None:
        return "quantity is null"
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int | float)
        or not math.isfinite(quantity)
    ):
        return f"quantity {json.dumps(quantity)} is not a number"
    if quantity < 0:
        return f"quantity {quantity:g} is negative"
    return None
