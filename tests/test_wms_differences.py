"""End to end, WMS confirmations that differ from the order (issue 12, items 1 to 5): a real Odoo
server with its job runner releases orders to the WMS sandbox, which confirms them through
signed callbacks with the differences its knobs ask for. Each test asserts the transfer's done
quantities, lots and units, the shipment's status, and the exception raised, with its text
naming the difference."""

import os
import time

import pytest
from odoo_server import OdooServer
from sandboxes.wms import WmsSandbox
from test_vertical_slice import admin, wait_for

WMS_KEY = "sandbox-wms-key"
WMS_SECRET = "sandbox-wms-secret"
STEPS = ("order.acknowledged", "order.picked", "order.packed", "order.shipped")
DEFAULT_KNOBS = {
    "over_ship": {},
    "ship_sku": {},
    "omit_skus": [],
    "extra_lines": [],
    "lots": {},
    "count_units": "release",
    "ship_after_cancel": False,
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """Odoo (workers + job runner) and the WMS sandbox, stepped by hand."""
    log = tmp_path_factory.mktemp("wms-differences") / "odoo.log"
    server = OdooServer(os.environ["LOGISTICS_E2E_DB"], log).start()
    wms = WmsSandbox(api_key=WMS_KEY, step_seconds=0).start()
    try:
        wms_backend = server.call("logistics.backend", "search", [("code", "=", "sandbox_wms")])
        server.call(
            "logistics.backend",
            "write",
            wms_backend,
            {"base_url": wms.url, "api_key": WMS_KEY, "backoff_base": 0.5},
        )
        # No carrier or sales channel here: their calls wait, paused, without failing.
        others = server.call(
            "logistics.backend", "search", [("code", "in", ["sandbox_carrier", "sandbox_channel"])]
        )
        server.call("logistics.backend", "action_pause", others)
        admin(
            wms,
            "/_admin/config",
            {
                "callback_url": f"{server.url}/logistics/webhook/sandbox_wms",
                "callback_secret": WMS_SECRET,
            },
        )
        yield server, wms
    finally:
        wms.stop()
        server.stop()


@pytest.fixture
def knobs(suite):
    """Set the WMS's difference knobs for one test; back to an honest WMS after it."""
    _server, wms = suite
    yield lambda **values: admin(wms, "/_admin/config", values)
    admin(wms, "/_admin/config", DEFAULT_KNOBS)


def product(server, name, tracking="none", stock=100, lots=(), unit="Units"):
    """A storable product with SKU SKU-<name>, stocked in ``unit``, in stock in WH (in lots
    when tracked)."""
    product_id = server.call(
        "product.product",
        "create",
        {
            "name": f"Widget {name}",
            "is_storable": True,
            "default_code": f"SKU-{name}",
            "tracking": tracking,
            "uom_id": unit_id(server, unit),
        },
    )
    location = server.call(
        "stock.warehouse", "search_read", [("code", "=", "WH")], ["lot_stock_id"]
    )[0]["lot_stock_id"][0]
    for lot_name, quantity in lots or [(None, stock)]:
        lot = (
            server.call("stock.lot", "create", {"name": lot_name, "product_id": product_id})
            if lot_name
            else False
        )
        quant = server.call(
            "stock.quant",
            "create",
            {
                "product_id": product_id,
                "location_id": location,
                "lot_id": lot,
                "inventory_quantity": quantity,
            },
        )
        server.call("stock.quant", "action_apply_inventory", [quant])
    return product_id


def unit_id(server, name):
    """The unit's id, made active (Odoo 19 archives Dozens until someone uses it)."""
    (unit,) = server.call(
        "uom.uom", "search", [("name", "=", name)], limit=1, context={"active_test": False}
    )
    server.call("uom.uom", "write", [unit], {"active": True})
    return unit


def order(server, wms, product_id, quantity=3):
    """A confirmed sale order of ``quantity`` of the product (in its unit); returns (sale,
    picking) once the WMS holds its release."""
    customer = server.call("res.partner", "create", {"name": "WMS Differences Customer"})
    line = {"product_id": product_id, "product_uom_qty": quantity}
    sale = server.call(
        "sale.order", "create", {"partner_id": customer, "order_line": [(0, 0, line)]}
    )
    server.call("sale.order", "action_confirm", [sale])
    picking = server.call(
        "stock.picking", "search_read", [("sale_id", "=", sale)], ["name"], order="id"
    )[0]
    wait_for(
        lambda: picking["name"] in admin(wms, "/_admin/state")["orders"],
        what=f"the release of {picking['name']}",
    )
    return sale, picking


def advance(wms, picking, steps=STEPS):
    for _step in steps:
        admin(wms, "/_admin/advance", {"order_ref": picking["name"]})


def shipment(server, picking):
    return server.call(
        "logistics.shipment",
        "search_read",
        [("picking_id", "=", picking["id"])],
        ["name", "status_code", "wms_release_message_id"],
    )[0]


def exceptions(server, picking, type_code):
    return server.call(
        "logistics.exception",
        "search_read",
        [("shipment_id.picking_id", "=", picking["id"]), ("type_code", "=", type_code)],
        ["name", "description", "message_id", "stage_id", "id"],
    )


def wait_for_exception(server, picking, type_code):
    wait_for(lambda: exceptions(server, picking, type_code), what=f"a {type_code} exception")
    return exceptions(server, picking, type_code)


def moves(server, picking_id):
    return server.call(
        "stock.move",
        "search_read",
        [("picking_id", "=", picking_id)],
        ["product_id", "product_uom_qty", "quantity", "state", "product_uom"],
    )


def move_lines(server, picking_id):
    return server.call(
        "stock.move.line",
        "search_read",
        [("picking_id", "=", picking_id)],
        ["lot_id", "quantity", "product_uom_id"],
    )


def picking_state(server, picking):
    return server.call("stock.picking", "read", [picking["id"]], ["state"])[0]["state"]


def assert_not_applied(server, picking, *names):
    """The confirmation died with a wms_confirmation_unapplied exception naming ``names``;
    the transfer kept its reservation and the shipment's status didn't move to shipped."""
    (exception,) = wait_for_exception(server, picking, "wms_confirmation_unapplied")
    for name in names:
        assert name in exception["description"], exception["description"]
    message = server.call(
        "logistics.message", "read", [exception["message_id"][0]], ["state", "error"]
    )[0]
    assert message["state"] == "dead"
    assert picking_state(server, picking) == "assigned"
    assert [move["quantity"] for move in moves(server, picking["id"])] == [
        move["product_uom_qty"] for move in moves(server, picking["id"])
    ]
    assert shipment(server, picking)["status_code"] == "packed"
    return exception


def test_over_shipment_is_recorded_and_named(suite, knobs):
    server, wms = suite
    product_id = product(server, "OVER")
    knobs(over_ship={"SKU-OVER": 2})
    sale, picking = order(server, wms, product_id, quantity=3)
    advance(wms, picking)
    (exception,) = wait_for_exception(server, picking, "wms_confirmation_difference")
    assert "ordered 3 Units, shipped 5 (2 more)" in exception["description"]
    assert picking_state(server, picking) == "done"
    assert sum(line["quantity"] for line in move_lines(server, picking["id"])) == 5
    delivered = server.call(
        "sale.order.line", "search_read", [("order_id", "=", sale)], ["qty_delivered"]
    )
    assert [line["qty_delivered"] for line in delivered] == [5]
    assert shipment(server, picking)["status_code"] == "shipped"


def test_another_products_sku_on_a_line_is_not_applied(suite, knobs):
    server, wms = suite
    product_id = product(server, "RIGHT")
    product(server, "WRONG")
    knobs(ship_sku={"SKU-RIGHT": "SKU-WRONG"})
    _sale, picking = order(server, wms, product_id)
    advance(wms, picking)
    assert_not_applied(
        server, picking, "the WMS reports SKU SKU-WRONG on the line of", "(SKU SKU-RIGHT)"
    )


def test_once_odoo_knows_the_sku_the_replayed_confirmation_is_applied(suite, knobs):
    """The WMS knows the product by a new internal reference Odoo doesn't have yet: not
    applied; once the product has it, a Manager's replay applies the confirmation and closes
    the exception."""
    server, wms = suite
    product_id = product(server, "RENAMED")
    knobs(ship_sku={"SKU-RENAMED": "SKU-RENAMED-V2"})
    _sale, picking = order(server, wms, product_id)
    advance(wms, picking)
    exception = assert_not_applied(server, picking, "the WMS reports SKU SKU-RENAMED-V2")
    server.call("product.product", "write", [product_id], {"default_code": "SKU-RENAMED-V2"})
    server.call(
        "logistics.message", "replay", [exception["message_id"][0]], "internal reference fixed"
    )
    wait_for(lambda: picking_state(server, picking) == "done", what="the replay applied")
    closed = server.call(
        "logistics.exception", "read", [exception["id"]], ["is_closed", "auto_resolved"]
    )[0]
    assert (closed["is_closed"], closed["auto_resolved"]) == (True, True)
    assert shipment(server, picking)["status_code"] == "shipped"


def test_an_unknown_line_and_sku_keeps_the_reservation(suite, knobs):
    """The confirmation's only line is one the order doesn't have, for a SKU no product has:
    the move is not set to 0 (its reservation stays), and the exception names the SKU."""
    server, wms = suite
    product_id = product(server, "KNOWN")
    knobs(
        omit_skus=["SKU-KNOWN"],
        extra_lines=[{"line_id": "999999", "sku": "SKU-NOBODY", "quantity_done": 3}],
    )
    _sale, picking = order(server, wms, product_id)
    advance(wms, picking)
    assert_not_applied(
        server,
        picking,
        "line 999999 (SKU SKU-NOBODY): the order has no such line, and no product has the SKU "
        "SKU-NOBODY",
    )


def test_the_wms_lot_is_applied_and_the_substitution_named(suite, knobs):
    server, wms = suite
    product_id = product(server, "LOTS", tracking="lot", lots=[("LOT-A", 5), ("LOT-B", 5)])
    knobs(lots={"SKU-LOTS": "LOT-B"})
    _sale, picking = order(server, wms, product_id, quantity=2)
    lines = move_lines(server, picking["id"])
    assert [line["lot_id"][1] for line in lines] == ["LOT-A"]  # Odoo reserved A (FIFO)
    advance(wms, picking)
    (exception,) = wait_for_exception(server, picking, "wms_confirmation_difference")
    assert "lot(s) LOT-B shipped, LOT-A reserved" in exception["description"]
    assert picking_state(server, picking) == "done"
    lines = move_lines(server, picking["id"])
    assert [(line["lot_id"][1], line["quantity"]) for line in lines] == [("LOT-B", 2)]


def test_a_new_lot_follows_odoos_rules_and_a_missing_lot_is_not_applied(suite, knobs):
    server, wms = suite
    product_id = product(server, "NEWLOT", tracking="lot", lots=[("LOT-N1", 10)])
    # The WH delivery type creates lots: a lot new to Odoo is created, and named.
    knobs(lots={"SKU-NEWLOT": "LOT-NEW-1"})
    _sale, picking = order(server, wms, product_id, quantity=2)
    advance(wms, picking)
    (exception,) = wait_for_exception(server, picking, "wms_confirmation_difference")
    assert "lot(s) LOT-NEW-1 shipped, LOT-N1 reserved" in exception["description"]
    assert [line["lot_id"][1] for line in move_lines(server, picking["id"])] == ["LOT-NEW-1"]
    # Where the operation type doesn't create lots, an unknown one can't be applied.
    delivery = server.call("stock.picking", "read", [picking["id"]], ["picking_type_id"])[0][
        "picking_type_id"
    ][0]
    server.call("stock.picking.type", "write", [delivery], {"use_create_lots": False})
    try:
        knobs(lots={"SKU-NEWLOT": "LOT-FROM-NOWHERE"})
        _sale, other = order(server, wms, product_id, quantity=2)
        advance(wms, other)
        assert_not_applied(
            server, other, "lot(s) LOT-FROM-NOWHERE unknown to Odoo", "doesn't create lots"
        )
    finally:
        server.call("stock.picking.type", "write", [delivery], {"use_create_lots": True})
    # Without a lot at all: the same, on that one message (the WMS's flow goes on).
    knobs(lots={})
    _sale, third = order(server, wms, product_id, quantity=1)
    advance(wms, third)
    assert_not_applied(server, third, "tracked by lot or serial number, shipped without one")


def test_units_releases_carry_them_and_confirmations_are_read_in_theirs(suite, knobs):
    """A product stocked in Dozens, a WMS that counts pieces."""
    server, wms = suite
    product_id = product(server, "DOZ", stock=20, unit="Dozens")
    # The WMS counts Units and says so: 24 Units are the 2 Dozens ordered.
    knobs(count_units="base")
    _sale, picking = order(server, wms, product_id, quantity=2)
    release = admin(wms, "/_admin/state")["orders"][picking["name"]]["lines"][0]
    assert (release["uom"], release["quantity_base"], release["base_uom"]) == (
        "Dozens",
        24,
        "Units",
    )
    advance(wms, picking)
    wait_for(lambda: picking_state(server, picking) == "done", what="the dozens delivered")
    (move,) = moves(server, picking["id"])
    assert (move["quantity"], move["product_uom"][1]) == (2, "Dozens")
    assert not exceptions(server, picking, "wms_confirmation_difference")
    # The same count without the unit can't be reconciled: 24 Dozens is not what happened.
    knobs(count_units="base_unstated")
    _sale, other = order(server, wms, product_id, quantity=2)
    advance(wms, other)
    assert_not_applied(
        server, other, "24 shipped for 2 Dozens ordered, without a unit", "It must state the unit"
    )


def test_shipped_after_the_wms_accepted_the_cancel(suite, knobs):
    server, wms = suite
    product_id = product(server, "LATE")
    knobs(ship_after_cancel=True)
    sale, picking = order(server, wms, product_id)
    advance(wms, picking, steps=STEPS[:1])
    server.call("sale.order", "action_cancel", [sale])
    (exception,) = wait_for_exception(server, picking, "shipped_after_cancel")
    assert f"The WMS reported {picking['name']} shipped" in exception["description"]
    assert "after the order was cancelled in Odoo" in exception["description"]
    assert picking_state(server, picking) == "cancel"
    events = server.call(
        "logistics.event",
        "search_read",
        [("shipment_id.picking_id", "=", picking["id"]), ("backend_id.code", "=", "sandbox_wms")],
        ["type_id"],
    )
    assert "Shipped" in [event["type_id"][1] for event in events]


def test_a_cancel_the_wms_refuses_because_it_shipped(suite, knobs):
    server, wms = suite
    product_id = product(server, "GONE")
    sale, picking = order(server, wms, product_id)
    # The warehouse ships; its callbacks don't reach Odoo before the cancel.
    admin(wms, "/_admin/config", {"callback_url": None})
    try:
        advance(wms, picking)
    finally:
        admin(
            wms,
            "/_admin/config",
            {"callback_url": f"{server.url}/logistics/webhook/sandbox_wms"},
        )
    server.call("sale.order", "action_cancel", [sale])
    (exception,) = wait_for_exception(server, picking, "shipped_after_cancel")
    assert f"The WMS refused to cancel {picking['name']}" in exception["description"]
    assert "HTTP 409" in exception["description"]
    # One exception that names it, not a generic "refused by the partner" one.
    time.sleep(1)
    assert not exceptions(server, picking, "schema_invalid")
