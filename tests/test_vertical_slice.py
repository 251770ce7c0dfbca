"""End to end, the first vertical slice: a sale order confirmed over JSON-RPC is released to the
WMS sandbox, acknowledged, picked, packed and shipped by it; the carrier sandbox sells a label
and walks the parcel to the customer's door through signed EasyPost webhooks. Everything runs
as in a deployment: a real Odoo server with its job runner, real HTTP both ways."""

import base64
import json
import os
import time
import urllib.request

import pytest
from odoo_server import OdooServer
from sandboxes.carrier import CarrierSandbox
from sandboxes.wms import WmsSandbox

WMS_SECRET = "sandbox-wms-secret"
CARRIER_SECRET = "sandbox-carrier-secret"
MILESTONES = [
    "order_released",
    "wms_acknowledged",
    "picked",
    "packed",
    "label_created",
    "tracking_published",
    "shipped",
    "in_transit",
    "out_for_delivery",
    "delivered",
]


def admin(sandbox, path, body=None):
    request = urllib.request.Request(
        f"{sandbox.url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """Odoo (2 workers + job runner) and both sandboxes, wired to each other like setup/run
    does, on free ports."""
    log = tmp_path_factory.mktemp("slice") / "odoo.log"
    server = OdooServer(os.environ["LOGISTICS_E2E_DB"], log).start()
    wms = WmsSandbox(api_key="sandbox-wms-key", step_seconds=0.3).start()
    carrier = CarrierSandbox(api_key="sandbox-carrier-key", step_seconds=0.3).start()
    try:
        backends = {
            code: server.call("logistics.backend", "search", [("code", "=", code)])
            for code in ("sandbox_wms", "sandbox_carrier", "sandbox_carrier_alt", "sandbox_channel")
        }
        # A new base URL clears the stored API key: it is given again in the same write.
        server.call(
            "logistics.backend",
            "write",
            backends["sandbox_wms"],
            {"base_url": wms.url, "api_key": "sandbox-wms-key"},
        )
        server.call(
            "logistics.backend",
            "write",
            backends["sandbox_carrier"] + backends["sandbox_carrier_alt"],
            {
                "base_url": carrier.url,
                "api_key": "sandbox-carrier-key",
                "backoff_base": 0.5,
                "max_attempts": 10,
            },
        )
        # The sales channel has no sandbox here: it waits, paused, without blocking anything.
        server.call("logistics.backend", "action_pause", backends["sandbox_channel"])
        admin(
            wms,
            "/_admin/config",
            {
                "callback_url": f"{server.url}/logistics/webhook/sandbox_wms",
                "callback_secret": WMS_SECRET,
            },
        )
        admin(
            carrier,
            "/_admin/config",
            {
                "webhook_url": f"{server.url}/logistics/webhook/sandbox_carrier",
                "webhook_secret": CARRIER_SECRET,
            },
        )
        yield server, wms, carrier
    finally:
        carrier.stop()
        wms.stop()
        server.stop()


def place_order(server, name, quantity=3, stock=100):
    """A customer, a stocked product with a SKU, and a confirmed sale order (JSON-RPC)."""
    sale = draft_order(server, name, quantity, stock)
    server.call("sale.order", "action_confirm", [sale])
    return sale


def draft_order(server, name, quantity=3, stock=100):
    """A customer, a stocked product with a SKU (SKU-<name>), and a sale order, not confirmed
    yet (JSON-RPC)."""
    customer = server.call(
        "res.partner",
        "create",
        {
            "name": f"Customer {name}",
            "email": f"{name.lower()}@example.com",
            "street": "179 N Harbor Dr",
            "city": "Redondo Beach",
            "zip": "90277",
            "country_id": server.call("res.country", "search", [("code", "=", "US")])[0],
        },
    )
    product = server.call(
        "product.product",
        "create",
        {
            "name": f"Widget {name}",
            "is_storable": True,
            "default_code": f"SKU-{name}",
            "weight": 0.8,
        },
    )
    warehouse = server.call(
        "stock.warehouse", "search_read", [("code", "=", "WH")], ["lot_stock_id"]
    )
    quant = server.call(
        "stock.quant",
        "create",
        {
            "product_id": product,
            "location_id": warehouse[0]["lot_stock_id"][0],
            "inventory_quantity": stock,
        },
    )
    server.call("stock.quant", "action_apply_inventory", [quant])
    return server.call(
        "sale.order",
        "create",
        {
            "partner_id": customer,
            "order_line": [(0, 0, {"product_id": product, "product_uom_qty": quantity})],
        },
    )


def shipment_of(server, sale, direction="outgoing"):
    rows = server.call(
        "logistics.shipment",
        "search_read",
        [("sale_id", "=", sale), ("direction", "=", direction)],
        [
            "name",
            "status_code",
            "tracking_number",
            "label_attachment_id",
            "delivered_at",
            "pod_signed_by",
            "picking_id",
            "customer_notified",
        ],
        order="id",
    )
    return rows


def wait_for(predicate, timeout=180, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def delivered(server, sale):
    def check():
        rows = shipment_of(server, sale)
        return rows if rows and rows[0]["status_code"] == "delivered" else None

    return check


def assert_delivered_shipment(server, carrier, shipment, missing_milestones=()):
    names = {
        row["id"]: row["code"]
        for row in server.call("logistics.event.type", "search_read", [], ["code"])
    }
    expected = set(MILESTONES) - set(missing_milestones)

    def recorded():
        # A carrier's first scan may come while its label purchase is not committed yet: it
        # waits as an unmatched event and is applied a few seconds after the purchase
        # (``logistics.exception._retry_unmatched``), possibly after the delivery itself.
        events = server.call(
            "logistics.event",
            "search_read",
            [("shipment_id", "=", shipment["id"])],
            ["type_id"],
            load=None,
        )
        codes = {names[event["type_id"]] for event in events}
        return codes if expected <= codes else None

    wait_for(recorded, timeout=90, what=f"the milestones {sorted(expected)}")
    assert shipment["tracking_number"]
    assert shipment["pod_signed_by"]
    # The label: a real PDF attached to the transfer.
    attachment = server.call(
        "ir.attachment", "read", [shipment["label_attachment_id"][0]], ["datas", "res_model"]
    )[0]
    assert base64.b64decode(attachment["datas"]).startswith(b"%PDF")
    assert attachment["res_model"] == "stock.picking"
    picking = server.call(
        "stock.picking", "read", [shipment["picking_id"][0]], ["state", "carrier_tracking_ref"]
    )[0]
    assert picking["state"] == "done"
    assert picking["carrier_tracking_ref"] == shipment["tracking_number"]
    assert_one_label_per_package(server, carrier, shipment)


def assert_one_label_per_package(server, carrier, shipment):
    """Exactly one label bought for each package (the carrier's ledger, by the reference
    ``<shipment>/<package>`` each EasyPost shipment carries), none refunded, and the transfer's
    tracking reference joins the packages' tracking numbers."""
    packages = server.call(
        "logistics.package",
        "search_read",
        [("shipment_id", "=", shipment["id"])],
        ["name", "tracking_number", "status_code"],
        order="sequence, id",
    )
    assert packages
    ledger = {
        reference: counts
        for reference, counts in admin(carrier, "/_admin/state")["references"].items()
        if reference.startswith(f"{shipment['name']}/")
    }
    assert ledger == {
        f"{shipment['name']}/{package['name']}": {"purchases": 1, "refunds": 0, "refunded": 0}
        for package in packages
    }, ledger
    assert shipment["tracking_number"] == ",".join(p["tracking_number"] for p in packages)
    return packages


def emails(server, shipment):
    return [
        mail["subject"]
        for mail in server.call(
            "mail.mail",
            "search_read",
            [("model", "=", "logistics.shipment"), ("res_id", "=", shipment["id"])],
            ["subject", "email_to", "body_html"],
        )
    ]


def test_order_to_delivery(suite):
    server, _wms, carrier = suite
    sale = place_order(server, "HAPPY")
    shipment = wait_for(delivered(server, sale), what="delivery")[0]
    assert_delivered_shipment(server, carrier, shipment)
    subjects = emails(server, shipment)
    assert any("has shipped" in s for s in subjects), subjects
    assert any("was delivered" in s for s in subjects), subjects
    body = server.call(
        "mail.mail",
        "search_read",
        [("model", "=", "logistics.shipment"), ("res_id", "=", shipment["id"])],
        ["body_html", "subject"],
    )
    shipped_mail = next(m for m in body if "has shipped" in m["subject"])
    assert shipment["tracking_number"] in shipped_mail["body_html"]


def test_two_packages_get_two_labels_and_two_trackers(suite):
    """The WMS packs two parcels (3.0 kg and 4.5 kg): each gets its own EasyPost shipment,
    label, tracking number and tracker; the shipment is delivered when both are, and the
    customer gets one delivered email."""
    server, wms, carrier = suite
    admin(wms, "/_admin/config", {"package_weights": [3.0, 4.5]})
    try:
        sale = place_order(server, "TWO-PACKAGES")
        shipment = wait_for(delivered(server, sale), what="delivery")[0]
    finally:
        admin(wms, "/_admin/config", {"package_weights": None})
    assert_delivered_shipment(server, carrier, shipment)
    packages = server.call(
        "logistics.package",
        "search_read",
        [("shipment_id", "=", shipment["id"])],
        ["weight", "weight_unit", "tracking_number", "status_code", "source"],
        order="sequence, id",
    )
    assert [(p["weight"], p["weight_unit"], p["source"]) for p in packages] == [
        (3.0, "kg", "wms"),
        (4.5, "kg", "wms"),
    ]
    assert [p["status_code"] for p in packages] == ["delivered", "delivered"]
    numbers = [p["tracking_number"] for p in packages]
    assert len(set(numbers)) == 2
    trackers = admin(carrier, "/_admin/state")["trackers"].values()
    assert sorted(t["tracking_code"] for t in trackers if t["tracking_code"] in numbers) == sorted(
        numbers
    )
    subjects = emails(server, shipment)
    assert sum("was delivered" in s for s in subjects) == 1, subjects


def test_shipped_without_packed_gets_its_label_then(suite):
    """A WMS that never sends its packed confirmation: the label is bought when it reports the
    parcel shipped, once, and the parcel is tracked to the door."""
    server, wms, carrier = suite
    admin(wms, "/_admin/config", {"skip_events": ["order.packed"]})
    try:
        sale = place_order(server, "NO-PACKED")
        shipment = wait_for(delivered(server, sale), what="delivery")[0]
    finally:
        admin(wms, "/_admin/config", {"skip_events": []})
    assert_delivered_shipment(server, carrier, shipment, missing_milestones=["packed"])


def test_partial_shipment(suite):
    server, wms, carrier = suite
    admin(wms, "/_admin/config", {"short": {"SKU-PARTIAL": 1}})
    try:
        sale = place_order(server, "PARTIAL", quantity=3)
        shipment = wait_for(delivered(server, sale), what="delivery")[0]
    finally:
        admin(wms, "/_admin/config", {"short": {}})
    assert_delivered_shipment(server, carrier, shipment)
    exceptions = server.call(
        "logistics.exception",
        "search_read",
        [("shipment_id", "=", shipment["id"])],
        ["type_code", "description"],
    )
    assert [e["type_code"] for e in exceptions] == ["partial_shipment_mismatch"]
    assert "ordered 3 Units, shipped 2" in exceptions[0]["description"]
    picking = server.call("stock.picking", "read", [shipment["picking_id"][0]], ["backorder_ids"])[
        0
    ]
    assert len(picking["backorder_ids"]) == 1
    backorder = server.call(
        "stock.picking", "read", picking["backorder_ids"], ["move_ids", "logistics_shipment_ids"]
    )[0]
    assert backorder["logistics_shipment_ids"], "the backorder has its own shipment"
    moves = server.call("stock.move", "read", backorder["move_ids"], ["product_uom_qty"])
    assert [m["product_uom_qty"] for m in moves] == [1.0]


def test_carrier_faults_duplicates_and_reordering_reach_the_same_state(suite):
    server, _wms, carrier = suite
    admin(
        carrier,
        "/_admin/faults",
        {
            "error_rate": 0.15,
            "error_after_rate": 0.15,
            "duplicate_rate": 0.5,
            "out_of_order": True,
            "seed": 7,
        },
    )
    try:
        sales = [place_order(server, f"FAULT{n}") for n in range(3)]
        shipments = [wait_for(delivered(server, sale), what="delivery")[0] for sale in sales]
    finally:
        admin(
            carrier,
            "/_admin/faults",
            {"error_rate": 0, "error_after_rate": 0, "duplicate_rate": 0, "out_of_order": False},
        )
    for shipment in shipments:
        assert_delivered_shipment(server, carrier, shipment)
    # The partner really failed: some label calls were retried with the same key.
    attempts = server.call(
        "logistics.message",
        "search_read",
        [
            ("shipment_id", "in", [s["id"] for s in shipments]),
            ("backend_id.code", "=", "sandbox_carrier"),
        ],
        ["operation", "attempts", "state"],
    )
    assert all(m["state"] == "done" for m in attempts), attempts
    assert any(m["attempts"] > 1 for m in attempts), attempts


def test_a_rotated_carrier_key_is_one_card_that_closes_once_the_calls_go_through(suite):
    """Issue 13's "done when": the carrier refuses our credentials (its key was rotated), then
    the backend gets the new key. One card counts the refusal; the calls wait instead of dying;
    the new key lets them go, and the card closes itself."""
    server, _wms, carrier = suite
    backend = server.call("logistics.backend", "search", [("code", "=", "sandbox_carrier")])
    admin(carrier, "/_admin/config", {"api_key": "rotated-key"})
    try:
        sales = [place_order(server, f"KEY{n}") for n in range(3)]

        def card():
            return server.call(
                "logistics.exception",
                "search_read",
                [
                    ("backend_id", "in", backend),
                    ("type_code", "=", "partner_unavailable"),
                    ("is_closed", "=", False),
                ],
                ["name", "occurrence_count", "affected_shipment_count", "shipment_id"],
            )

        cards = wait_for(card, what="the credentials card")
        assert len(cards) == 1 and "refuses our credentials" in cards[0]["name"], cards
        health = server.call("logistics.backend", "read", backend, ["health", "last_error"])[0]
        assert health["health"] == "credentials_refused", health
        assert "401" in health["last_error"], health

        def carrier_calls():
            shipments = [rows[0] for rows in (shipment_of(server, sale) for sale in sales) if rows]
            calls = server.call(
                "logistics.message",
                "search_read",
                [
                    ("shipment_id", "in", [s["id"] for s in shipments]),
                    ("backend_id", "in", backend),
                ],
                ["shipment_id", "state", "attempts"],
            )
            return calls if len({c["shipment_id"][0] for c in calls}) == len(sales) else None

        calls = wait_for(carrier_calls, what="a label purchase for each of the three orders")
        # Each waits (queued, or retrying after the refused call): none dies, none went through.
        assert {c["state"] for c in calls} <= {"queued", "retrying"}, calls
        assert len(card()) == 1, "one card, however many calls wait"
    finally:
        # The backend gets the new key: the waiting calls go, the first probes the key.
        server.call("logistics.backend", "write", backend, {"api_key": "rotated-key"})
    shipments = [wait_for(delivered(server, sale), what="delivery")[0] for sale in sales]
    for shipment in shipments:
        assert_delivered_shipment(server, carrier, shipment)
    closed = server.call(
        "logistics.exception",
        "search_read",
        [("backend_id", "in", backend), ("type_code", "=", "partner_unavailable")],
        ["is_closed", "auto_resolved", "resolved_by_id"],
    )
    assert closed and all(c["is_closed"] and c["auto_resolved"] for c in closed), closed
    # Each shipment's timeline tells it: the refused attempt, the recovery, the card.
    refused = []
    for shipment in shipments:
        timeline = server.call("logistics.shipment", "get_timeline", shipment["name"])
        calls = [
            e
            for e in timeline["entries"]
            if e["kind"] == "message" and e["backend"]["id"] in backend
        ]
        assert calls and all(c["state"] == "done" for c in calls), calls
        statuses = [a["http_status"] for c in calls for a in c["attempts"]]
        if 401 in statuses:
            refused.append(shipment["name"])
            assert statuses[statuses.index(401) + 1] in (200, 201), statuses
            card = [e["action"] for e in timeline["entries"] if e["kind"] == "exception"]
            assert {"resolved"} < set(card), card
    assert refused, "the first label call was refused"
    # Later tests of this module use the original key again.
    admin(carrier, "/_admin/config", {"api_key": "sandbox-carrier-key"})
    server.call("logistics.backend", "write", backend, {"api_key": "sandbox-carrier-key"})
