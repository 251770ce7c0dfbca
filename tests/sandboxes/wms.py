"""A WMS / 3PL on 127.0.0.1: order releases in (REST, or CSV files in a drop directory),
acknowledge / pick / pack / ship confirmations out (signed HTTP callbacks, or CSV files), partial
shipments, one or several packages per order, cancellations and stock snapshots.

Callbacks are signed with the suite's generic scheme (DESIGN.md §4):
``X-Logistics-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, b"<t>." + raw body)>``.

    python tests/sandboxes/wms.py --port 8302 --callback-url URL --callback-secret SECRET
    python tests/sandboxes/wms.py --port 8302 --drop-dir /tmp/wms-drop
"""

import csv
import hashlib
import hmac
import io
import itertools
import json
import logging
import math
import os
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

try:
    from .common import (
        ObjectClock,
        RequestRejected,
        Sandbox,
        admin_error,
        command_line_parser,
        json_bytes,
        json_response,
        route,
        serve_until_signalled,
    )
except ImportError:  # run as a script: python tests/sandboxes/wms.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sandboxes.common import (
        ObjectClock,
        RequestRejected,
        Sandbox,
        admin_error,
        command_line_parser,
        json_bytes,
        json_response,
        route,
        serve_until_signalled,
    )

_logger = logging.getLogger(__name__)

DEFAULT_PORT = 8302

SIGNATURE_HEADER = "X-Logistics-Signature"

# An order's life at the warehouse, one callback per step.
STEPS = ("order.acknowledged", "order.picked", "order.packed", "order.shipped")
CANCELLED = "order.cancelled"
FINAL_EVENTS = frozenset({"order.shipped", CANCELLED})
STATUS_AFTER = {
    "order.acknowledged": "acknowledged",
    "order.picked": "picked",
    "order.packed": "packed",
    "order.shipped": "shipped",
    CANCELLED: "cancelled",
}
PACKAGE_EVENTS = frozenset({"order.packed", "order.shipped"})
# The steps a WMS may leave unreported (knob skip_events): their effect happens (goods are
# picked, packed), only the callback is not sent. The shipment is always reported.
SKIPPABLE_EVENTS = frozenset(STEPS) - {"order.shipped"}
DIMENSIONS = ("length_cm", "width_cm", "height_cm")
# Callbacks that report no quantity done: nothing is picked yet, or nothing will ship.
NOTHING_DONE_EVENTS = frozenset({"order.acknowledged", CANCELLED})

ORDER_COLUMNS = ("order_ref", "shipment_ref", "line_id", "sku", "quantity")
# A release line's units (Odoo's unit name, the quantity in the product's base unit and that
# unit's name): optional, in JSON and in order files.
UNIT_FIELDS = ("uom", "quantity_base", "base_uom")
COUNT_UNITS = ("release", "base", "base_unstated")
CONFIRMATION_COLUMNS = (
    "event_id",
    "event",
    "order_ref",
    "shipment_ref",
    "occurred_at",
    "line_id",
    "sku",
    "quantity_ordered",
    "quantity_done",
)
OPTIONAL_CONFIRMATION_COLUMNS = ("uom", "lot")
CONFIRMATION_NAME = re.compile(r"^confirmations-(\d+)\.csv")
STOCK_COLUMNS = ("sku", "quantity")
POLL_SECONDS = 0.5

# Parcels weigh this much per unit plus the box: enough for a plausible package weight.
KG_PER_UNIT = 0.5
PACKAGING_KG = 0.2


