"""End to end, stock snapshots (issue 12, items 7 and 8): what the WMS reports that Odoo can't
take as a count. The WMS sandbox answers GET /api/stock, or drops a stock file, with bad items
in it ([3], "abc", null, -5, no SKU, a SKU twice ...) or with something that is no snapshot at
all; a real Odoo server with its job runner asks for it and compares it, real HTTP both ways.

Each bad item is named in one exception per snapshot, the good items are still compared
(stock_mismatch), and the message ends done, or dead when it is no snapshot: never queued."""

import math
import os
from types import SimpleNamespace

import pytest
from odoo_server import OdooServer
from sandboxes.wms import WmsSandbox
from test_vertical_slice import admin, wait_for

WMS_KEY = "sandbox-wms-key"
FINAL_STATES = ("done", "dead")


def record_id(server, xmlid):
    module, name = xmlid.split(".")
    rows = server.call(
        "ir.model.data", "search_read", [("module", "=", module), ("name", "=", name)], ["res_id"]
    )
    return rows[0]["res_id"]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """Odoo (2 workers + job runner) and the WMS sandbox with a drop directory: the REST backend
    serves the main warehouse, the file-drop backend a warehouse of its own."""
    base = tmp_path_factory.mktemp("stock-snapshots")
    server = OdooServer(os.environ["LOGISTICS_E2E_DB"], base / "odoo.log").start()
    wms = WmsSandbox(api_key=WMS_KEY, step_seconds=0, drop_dir=base / "drop").start()
    try:
        rest = record_id(server, "logistics_integration_base.demo_backend_wms")
        drop = record_id(server, "logistics_wms_connector.demo_backend_wms_csv")
        # A new base URL clears the stored API key: it is given again in the same write.
        server.call("logistics.backend", "write", [rest], {"base_url": wms.url, "api_key": WMS_KEY})
        server.call("logistics.backend", "write", [drop], {"wms_drop_dir": str(base / "drop")})
        main = server.call(
            "stock.warehouse", "search_read", [("code", "=", "WH")], ["lot_stock_id"]
        )[0]
        drop_warehouse = server.call(
            "stock.warehouse",
            "create",
            {"name": "Snapshot Drop Warehouse", "code": "SNDRP", "logistics_wms_backend_id": drop},
        )
        drop_stock = server.call("stock.warehouse", "read", [drop_warehouse], ["lot_stock_id"])[0]
        yield SimpleNamespace(
            server=server,
            wms=wms,
            drop_dir=base / "drop",
            rest=rest,
            drop=drop,
            rest_location=main["lot_stock_id"][0],
            drop_location=drop_stock["lot_stock_id"][0],
        )
    finally:
        wms.stop()
        server.stop()


@pytest.fixture
def env(suite):
    admin(suite.wms, "/_admin/reset", {})
    return suite


def stock(server, sku, quantity, location):
    """A storable product with this SKU and ``quantity`` on hand in ``location``."""
    product = server.call(
        "product.product",
        "create",
        {"name": f"Product {sku}", "is_storable": True, "default_code": sku},
    )
    quant = server.call(
        "stock.quant",
        "create",
        {"product_id": product, "location_id": location, "inventory_quantity": quantity},
    )
    server.call("stock.quant", "action_apply_inventory", [quant])
    return product


def last_message_id(server, backend):
    rows = server.call(
        "logistics.message", "search", [("backend_id", "=", backend)], order="id desc", limit=1
    )
    return rows[0] if rows else 0


def finished(server, domain, what):
    """The message of ``domain`` once it is done or dead (never left queued)."""
    fields = ["state", "error", "error_class", "direction", "operation", "http_status"]

    def check():
        rows = server.call("logistics.message", "search_read", domain, fields)
        return rows[0] if rows and rows[0]["state"] in FINAL_STATES else None

    return wait_for(check, timeout=60, what=what)


def press_compare_stock(env, backend):
    """A Manager (admin) presses Compare Stock Now: the snapshot message it leads to."""
    before = last_message_id(env.server, backend)
    env.server.call("logistics.backend", "action_sync_stock", [backend])
    return finished(
        env.server,
        [("backend_id", "=", backend), ("operation", "=", "stock_snapshot"), ("id", ">", before)],
        "the stock snapshot message to be done or dead",
    )


