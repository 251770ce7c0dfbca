"""End to end, issue 12 item 6: one release reaches the WMS once. Orders confirmed at the same
moment, a WMS that refuses a repeated order reference with 409, replays and a WMS that is down,
against a real Odoo server (2 workers and its job runner) and the WMS sandbox, over real HTTP
both ways."""

import os
import threading
from contextlib import contextmanager

import pytest
from odoo_server import OdooServer
from sandboxes.wms import WmsSandbox
from test_vertical_slice import admin, wait_for
from test_vertical_slice import draft_order as draft_stocked_order

WMS_KEY = "sandbox-wms-key"
WMS_SECRET = "sandbox-wms-secret"
ORDERS = 10
FINAL = ("done", "dead")
# Retries come quickly, and failures of concurrent releases don't open the circuit.
BACKEND = {"backoff_base": 0.5, "max_attempts": 10, "circuit_threshold": 100}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """Odoo and the WMS sandbox. The WMS takes no step of its own (no carrier work follows);
    the backend's settings are put back at the end, for the modules that share the database."""
    log = tmp_path_factory.mktemp("release_once") / "odoo.log"
    server = OdooServer(os.environ["LOGISTICS_E2E_DB"], log).start()
    wms = WmsSandbox(api_key=WMS_KEY, step_seconds=0).start()
    backend = server.call("logistics.backend", "search", [("code", "=", "sandbox_wms")])
    before = server.call("logistics.backend", "read", backend, [*BACKEND, "inbound_batch_window"])
    try:
        server.call(
            "logistics.backend",
            "write",
            backend,
            dict(BACKEND, base_url=wms.url, api_key=WMS_KEY, inbound_batch_window=0),
        )
        admin(
            wms,
            "/_admin/config",
            {
                "callback_url": f"{server.url}/logistics/webhook/sandbox_wms",
                "callback_secret": WMS_SECRET,
            },
        )
        yield server, wms, backend
    finally:
        server.call(
            "logistics.backend",
            "write",
            backend,
            {key: value for key, value in before[0].items() if key != "id"},
        )
        wms.stop()
        server.stop()


@contextmanager
def acknowledging(wms):
    """The WMS acknowledges every order as soon as it has it, and Odoo processes the
    acknowledgement at once (no batch window): its job writes the shipment while the release
    job of the same order may still be writing it."""
    stop = threading.Event()
    acknowledged = set()

    def run():
        while not stop.wait(0.02):
            for ref, order in admin(wms, "/_admin/state")["orders"].items():
                if order["status"] == "received" and ref not in acknowledged:
                    acknowledged.add(ref)
                    admin(wms, "/_admin/advance", {"order_ref": ref})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield acknowledged
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture
def wms_settings(suite):
    """Puts the sandbox's faults, its configuration and the backend back after a test."""
    server, wms, backend = suite
    yield
    admin(
        wms,
        "/_admin/faults",
        {"error_rate": 0, "error_after_rate": 0, "latency_ms": 0, "down": False},
    )
    admin(wms, "/_admin/config", {"refuse_repeated_orders": False})
    server.call(
        "logistics.backend",
        "write",
        backend,
        dict(BACKEND, api_key=WMS_KEY, circuit_state="closed", consecutive_failures=0),
    )


def draft_order(server, name, quantity=2):
    """A customer, a stocked product and a sale order, not confirmed yet."""
    return draft_stocked_order(server, name, quantity, stock=50)


def release_messages(server, sales):
    return server.call(
        "logistics.message",
        "search_read",
        [("operation", "=", "order_release"), ("shipment_id.sale_id", "in", sales)],
        ["state", "attempts", "uuid", "payload", "response_body", "error_class", "shipment_id"],
        order="id",
    )


def settled(server, sales, count=None):
    def check():
        messages = release_messages(server, sales)
        if len(messages) == (count or len(sales)) and all(m["state"] in FINAL for m in messages):
            return messages
        return None

    return check


def release_posts(wms, order_refs):
    """The order releases the WMS received for these order references, in order."""
    return [
        entry
        for entry in admin(wms, "/_admin/received")
        if entry["method"] == "POST"
        and entry["path"] == "/api/orders"
        and isinstance(entry["body"], dict)
        and entry["body"].get("order_ref") in order_refs
    ]


