"""End to end (issue 13, item 4): the web client's websocket against a server started like
setup/run's (HTTP workers, the gevent worker, the job runner, nginx in front, proxy_mode on).
Logged in over HTTP through the proxy, a websocket subscribes as the web client does; events
ingested over RPC then arrive as ONE bus notification per call with their ids, whatever the
number of events, and only to users of the events' company.

Odoo's test browser patches the bus (each notification sent at once, websockets allowed in a
test server), so a tour can't prove this: here nothing is patched."""

import json
import os
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import websocket
from odoo_server import OdooServer
from reverse_proxy import ReverseProxy

from odoo.addons.bus.websocket import WebsocketConnectionHandler

LIVE_NOTIFICATION = "logistics_live/changed"
BATCH = 25


def login(proxy, database, user, password):
    """Log in through the proxy like the login form does; returns the session id."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"db": database, "login": user, "password": password},
        }
    ).encode()
    request = urllib.request.Request(
        f"{proxy.url}/web/session/authenticate",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
        cookies = response.headers.get_all("Set-Cookie")
    assert "error" not in answer, answer
    session = next(c.split(";")[0] for c in cookies if c.startswith("session_id="))
    return session.split("=", 1)[1]


class LiveSocket:
    """A websocket of the web client: opened with the session cookie, then subscribed (the
    server adds the user's channels); notifications are JSON lists of {id, message}."""

    def __init__(self, url, session_id, origin):
        self.ws = websocket.create_connection(
            f"{url}?version={WebsocketConnectionHandler._VERSION}",
            cookie=f"session_id={session_id}",
            origin=origin,
            timeout=10,
        )
        self.ws.send(json.dumps({"event_name": "subscribe", "data": {"channels": [], "last": 0}}))

    def receive(self, seconds):
        """The live notifications (message dicts) received within ``seconds``."""
        found = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                break
            if not frame:
                continue
            for notification in json.loads(frame):
                if notification["message"]["type"] == LIVE_NOTIFICATION:
                    found.append(notification["message"])
        return found

    def wait_for(self, count, ids, model="logistics.event", seconds=30, quiet=3):
        """Wait up to ``seconds`` for ``count`` notifications naming some of ``ids`` of
        ``model``, then ``quiet`` seconds more for any other: returns all that came."""
        found = []
        deadline = time.monotonic() + seconds
        while len(about(found, model, ids)) < count and time.monotonic() < deadline:
            found += self.receive(min(1, deadline - time.monotonic()))
        return found + self.receive(quiet)

    def close(self):
        self.ws.close()


def about(notifications, model, ids):
    """The notifications that name one of ``ids`` of ``model``."""
    return [n for n in notifications if set(n["payload"].get(model, ())) & set(ids)]


@pytest.fixture
def live_server(tmp_path):
    server = OdooServer(
        os.environ["LOGISTICS_E2E_DB"], tmp_path / "odoo.log", options=["--proxy-mode"]
    ).start()
    proxy = None
    try:
        proxy = ReverseProxy(tmp_path / "nginx", server).start()
        yield server, proxy
    finally:
        if proxy:
            proxy.stop()
        server.stop()


def xmlid(server, module, name):
    [row] = server.call(
        "ir.model.data",
        "search_read",
        [("module", "=", module), ("name", "=", name)],
        fields=["res_id"],
    )
    return row["res_id"]


def events(shipment_ref, count):
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        {
            "type": "picked",
            "event_id": f"live-{uuid.uuid4().hex}",
            "occurred_at": (start + timedelta(seconds=index)).isoformat(),
            "shipment_ref": shipment_ref,
        }
        for index in range(count)
    ]


def event_ids(server, backend_code, batch):
    found = server.call(
        "logistics.event",
        "search_read",
        [
            ("backend_id.code", "=", backend_code),
            ("source_event_id", "in", [event["event_id"] for event in batch]),
        ],
        fields=["id"],
    )
    return sorted(row["id"] for row in found)