def drop_stock_file(env, body=None):
    """The sandbox drops a stock file; Odoo's file-import cron reads it (as the scheduler
    would); the inbound message it became, once done or dead."""
    name = admin(env.wms, "/_admin/stock/file", body or {})["file"]
    cron = record_id(env.server, "logistics_wms_connector.ir_cron_import_wms_files")
    env.server.call("ir.cron", "method_direct_trigger", [cron])
    return name, finished(
        env.server,
        [("backend_id", "=", env.drop), ("partner_event_id", "=", f"file:{name}")],
        f"the message of {name} to be done or dead",
    )


def exceptions_of(server, message, type_code):
    return server.call(
        "logistics.exception",
        "search_read",
        [("message_id", "=", message["id"]), ("type_code", "=", type_code)],
        ["name", "description", "source_event_id", "backend_id"],
    )


def assert_one_invalid_snapshot_exception(server, message, reasons):
    """One stock_snapshot_invalid exception for the message, naming every bad item (its SKU, or
    its position) with its reason."""
    (exception,) = exceptions_of(server, message, "stock_snapshot_invalid")
    text = f"{exception['name']}\n{exception['description']}"
    for item, reason in reasons.items():
        line = next((line for line in text.splitlines() if item in line and reason in line), None)
        assert line, f"{item}: {reason} not in\n{text}"
    return exception


def assert_compared(server, message, mismatches, equal):
    """The good items were compared: a stock_mismatch exception of this message for each SKU of
    ``mismatches`` ({sku: "WMS x, Odoo y"}), none for the SKUs of ``equal``."""
    raised = {
        exception["source_event_id"]: exception["name"]
        for exception in exceptions_of(server, message, "stock_mismatch")
    }
    assert set(raised) == {f"stock:{sku}" for sku in mismatches}, raised
    for sku, difference in mismatches.items():
        assert raised[f"stock:{sku}"] == f"{sku}: {difference}"
    assert not {f"stock:{sku}" for sku in equal} & set(raised)


# --- REST: GET /api/stock -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "quantity", "reason"),
    [
        ("LIST", [3], "quantity [3] is not a number"),
        ("TEXT", "abc", 'quantity "abc" is not a number'),
        ("NULL", None, "quantity is null"),
        ("NEG", -5, "quantity -5 is negative"),
    ],
)
def test_rest_snapshot_item_with_a_bad_quantity(env, name, quantity, reason):
    good, same, bad = (f"SNAP-{name}-{kind}" for kind in ("GOOD", "SAME", "BAD"))
    for sku in (good, same, bad):
        stock(env.server, sku, 10, env.rest_location)
    admin(
        env.wms,
        "/_admin/stock",
        {"items": [{"sku": good, "quantity": 7}, {"sku": same, "quantity": 10}]},
    )
    admin(env.wms, "/_admin/stock/raw", {"items": [{"sku": bad, "quantity": quantity}]})
    message = press_compare_stock(env, env.rest)
    assert message["state"] == "done", message
    assert_one_invalid_snapshot_exception(env.server, message, {bad: reason})
    # The bad item is flagged, not taken as a count (null is not 0, -5 is not -5 on hand).
    assert_compared(env.server, message, {good: "WMS 7, Odoo 10"}, equal=[same, bad])


def test_rest_snapshot_names_every_bad_item_in_one_exception(env):
    good = "SNAP-MANY-GOOD"
    stock(env.server, good, 2, env.rest_location)
    for sku in ("SNAP-MANY-MISSING", "SNAP-MANY-BOOL", "SNAP-MANY-NAN", "SNAP-MANY-TWICE"):
        stock(env.server, sku, 1, env.rest_location)
    admin(env.wms, "/_admin/stock", {"items": [{"sku": good, "quantity": 5}]})
    admin(
        env.wms,
        "/_admin/stock/raw",
        {
            "items": [
                {"quantity": 4},
                {"sku": "", "quantity": 4},
                {"sku": "SNAP-MANY-MISSING"},
                {"sku": "SNAP-MANY-BOOL", "quantity": True},
                {"sku": "SNAP-MANY-NAN", "quantity": math.nan},
                {"sku": "SNAP-MANY-TWICE", "quantity": 3},
                {"sku": "SNAP-MANY-TWICE", "quantity": 4},
                "SNAP-MANY-TEXT",
            ]
        },
    )
    message = press_compare_stock(env, env.rest)
    assert message["state"] == "done", message
    assert_one_invalid_snapshot_exception(
        env.server,
        message,
        {
            "item 2": "no SKU",
            "item 3": "no SKU",
            "SNAP-MANY-MISSING": "no quantity",
            "SNAP-MANY-BOOL": "quantity true is not a number",
            "SNAP-MANY-NAN": "quantity NaN is not a number",
            "SNAP-MANY-TWICE": "different quantities: 3, 4",
            "item 9": "not an object",
        },
    )
    assert_compared(
        env.server,
        message,
        {good: "WMS 5, Odoo 2"},
        equal=["SNAP-MANY-MISSING", "SNAP-MANY-BOOL", "SNAP-MANY-NAN", "SNAP-MANY-TWICE"],
    )