def order_refs(messages):
    return {m["payload"]["order_ref"] for m in messages}


def confirm_at_the_same_moment(server, sales):
    """Confirm the orders from one thread each, released together (JSON-RPC)."""
    start = threading.Barrier(len(sales))
    errors = []

    def confirm(sale):
        try:
            start.wait(30)
            server.call("sale.order", "action_confirm", [sale])
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=confirm, args=(sale,)) for sale in sales]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors


def test_orders_confirmed_at_the_same_moment_are_each_released_once(suite, wms_settings):
    server, wms, _backend = suite
    sales = [draft_order(server, f"ONCE{n}") for n in range(ORDERS)]
    with acknowledging(wms):
        confirm_at_the_same_moment(server, sales)
        messages = wait_for(settled(server, sales), timeout=240, what="the releases")
    posts = release_posts(wms, order_refs(messages))
    assert [m["state"] for m in messages] == ["done"] * ORDERS, messages
    assert len(posts) == ORDERS, [p["body"]["order_ref"] for p in posts]
    assert {p["headers"]["idempotency-key"] for p in posts} == {m["uuid"] for m in messages}
    assert all(m["attempts"] == 1 for m in messages), messages
    # Each release became its milestone, once.
    events = server.call(
        "logistics.event",
        "search_count",
        [
            ("shipment_id", "in", [m["shipment_id"][0] for m in messages]),
            ("type_id.code", "=", "order_released"),
        ],
    )
    assert events == ORDERS


def test_concurrent_releases_against_a_flaky_wms_call_it_once_per_attempt(suite, wms_settings):
    """Answers lost at random (the WMS takes the order, Odoo gets a 500) make concurrent
    releases fail together, each failure written on the backend row (the circuit breaker):
    every call is still an attempt on its message, never repeated by a database conflict,
    and every order ends released once, done, although the WMS refuses a repeated order
    reference (409 ORDER_EXISTS)."""
    server, wms, _backend = suite
    admin(wms, "/_admin/config", {"refuse_repeated_orders": True})
    admin(wms, "/_admin/faults", {"error_after_rate": 0.4, "latency_ms": 100, "seed": 12})
    sales = [draft_order(server, f"FLAKY{n}") for n in range(ORDERS)]
    with acknowledging(wms):
        confirm_at_the_same_moment(server, sales)
        messages = wait_for(settled(server, sales), timeout=300, what="the releases")
    admin(wms, "/_admin/faults", {"error_after_rate": 0, "latency_ms": 0})
    assert [m["state"] for m in messages] == ["done"] * ORDERS, messages
    posts = release_posts(wms, order_refs(messages))
    assert len(posts) == sum(m["attempts"] for m in messages), (len(posts), messages)
    assert any(m["attempts"] > 1 for m in messages), "no answer was lost: nothing proven"
    orders = admin(wms, "/_admin/state")["orders"]
    assert order_refs(messages) <= set(orders)


def test_a_release_whose_answer_was_lost_is_done_when_the_wms_says_it_has_it(suite, wms_settings):
    server, wms, backend = suite
    admin(wms, "/_admin/config", {"refuse_repeated_orders": True})
    # The first call's answer is lost (the WMS takes the order, Odoo gets a 500); the retry
    # comes a few seconds later, when the WMS answers again.
    server.call("logistics.backend", "write", backend, {"backoff_base": 4})
    admin(wms, "/_admin/faults", {"error_after_rate": 1.0})
    sale = draft_order(server, "LOST")
    server.call("sale.order", "action_confirm", [sale])
    wait_for(
        lambda: any(
            o["shipment_ref"]
            for o in admin(wms, "/_admin/state")["orders"].values()
            if o["lines"][0]["sku"] == "SKU-LOST"
        ),
        timeout=60,
        what="the first release",
    )
    admin(wms, "/_admin/faults", {"error_after_rate": 0})
    [message] = wait_for(settled(server, [sale]), timeout=120, what="the release")
    assert message["state"] == "done", message
    assert message["attempts"] == 2, message
    assert "ORDER_EXISTS" in message["response_body"], message
    posts = release_posts(wms, order_refs([message]))
    assert len(posts) == 2 and len({p["headers"]["idempotency-key"] for p in posts}) == 1
    orders = [
        o
        for o in admin(wms, "/_admin/state")["orders"].values()
        if o["order_ref"] == message["payload"]["order_ref"]
    ]
    assert len(orders) == 1
    shipment_id = message["shipment_id"][0]
    released = server.call(
        "logistics.event",
        "search_count",
        [("shipment_id", "=", shipment_id), ("type_id.code", "=", "order_released")],
    )
    assert released == 1
    exceptions = server.call(
        "logistics.exception", "search_count", [("shipment_id", "=", shipment_id)]
    )
    assert exceptions == 0