def sign(raw_body, secret, timestamp):
    """The X-Logistics-Signature value of ``raw_body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode() + raw_body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def wms_time(moment):
    return moment.isoformat(timespec="seconds")


def release_problems(document):
    """What is wrong with an order release, as [{"field", "message"}] (empty when valid)."""
    if not isinstance(document, dict):
        return [{"field": "", "message": "the order release must be a JSON object"}]
    problems = []
    order_ref = document.get("order_ref")
    if not isinstance(order_ref, str) or not order_ref.strip():
        problems.append(("order_ref", "is required"))
    lines = document.get("lines")
    if not isinstance(lines, list) or not lines:
        problems.append(("lines", "at least one line is required"))
        lines = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            problems.append((where, "must be an object"))
            continue
        sku = line.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            problems.append((f"{where}.sku", "is required"))
        quantity = line.get("quantity")
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int | float)
            or not math.isfinite(quantity)
        ):
            problems.append((f"{where}.quantity", "must be a number"))
        elif quantity <= 0:
            problems.append((f"{where}.quantity", "must be greater than 0"))
    return [{"field": name, "message": message} for name, message in problems]


def order_file_releases(text, warehouse):
    """Order releases from an outbound CSV file (one row per line; rows of one order_ref form
    one release). Raises ValueError with the reason when the file is not such a file."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in ORDER_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    releases = {}
    for row in reader:
        number = reader.line_num
        if None in row or None in row.values():
            raise ValueError(f"line {number}: expected {len(reader.fieldnames)} fields")
        try:
            quantity = float(row["quantity"])
        except ValueError:
            raise ValueError(
                f"line {number}: quantity {row['quantity']!r} is not a number"
            ) from None
        release = releases.setdefault(
            row["order_ref"],
            {
                "order_ref": row["order_ref"],
                "shipment_ref": row["shipment_ref"] or row["order_ref"],
                "warehouse": warehouse,
                "ship_to": {},
                "lines": [],
            },
        )
        release["lines"].append(
            {
                "line_id": row["line_id"],
                "sku": row["sku"],
                "quantity": quantity,
                **{key: row[key] for key in UNIT_FIELDS if row.get(key)},
            }
        )
    if not releases:
        raise ValueError("no order line in the file")
    return list(releases.values())


def confirmation_csv(document):
    """A callback document as an inbound confirmation file: one row per line."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, CONFIRMATION_COLUMNS + OPTIONAL_CONFIRMATION_COLUMNS, lineterminator="\n"
    )
    writer.writeheader()
    head = {key: document[key] for key in CONFIRMATION_COLUMNS[:5]}
    for line in document["lines"]:
        row = {**head, **{key: value for key, value in line.items() if key != "lots"}}
        # One row per lot shipped: rows of one line_id add up.
        for lot in line.get("lots") or [None]:
            if lot is not None:
                row = dict(row, lot=lot["lot"], quantity_done=lot["quantity"])
            writer.writerow(row)
    return out.getvalue()


def stock_csv(items):
    """A stock file: one row per snapshot item, columns sku, quantity. A cell holds its value,
    the JSON of it when it is neither text nor a number (``[3]``, ``true``), or nothing when it
    is null or missing; an item that is not an object is a row with its JSON as the sku."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STOCK_COLUMNS)
    for item in items:
        if not isinstance(item, dict):
            item = {"sku": item}
        writer.writerow([_stock_cell(item.get(column)) for column in STOCK_COLUMNS])
    return out.getvalue()