def test_ingested_events_reach_the_websocket_once_per_call_and_company(live_server):
    server, proxy = live_server
    database = server.database
    suffix = uuid.uuid4().hex[:8]
    ws_url = f"ws://127.0.0.1:{proxy.port}/websocket"

    # What setup/run served before: Odoo's HTTP workers can't open a websocket (500).
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            f"ws://127.0.0.1:{server.http_port}/websocket", origin=server.url, timeout=10
        )
    assert refused.value.status_code == 500

    # Company A (admin's) with a Logistics User, company B with a Logistics Manager.
    [admin] = server.call("res.users", "search_read", [("login", "=", "admin")], ["company_id"])
    company_a = admin["company_id"][0]
    company_b = server.call("res.company", "create", {"name": f"Live B {suffix}"})
    internal = xmlid(server, "base", "group_user")
    user_group = xmlid(server, "logistics_integration_base", "group_logistics_user")
    manager_group = xmlid(server, "logistics_integration_base", "group_logistics_manager")
    users = {}
    for name, company, group in (("a", company_a, user_group), ("b", company_b, manager_group)):
        login_name = f"live_{name}_{suffix}"
        server.call(
            "res.users",
            "create",
            {
                "name": f"Live {name.upper()} {suffix}",
                "login": login_name,
                "password": login_name,
                "company_id": company,
                "company_ids": [(6, 0, [company])],
                "group_ids": [(6, 0, [internal, group])],
            },
        )
        users[name] = login_name
    backend_code = f"live_wms_{suffix}"
    server.call(
        "logistics.backend", "create", {"name": "Live WMS", "code": backend_code, "kind": "wms"}
    )
    shipment_ref = f"SHP/LIVE/{suffix}"
    shipment_id = server.call("logistics.shipment", "create", {"name": shipment_ref})

    sockets = {
        name: LiveSocket(ws_url, login(proxy, database, login_name, login_name), proxy.url)
        for name, login_name in users.items()
    }
    try:
        # The subscription replays the last 50 s of the channels (the shipment's creation):
        # drain it before counting.
        for socket in sockets.values():
            socket.receive(3)

        # One event: one notification, with its id and its shipment's. (The job runner works
        # on the demo data's waiting jobs meanwhile: their transactions have notifications of
        # their own, which name none of these records.)
        one = events(shipment_ref, 1)
        assert server.call("logistics.event", "ingest_events", backend_code, one)["accepted"] == 1
        ids = event_ids(server, backend_code, one)
        received = about(sockets["a"].wait_for(1, ids), "logistics.event", ids)
        assert [r["payload"] for r in received] == [
            {"logistics.event": ids, "logistics.shipment": [shipment_id]}
        ]

        # A batch of events in one call: still one notification, with every id (not one each).
        batch = events(shipment_ref, BATCH)
        result = server.call("logistics.event", "ingest_events", backend_code, batch)
        assert result["accepted"] == BATCH, result
        ids = event_ids(server, backend_code, batch)
        assert len(ids) == BATCH
        received = about(sockets["a"].wait_for(1, ids), "logistics.event", ids)
        assert [r["payload"] for r in received] == [
            {"logistics.event": ids, "logistics.shipment": [shipment_id]}
        ]

        # Company B's user heard nothing of company A's records, not even their ids...
        assert sockets["b"].receive(1) == []
        # ... and hears of their own company's, which company A's user doesn't.
        own = server.call(
            "logistics.shipment",
            "create",
            {"name": f"SHP/LIVE-B/{suffix}", "company_id": company_b},
            login=users["b"],
            password=users["b"],
        )
        received = sockets["b"].wait_for(1, [own], model="logistics.shipment")
        assert [r["payload"] for r in received] == [{"logistics.shipment": [own]}]
        assert about(sockets["a"].receive(2), "logistics.shipment", [own]) == []
    finally:
        for socket in sockets.values():
            socket.close()
