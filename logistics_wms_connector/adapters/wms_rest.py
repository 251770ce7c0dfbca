"""The WMS / 3PL REST protocol: order releases out, signed pick / pack / ship callbacks in.

Pure translation between the partner's documents and canonical ones; no ORM access.
"""

ORDERS_PATH = "/api/orders"
STOCK_PATH = "/api/stock"

# The partner's event names -> canonical event types.
EVENT_TYPES = {
    "order.acknowledged": "wms_acknowledged",
    "order.picked": "picked",
    "order.packed": "packed",
    "order.shipped": "shipped",
    "order.cancelled": "cancelled",
}


def cancel_path(order_ref):
    return f"{ORDERS_PATH}/{order_ref}/cancel"


def release_request(order_ref, shipment_ref, warehouse, ship_to, lines):
    """The body of an order release.

    :param lines: dicts with line_id, sku, quantity
    """
    return {
        "order_ref": order_ref,
        "shipment_ref": shipment_ref,
        "warehouse": warehouse,
        "ship_to": {key: value for key, value in ship_to.items() if value},
        "lines": [
            {"line_id": str(line["line_id"]), "sku": line["sku"], "quantity": line["quantity"]}
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
            "lines": [
                {
                    "line_id": str(line.get("line_id") or ""),
                    "sku": line.get("sku"),
                    "quantity_ordered": float(line.get("quantity_ordered") or 0),
                    "quantity_done": float(line.get("quantity_done") or 0),
                }
                for line in lines
            ],
            "packages": native.get("packages") or [],
        },
    }


def canonical_events(document):
    """Canonical events from a callback body: one document or a list of them."""
    documents = document if isinstance(document, list) else [document]
    return [canonical_event(native) for native in documents]


def stock_levels(snapshot):
    """{sku: quantity} from a stock snapshot document."""
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("items"), list):
        raise ValueError("a stock snapshot must be an object with a list of items")
    levels = {}
    for item in snapshot["items"]:
        if not isinstance(item, dict) or not item.get("sku"):
            raise ValueError(f"stock item without sku: {item!r}")
        levels[str(item["sku"])] = float(item.get("quantity") or 0)
    return levels