def _stock_cell(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return json.dumps(value)


@dataclass
class _Order:
    id: str
    order_ref: str
    shipment_ref: str
    warehouse: str
    ship_to: dict
    lines: list  # {"line_id", "sku", "quantity_ordered", "quantity_done"}
    source: str  # "api" or "file": how confirmations go back
    clock: ObjectClock
    status: str = "received"
    position: int = 0
    steps_sent: list = field(default_factory=list)
    packages: list = field(default_factory=list)  # {"package_id", "weight_kg", dimensions}

    @property
    def finished(self):
        return self.status in ("shipped", "cancelled")

    def summary(self):
        return {
            "id": self.id,
            "order_ref": self.order_ref,
            "shipment_ref": self.shipment_ref,
            "warehouse": self.warehouse,
            "source": self.source,
            "status": self.status,
            "lines": [dict(line) for line in self.lines],
            "packages": [dict(package) for package in self.packages],
            "steps_sent": list(self.steps_sent),
        }


class WmsSandbox(Sandbox):
    """WMS / 3PL stand-in. ``api_key`` is required as ``Authorization: Bearer <key>``;
    ``drop_dir`` enables the CSV file-drop variant next to the REST API."""

    name = "wms"

    def __init__(
        self,
        *,
        api_key,
        callback_url=None,
        callback_secret=None,
        step_seconds=2.0,
        drop_dir=None,
        warehouse="WH",
        port=0,
        retry_base_seconds=1.0,
    ):
        if not api_key:
            raise ValueError("the WMS sandbox needs an api_key")
        self.api_key = api_key
        self.callback_url = callback_url
        self.callback_secret = callback_secret
        self.drop_dir = Path(drop_dir) if drop_dir else None
        self.warehouse = warehouse
        self.short = {}
        self.short_ratio = 0.0
        # Confirmations that differ from the order (see configure).
        self.over_ship = {}
        self.ship_sku = {}
        self.omit_skus = []
        self.extra_lines = []
        self.lots = {}
        self.count_units = "release"
        self.ship_after_cancel = False
        # How the goods are packed (see configure): one package per weight in kg (none set: one
        # package weighed from the units), each with these dimensions in cm when set.
        self.package_weights = None
        self.package_dimensions_cm = None
        # Steps whose callback this WMS never sends (e.g. "order.packed": shipped, never packed).
        self.skip_events = []
        # A WMS that keeps no Idempotency-Key for order releases (many don't): an order
        # reference it already has is refused with 409 ORDER_EXISTS, whatever the key.
        self.refuse_repeated_orders = False
        self._orders = {}
        self._stock = {}
        # Snapshot faults: items served as they are after the valid ones, or a whole answer
        # served instead of the snapshot (POST /_admin/stock/raw).
        self._raw_stock_items = []
        self._raw_stock_document = None
        self._stock_file_numbers = itertools.count(1)
        self._files = {"processed": [], "rejected": []}
        # Event ids carry a token of this run: Odoo drops a partner event id it has seen, and a
        # restarted sandbox must not repeat the ids of the previous run into the same database.
        self._run = uuid.uuid4().hex[:8]
        self._event_numbers = itertools.count(1)
        self._order_numbers = itertools.count(1)
        self._package_numbers = itertools.count(1)
        self._confirmation_numbers = None
        self._scan_lock = threading.Lock()
        self._poller = None
        super().__init__(
            port=port, step_seconds=step_seconds, retry_base_seconds=retry_base_seconds
        )

    def routes(self):
        return [
            route("POST", "/api/orders", self._release_order),
            route("POST", "/api/orders/(?P<ref>.+)/cancel", self._cancel_order),
            route("GET", "/api/orders/(?P<ref>.+)", self._get_order),
            route("GET", "/api/stock", self._stock_snapshot),
            route("GET", "/api/ping", self._ping),
            route("POST", "/_admin/stock", self._admin_set_stock, "admin"),
            route("POST", "/_admin/stock/raw", self._admin_set_raw_stock, "admin"),
            route("POST", "/_admin/stock/file", self._admin_write_stock_file, "admin"),
        ]

    # --- life cycle -------------------------------------------------------------------------------
    def start(self):
        super().start()
        if self.drop_dir is not None:
            for folder in ("outbound", "inbound"):
                (self.drop_dir / folder).mkdir(parents=True, exist_ok=True)
            self._confirmation_numbers = itertools.count(self._first_free_confirmation_number())
            self._poller = threading.Thread(
                target=self._poll_drop_dir, name="wms-drop-dir", daemon=True
            )
            self._poller.start()
        return self

    def stop(self):
        super().stop()
        if self._poller is not None:
            self._poller.join(timeout=2)
            self._poller = None

    # --- partner protocol -------------------------------------------------------------------------
    def authenticate(self, request):
        scheme, _, token = request.header("Authorization").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode("utf-8"), self.api_key.encode("utf-8")
        )

    def error_response(self, status, code, message, **extra):
        return json_response(status, {"error": code.lower(), "message": message, **extra})

    def _ping(self, request, match):
        """A harmless authenticated call (Odoo's Test Connection): reads and changes nothing."""
        return json_response(200, {"ok": True, "service": "wms"})

    def _release_order(self, request, match):
        document = request.json()
        problems = release_problems(document)
        if problems:
            raise RequestRejected(
                self.error_response(422, "validation", "invalid order release", details=problems)
            )
        known = self._orders.get(document["order_ref"])
        if known is not None and self.refuse_repeated_orders:
            raise RequestRejected(
                json_response(
                    409,
                    {
                        "error": {
                            "code": "ORDER_EXISTS",
                            "message": f"order {known.order_ref} already exists",
                            "order_ref": known.order_ref,
                            "id": known.id,
                        }
                    },
                )
            )
        if known is not None:
            raise RequestRejected(
                self.error_response(
                    409,
                    "duplicate_order",
                    f"order {known.order_ref} was already released",
                    id=known.id,
                )
            )
        order = self._release(document, source="api")
        return json_response(
            201, {"id": order.id, "order_ref": order.order_ref, "status": order.status}
        )

    def _call_idempotent(self, found, request, match):
        if self.refuse_repeated_orders and found.handler == self._release_order:
            return self._call(found, request, match)
        return super()._call_idempotent(found, request, match)

    def _order_or_404(self, order_ref):
        order = self._orders.get(unquote(order_ref))
        if order is None:
            raise RequestRejected(self.error_response(404, "not_found", f"no order {order_ref}"))
        return order

    def _get_order(self, request, match):
        return json_response(200, self._order_or_404(match["ref"]).summary())

    def _cancel_order(self, request, match):
        order = self._order_or_404(match["ref"])
        if order.status == "shipped":
            raise RequestRejected(
                self.error_response(409, "already_shipped", f"order {order.order_ref} has shipped")
            )
        if order.status != "cancelled":
            order.status = STATUS_AFTER[CANCELLED]
            self._notify(order, CANCELLED)
            if self.ship_after_cancel:
                # The cancel came too late for the dock: the parcel leaves anyway.
                for line in order.lines:
                    line["quantity_done"] = line["quantity_done"] or self._picked_quantity(line)
                order.status = STATUS_AFTER["order.shipped"]
                self._notify(order, "order.shipped")
        return json_response(
            200, {"id": order.id, "order_ref": order.order_ref, "status": order.status}
        )

    def _stock_snapshot(self, request, match):
        if self._raw_stock_document is not None:
            return json_response(200, self._raw_stock_document)
        return json_response(200, self._stock_document())

    def _stock_document(self):
        return {
            "warehouse": self.warehouse,
            "snapshot_at": wms_time(datetime.now(timezone.utc)),
            "items": [{"sku": sku, "quantity": qty} for sku, qty in sorted(self._stock.items())]
            + list(self._raw_stock_items),
        }

    # --- the order's life -------------------------------------------------------------------------
    def _release(self, document, source):
        order = _Order(
            id=f"wms-ord-{next(self._order_numbers)}",
            order_ref=document["order_ref"],
            shipment_ref=document.get("shipment_ref") or document["order_ref"],
            warehouse=document.get("warehouse") or self.warehouse,
            ship_to=document.get("ship_to") or {},
            lines=[
                {
                    "line_id": str(line.get("line_id") or number),
                    "sku": line["sku"],
                    "quantity_ordered": float(line["quantity"]),
                    "quantity_done": 0.0,
                    **{key: line[key] for key in UNIT_FIELDS if line.get(key) not in (None, "")},
                }
                for number, line in enumerate(document["lines"], start=1)
            ],
            source=source,
            clock=ObjectClock(),
        )
        self._orders[order.order_ref] = order
        if self.step_seconds > 0:
            self.timeline.call_later(
                self.step_seconds, self._auto_step, order.order_ref, self.generation
            )
        return order

    def _auto_step(self, order_ref, generation):
        with self.lock:
            order = self._orders.get(order_ref)
            if generation != self.generation or order is None or order.finished:
                return
            self._step(order)
            if not order.finished and self.step_seconds > 0:
                self.timeline.call_later(self.step_seconds, self._auto_step, order_ref, generation)

    def _step(self, order):
        """Walk the order to its next reported step: the steps in ``skip_events`` on the way
        happen (goods picked, packed) without their callback."""
        while True:
            event = STEPS[order.position]
            order.position += 1
            if event == "order.picked":
                for line in order.lines:
                    line["quantity_done"] = self._picked_quantity(line)
            elif event == "order.packed":
                order.packages = self._packages(order)
            elif event == "order.shipped":
                for line in order.lines:
                    if line["sku"] in self._stock:
                        left = self._stock[line["sku"]] - line["quantity_done"]
                        self._stock[line["sku"]] = max(0.0, left)
            if event not in self.skip_events:
                break
        order.status = STATUS_AFTER[event]
        self._notify(order, event)

    def _picked_quantity(self, line):
        """What the picker finds: the ordered quantity, less the configured shortage (a fixed
        quantity per SKU, else a ratio rounded up to whole units for whole quantities)."""
        ordered = line["quantity_ordered"]
        if line["sku"] in self.short:
            missing = self.short[line["sku"]]
        elif self.short_ratio > 0:
            missing = ordered * self.short_ratio
            if ordered.is_integer():
                missing = math.ceil(missing - 1e-9)
        else:
            missing = 0.0
        if line["sku"] in self.over_ship:
            return ordered + self.over_ship[line["sku"]]
        return float(min(ordered, max(0.0, ordered - missing)))

    def _packages(self, order):
        """The packages the goods go in: none when nothing was picked; one per weight of
        ``package_weights`` when set, else one weighed from the units; each with the
        ``package_dimensions_cm`` when set. Package ids are unique across orders."""
        units = sum(line["quantity_done"] for line in order.lines)
        if units <= 0:
            return []
        weights = self.package_weights or [round(units * KG_PER_UNIT + PACKAGING_KG, 3)]
        return [
            {
                "package_id": f"PKG-{next(self._package_numbers):05d}",
                "weight_kg": weight,
                **(self.package_dimensions_cm or {}),
            }
            for weight in weights
        ]

    def _notify(self, order, event):
        """Tell Odoo about one step: a signed callback, or a confirmation file for orders that
        came as files."""
        document = {
            "event_id": f"wms-evt-{self._run}-{next(self._event_numbers)}",
            "event": event,
            "order_ref": order.order_ref,
            "shipment_ref": order.shipment_ref,
            "occurred_at": wms_time(order.clock.next()),
            "lines": self._reported_lines(order, event),
        }
        if event in PACKAGE_EVENTS:
            document["packages"] = [dict(package) for package in order.packages]
        order.steps_sent.append(event)
        final = event in FINAL_EVENTS
        if order.source == "file":
            body = confirmation_csv(document).encode("utf-8")
            self.publish(order.order_ref, body, final, self._write_confirmation)
        else:
            self.publish(order.order_ref, json_bytes(document), final, self._send_callback)

    def _reported_lines(self, order, event):
        """The lines of a confirmation as this WMS reports them: the order's, with the
        differences the knobs ask for (``ship_sku``, ``omit_skus``, ``extra_lines``, ``lots``,
        ``count_units``) once goods are picked."""
        lines = []
        for line in order.lines:
            done = 0.0 if event in NOTHING_DONE_EVENTS else line["quantity_done"]
            reported = {
                "line_id": line["line_id"],
                "sku": self.ship_sku.get(line["sku"], line["sku"]),
                "quantity_ordered": line["quantity_ordered"],
                "quantity_done": done,
            }
            if event not in NOTHING_DONE_EVENTS:
                if line["sku"] in self.omit_skus:
                    continue
                reported.update(self._counted(line, done))
                if line["sku"] in self.lots and reported["quantity_done"]:
                    reported["lots"] = [
                        {"lot": self.lots[line["sku"]], "quantity": reported["quantity_done"]}
                    ]
            lines.append(reported)
        if event not in NOTHING_DONE_EVENTS:
            lines.extend(dict(line, quantity_ordered=0.0) for line in self.extra_lines)
        return lines

    def _counted(self, line, done):
        """Quantities in the unit this WMS counts in (``count_units``): the release's
        ("release", stated), or the product's base unit, stated ("base") or not
        ("base_unstated")."""
        if self.count_units == "release" or not line.get("quantity_base"):
            return {"uom": line["uom"]} if line.get("uom") else {}
        ratio = float(line["quantity_base"]) / line["quantity_ordered"]
        counted = {
            "quantity_ordered": line["quantity_ordered"] * ratio,
            "quantity_done": done * ratio,
        }
        if self.count_units == "base":
            counted["uom"] = line.get("base_uom")
        return counted

    def _send_callback(self, body, bad_signature):
        self.deliver_http(
            self.callback_url, body, lambda: self._signature_headers(body, bad_signature)
        )

    def _signature_headers(self, body, bad_signature):
        if not self.callback_secret:
            return {}
        secret = self.callback_secret + ("-not-the-secret" if bad_signature else "")
        return {SIGNATURE_HEADER: sign(body, secret, int(time.time()))}

    def advance(self, document):
        order = self._orders.get(document.get("order_ref"))
        if order is None:
            raise RequestRejected(admin_error(404, f"no order {document.get('order_ref')!r}"))
        if order.finished:
            raise RequestRejected(admin_error(409, f"order {order.order_ref} is {order.status}"))
        self._step(order)
        return {
            "id": order.id,
            "order_ref": order.order_ref,
            "status": order.status,
            "event": order.steps_sent[-1],
            "finished": order.finished,
        }

    # --- file drop --------------------------------------------------------------------------------
    def _poll_drop_dir(self):
        while not self.stopping.wait(POLL_SECONDS):
            try:
                self.scan_drop_dir()
            except Exception:
                # A dead poller would silently stop the file drop: log, and poll again.
                _logger.exception("wms sandbox: scanning %s failed", self.drop_dir)

    def scan_drop_dir(self):
        """Take every order file in outbound/ (the poller calls this every 0.5 s)."""
        outbound = self.drop_dir / "outbound"
        with self._scan_lock:
            for path in sorted(outbound.glob("*.csv")):
                if path.is_file() and not path.name.startswith("."):
                    self._import_order_file(path)

    def _import_order_file(self, path):
        try:
            text = path.read_text(encoding="utf-8")
            releases = order_file_releases(text, self.warehouse)
        except (UnicodeDecodeError, ValueError) as error:
            self._reject_file(path, str(error))
            return
        problems = [
            f"order {release['order_ref'] or '(no order_ref)'}: {p['field']} {p['message']}"
            for release in releases
            for p in release_problems(release)
        ]
        if problems:
            self._reject_file(path, "\n".join(problems))
            return
        with self.lock:
            released, duplicates = [], []
            for release in releases:
                if release["order_ref"] in self._orders:
                    # A release sent twice (a retried export): the first one stands.
                    duplicates.append(release["order_ref"])
                else:
                    released.append(self._release(release, source="file").order_ref)
            self._files["processed"].append(
                {"file": path.name, "released": released, "duplicates": duplicates}
            )
        _move_into(path, path.parent / "processed")

    def _reject_file(self, path, reason):
        target = _move_into(path, path.parent / "rejected")
        target.with_name(f"{target.name}.error.txt").write_text(
            f"{path.name} rejected: {reason}\n", encoding="utf-8"
        )
        with self.lock:
            self._files["rejected"].append({"file": path.name, "error": reason})

    def _write_confirmation(self, body, _bad_signature):
        """Write one confirmation file atomically (a .tmp renamed), so Odoo never reads half."""
        inbound = self.drop_dir / "inbound"
        inbound.mkdir(parents=True, exist_ok=True)
        while True:
            target = inbound / f"confirmations-{next(self._confirmation_numbers)}.csv"
            if not target.exists():
                break
        temporary = target.with_name(f"{target.name}.tmp")
        temporary.write_bytes(body)
        os.replace(temporary, target)
        self.log_file_delivery(target, body)

    def _first_free_confirmation_number(self):
        """After the highest number already in inbound/ (or moved below it once read): a file
        name is never reused, as Odoo takes a name it has imported for a duplicate."""
        numbers = [
            int(match.group(1))
            for path in (self.drop_dir / "inbound").rglob("confirmations-*")
            if (match := CONFIRMATION_NAME.match(path.name))
        ]
        return max(numbers, default=0) + 1

    # --- admin ------------------------------------------------------------------------------------
    def _admin_set_stock(self, request, match):
        document = request.json() or {}
        items = document.get("items") if isinstance(document, dict) else None
        if not isinstance(items, list):
            return admin_error(400, 'expected {"items": [{"sku": ..., "quantity": ...}]}')
        stock = {}
        for item in items:
            quantity = item.get("quantity") if isinstance(item, dict) else None
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("sku"), str)
                or isinstance(quantity, bool)
                or not isinstance(quantity, int | float)
                or quantity < 0
            ):
                return admin_error(400, f"a stock item needs a sku and a quantity >= 0: {item!r}")
            stock[item["sku"]] = float(quantity)
        self._stock = stock
        return json_response(200, self._stock_document())

    def _admin_set_raw_stock(self, request, match):
        """Snapshot faults, for tests of what Odoo does with a bad snapshot:
        ``{"items": [...]}`` adds these items, whatever they hold (``{"sku": "A", "quantity":
        [3]}``, ``{"quantity": 1}``, ``"x"`` ...), after the valid ones of every snapshot (REST
        and stock files); ``{"document": <any JSON>}`` makes GET /api/stock answer that instead
        of a snapshot (``{"document": null}`` stops it). A key left out is left as it is."""
        document = request.json()
        if not isinstance(document, dict) or not {"items", "document"} & set(document):
            return admin_error(400, 'expected {"items": [...]} and / or {"document": ...}')
        if "items" in document and not isinstance(document["items"], list):
            return admin_error(400, "items must be a list")
        with self.lock:
            if "items" in document:
                self._raw_stock_items = list(document["items"])
            if "document" in document:
                self._raw_stock_document = document["document"]
        return json_response(
            200, {"items": list(self._raw_stock_items), "document": self._raw_stock_document}
        )

    def _admin_write_stock_file(self, request, match):
        """File drop: write a stock file, ``inbound/stock-<run>-<n>.csv`` with the columns sku,
        quantity (the stock, then the raw items of /_admin/stock/raw, a cell holding its value's
        JSON unless it is text; null or missing is an empty cell), or exactly ``{"text": ...}``
        when given (a file that is no stock file)."""
        if self.drop_dir is None:
            return admin_error(409, "this WMS has no drop directory (--drop-dir)")
        document = request.json() or {}
        text = document.get("text") if isinstance(document, dict) else None
        if text is not None and not isinstance(text, str):
            return admin_error(400, "text must be a string")
        with self.lock:
            if text is None:
                text = stock_csv(self._stock_document()["items"])
            number = next(self._stock_file_numbers)
        # The run's token in the name: Odoo takes a file name it has imported for a duplicate.
        target = self.drop_dir / "inbound" / f"stock-{self._run}-{number}.csv"
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
        self.log_file_delivery(target, text.encode("utf-8"))
        return json_response(200, {"file": target.name, "path": str(target)})

    def configure(self, values):
        checked = {}
        for key, value in values.items():
            if key in ("callback_url", "callback_secret"):
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"{key} must be a string or null")
                if (
                    key == "callback_url"
                    and value
                    and not value.startswith(("http://", "https://"))
                ):
                    raise ValueError("callback_url must be an http(s) URL")
                checked[key] = value or None
            elif key == "step_seconds":
                checked[key] = _checked_number(key, value)
            elif key == "short":
                if not isinstance(value, dict):
                    raise ValueError("short must map a SKU to the quantity missing")
                checked[key] = {str(sku): _checked_number(key, qty) for sku, qty in value.items()}
                if any(qty < 0 for qty in checked[key].values()):
                    raise ValueError("a short quantity must not be negative")
            elif key == "refuse_repeated_orders":
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                checked[key] = value
            elif key == "short_ratio":
                checked[key] = _checked_number(key, value)
                if not 0 <= checked[key] <= 1:
                    raise ValueError("short_ratio must be between 0 and 1")
            elif key in DIFFERENCE_KNOBS:
                checked[key] = _checked_difference(key, value)
            elif key in PACKING_KNOBS:
                checked[key] = _checked_packing(key, value)
            else:
                raise ValueError(f"unknown setting {key!r}")
        for key, value in checked.items():
            setattr(self, key, value)

    def public_config(self):
        return {
            "callback_url": self.callback_url,
            "callback_secret_set": bool(self.callback_secret),
            "step_seconds": self.step_seconds,
            "short": dict(self.short),
            "short_ratio": self.short_ratio,
            **{key: getattr(self, key) for key in DIFFERENCE_KNOBS},
            "package_weights": self.package_weights and list(self.package_weights),
            "package_dimensions_cm": self.package_dimensions_cm
            and dict(self.package_dimensions_cm),
            "skip_events": list(self.skip_events),
            "refuse_repeated_orders": self.refuse_repeated_orders,
            "warehouse": self.warehouse,
            "drop_dir": str(self.drop_dir) if self.drop_dir else None,
        }

    def business_state(self):
        return {
            "orders": {ref: order.summary() for ref, order in self._orders.items()},
            "stock": dict(self._stock),
            "files": {kind: list(entries) for kind, entries in self._files.items()},
        }

    def reset_state(self):
        self._orders.clear()
        self._stock.clear()
        self._raw_stock_items = []
        self._raw_stock_document = None
        self._files = {"processed": [], "rejected": []}