def test_rest_answer_that_is_no_snapshot_ends_dead(env):
    admin(env.wms, "/_admin/stock/raw", {"document": {"items": "none"}})
    message = press_compare_stock(env, env.rest)
    assert (message["state"], message["error_class"]) == ("dead", "business"), message
    assert "not a stock snapshot" in message["error"]
    dead_letters = env.server.call(
        "logistics.message", "search", [("state", "=", "dead"), ("id", "=", message["id"])]
    )
    assert dead_letters == [message["id"]]
    (exception,) = exceptions_of(env.server, message, "schema_invalid")
    assert "not a stock snapshot" in exception["name"]
    assert '{"items": "none"}' in exception["description"]
    # The job delivering it ended well: no traceback, nothing to retry.
    jobs = env.server.call(
        "queue.job",
        "search_read",
        [("identity_key", "=", f"logistics-deliver-{message['id']}-0")],
        ["state"],
    )
    assert [job["state"] for job in jobs] == ["done"]


def test_adapter_without_snapshots_says_so_to_the_manager(env):
    backend = env.server.call(
        "logistics.backend",
        "create",
        {
            "name": "Snapshotless WMS",
            "code": "snapshotless_wms",
            "kind": "wms",
            "adapter": "generic",
        },
    )
    with pytest.raises(AssertionError) as refused:
        env.server.call("logistics.backend", "action_sync_stock", [backend])
    error = refused.value.args[0]
    assert error["data"]["name"] == "odoo.exceptions.UserError", error
    assert "Snapshotless WMS" in error["data"]["message"]
    assert "stock snapshot" in error["data"]["message"]


# --- file drop: inbound/stock-*.csv ---------------------------------------------------------------
def test_file_drop_snapshot_is_validated_and_compared(env):
    good, same = "SNAP-FILE-GOOD", "SNAP-FILE-SAME"
    bad = {
        "SNAP-FILE-LIST": ([3], 'quantity "[3]" is not a number'),
        "SNAP-FILE-TEXT": ("abc", 'quantity "abc" is not a number'),
        "SNAP-FILE-NULL": (None, "no quantity"),
        "SNAP-FILE-NEG": (-5, "quantity -5 is negative"),
    }
    for sku in (good, same, *bad):
        stock(env.server, sku, 10, env.drop_location)
    admin(
        env.wms,
        "/_admin/stock",
        {"items": [{"sku": good, "quantity": 12}, {"sku": same, "quantity": 10}]},
    )
    admin(
        env.wms,
        "/_admin/stock/raw",
        {"items": [{"sku": sku, "quantity": quantity} for sku, (quantity, _r) in bad.items()]},
    )
    name, message = drop_stock_file(env)
    assert (message["direction"], message["operation"]) == ("inbound", "stock_snapshot")
    assert message["state"] == "done", message
    assert_one_invalid_snapshot_exception(
        env.server, message, {sku: reason for sku, (_q, reason) in bad.items()}
    )
    assert_compared(env.server, message, {good: "WMS 12, Odoo 10"}, equal=[same, *bad])
    wait_for(
        lambda: (env.drop_dir / "inbound" / "processed" / name).exists(),
        timeout=60,
        what=f"{name} to move to inbound/processed",
    )


def test_file_drop_file_that_is_no_stock_file_ends_dead(env):
    name = admin(env.wms, "/_admin/stock/file", {"text": "article,count\nA,1\n"})["file"]
    # The Manager's button reads the stock files waiting, as the cron does.
    env.server.call("logistics.backend", "action_sync_stock", [env.drop])
    message = finished(
        env.server,
        [("backend_id", "=", env.drop), ("partner_event_id", "=", f"file:{name}")],
        f"the message of {name} to be dead",
    )
    assert (message["state"], message["error_class"]) == ("dead", "business"), message
    assert "sku" in message["error"] and name in message["error"]
    (exception,) = exceptions_of(env.server, message, "schema_invalid")
    assert name in exception["name"]
    assert "article,count" in exception["description"]