def dead_releases(server, wms, backend, names):
    """Releases of new orders that die on transient errors (the WMS is down until the last
    attempt: it does nothing with them). A refused credential would not do: its calls wait for
    a new key, they don't die (issue 13)."""
    server.call("logistics.backend", "write", backend, {"max_attempts": 2})
    admin(wms, "/_admin/faults", {"down": True})
    sales = [draft_order(server, name) for name in names]
    for sale in sales:
        server.call("sale.order", "action_confirm", [sale])
    messages = wait_for(settled(server, sales), timeout=120, what="the dead releases")
    admin(wms, "/_admin/faults", {"down": False})
    server.call(
        "logistics.backend",
        "write",
        backend,
        {"circuit_state": "closed", "consecutive_failures": 0, "api_key": WMS_KEY},
    )
    assert [m["state"] for m in messages] == ["dead"] * len(names), messages
    return sales, messages


def test_a_replay_reuses_the_idempotency_key_an_edited_replay_does_not(suite, wms_settings):
    """Dead while the WMS was down (nothing done by it), then replayed once it is back: the
    same request under the same key; edited, another request under a new key."""
    server, wms, backend = suite
    sales, (plain, edited) = dead_releases(server, wms, backend, ["REPLAY", "EDITED"])
    [replay] = server.call("logistics.message", "replay", [plain["id"]], "WMS is back")
    payload = dict(edited["payload"], ship_to={**edited["payload"]["ship_to"], "name": "Dock 4"})
    server.call("logistics.message", "action_replay", [edited["id"]], "new dock", payload=payload)
    messages = wait_for(settled(server, sales, count=4), timeout=120, what="the replays")
    replays = [m for m in messages if m["id"] not in (plain["id"], edited["id"])]
    assert [m["state"] for m in replays] == ["done", "done"], replays
    by_id = {m["id"]: m for m in replays}
    assert by_id[replay]["uuid"] == plain["uuid"]
    [edited_replay] = [m for m in replays if m["id"] != replay]
    assert edited_replay["uuid"] != edited["uuid"]
    keys = {
        p["body"]["order_ref"]: p["headers"]["idempotency-key"]
        for p in release_posts(wms, order_refs([plain, edited]))
        if p["body"]["order_ref"]
    }
    assert keys == {
        plain["payload"]["order_ref"]: plain["uuid"],
        edited["payload"]["order_ref"]: edited_replay["uuid"],
    }


def test_a_release_dead_on_transient_errors_is_an_exception_for_a_person(suite, wms_settings):
    server, wms, backend = suite
    _sales, [message] = dead_releases(server, wms, backend, ["DOWN"])
    exceptions = server.call(
        "logistics.exception",
        "search_read",
        [("message_id", "=", message["id"])],
        ["type_code", "description", "shipment_id", "is_closed"],
    )
    assert [e["type_code"] for e in exceptions] == ["order_release_failed"], exceptions
    [exception] = exceptions
    assert exception["shipment_id"][0] == message["shipment_id"][0]
    assert not exception["is_closed"]
    text = exception["description"]
    assert "not released" in text and "replay" in text.lower(), text
    # The replay (the same Idempotency-Key) releases the order, which closes the exception.
    server.call("logistics.message", "replay", [message["id"]], "WMS is back")
    wait_for(
        lambda: server.call("logistics.exception", "read", [exceptions[0]["id"]], ["is_closed"])[0][
            "is_closed"
        ],
        timeout=120,
        what="the exception to close",
    )