# Knobs for confirmations that differ from the order: SKU -> extra quantity shipped, SKU ->
# the SKU reported instead, SKUs left out, lines added ({"line_id", "sku", "quantity_done"}),
# SKU -> the lot shipped, the unit quantities are counted in, and whether a cancelled order
# ships anyway.
DIFFERENCE_KNOBS = (
    "over_ship",
    "ship_sku",
    "omit_skus",
    "extra_lines",
    "lots",
    "count_units",
    "ship_after_cancel",
)


def _checked_difference(key, value):
    if key == "over_ship":
        if not isinstance(value, dict):
            raise ValueError("over_ship must map a SKU to the extra quantity shipped")
        return {str(sku): _checked_number(key, qty) for sku, qty in value.items()}
    if key in ("ship_sku", "lots"):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError(f"{key} must map a SKU to a string")
        return {str(sku): other for sku, other in value.items()}
    if key == "omit_skus":
        if not isinstance(value, list) or not all(isinstance(sku, str) for sku in value):
            raise ValueError("omit_skus must be a list of SKUs")
        return list(value)
    if key == "extra_lines":
        if not isinstance(value, list) or not all(
            isinstance(line, dict) and {"line_id", "sku", "quantity_done"} <= set(line)
            for line in value
        ):
            raise ValueError("extra_lines must be a list of {line_id, sku, quantity_done}")
        return [
            {
                "line_id": str(line["line_id"]),
                "sku": str(line["sku"]),
                "quantity_done": _checked_number(key, line["quantity_done"]),
            }
            for line in value
        ]
    if key == "count_units":
        if value not in COUNT_UNITS:
            raise ValueError(f"count_units must be one of {', '.join(COUNT_UNITS)}")
        return value
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


# Knobs for how an order is packed and reported: ``package_weights`` (a list of kg: one
# package per weight, e.g. [3.0, 4.5]; null or [] for one package weighed from the units),
# ``package_dimensions_cm`` ({"length_cm", "width_cm", "height_cm"} on every package; null for
# none) and ``skip_events`` (steps whose callback is never sent, among order.acknowledged,
# order.picked and order.packed: ["order.packed"] ships without a packed callback).
PACKING_KNOBS = ("package_weights", "package_dimensions_cm", "skip_events")


def _checked_packing(key, value):
    if key == "package_weights":
        if value is None or value == []:
            return None
        if not isinstance(value, list):
            raise ValueError("package_weights must be a list of weights in kg (or null)")
        weights = [_checked_number(key, weight) for weight in value]
        if any(weight <= 0 for weight in weights):
            raise ValueError("a package weight must be greater than 0 kg")
        return weights
    if key == "package_dimensions_cm":
        if value is None:
            return None
        if not isinstance(value, dict) or set(value) != set(DIMENSIONS):
            raise ValueError(f"package_dimensions_cm needs exactly {', '.join(DIMENSIONS)}")
        dimensions = {name: _checked_number(key, value[name]) for name in DIMENSIONS}
        if any(size <= 0 for size in dimensions.values()):
            raise ValueError("a package dimension must be greater than 0 cm")
        return dimensions
    if not isinstance(value, list) or not set(value) <= SKIPPABLE_EVENTS:
        raise ValueError(f"skip_events must be a list among {', '.join(sorted(SKIPPABLE_EVENTS))}")
    return list(value)


def _checked_number(key, value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    return float(value)


def _move_into(path, folder):
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    os.replace(path, target)
    return target


# --- command line ---------------------------------------------------------------------------------
def main(argv=None):
    parser = command_line_parser("wms", "A WMS / 3PL sandbox on 127.0.0.1.", DEFAULT_PORT)
    parser.add_argument(
        "--api-key", default="sandbox-wms-key", help="the Bearer token clients must send"
    )
    parser.add_argument("--callback-url", help="where the order callbacks are POSTed")
    parser.add_argument("--callback-secret", help="the secret of the X-Logistics-Signature header")
    parser.add_argument(
        "--drop-dir", help="enable the CSV file drop: <dir>/outbound in, <dir>/inbound out"
    )
    parser.add_argument("--warehouse", default="WH", help="the warehouse code of stock snapshots")
    args = parser.parse_args(argv)
    sandbox = WmsSandbox(
        api_key=args.api_key,
        callback_url=args.callback_url,
        callback_secret=args.callback_secret,
        step_seconds=args.step_seconds,
        drop_dir=args.drop_dir,
        warehouse=args.warehouse,
        port=args.port,
        retry_base_seconds=args.retry_base_seconds,
    )
    return serve_until_signalled(sandbox, args.faults, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
