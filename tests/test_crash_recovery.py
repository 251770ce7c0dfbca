"""End to end: kill -9 a real Odoo server while jobs deliver messages; after a restart every
message ends done exactly once, and the partner sees each effect once (Idempotency-Key)."""

import os
import time

import pytest
from odoo_server import OdooServer

from odoo.addons.logistics_integration_base.tests.partner_server import ScriptedPartner

MESSAGES = 12


@pytest.fixture
def partner():
    with ScriptedPartner() as server:
        # Slow enough that the kill lands while deliveries are under way.
        for _n in range(200):
            server.answer(200, {"ok": True}, delay=0.4)
        yield server


def test_kill_9_during_delivery_then_restart_delivers_each_message_once(tmp_path, partner):
    server = OdooServer(os.environ["LOGISTICS_E2E_DB"], tmp_path / "odoo.log").start()
    try:
        backend = server.call(
            "logistics.backend",
            "create",
            {
                "name": "Crash Channel",
                "code": "crash_channel",
                "kind": "channel",
                "base_url": partner.url,
                "auth_type": "none",
                "channel": "root.logistics.operational",
                "backoff_base": 1.0,
            },
        )
        shipped = server.call("logistics.event.type", "search", [("code", "=", "shipped")])
        server.call(
            "logistics.subscription",
            "create",
            {"backend_id": backend, "event_type_ids": [(6, 0, shipped)]},
        )
        server.call(
            "logistics.backend", "create", {"name": "Crash WMS", "code": "crash_wms", "kind": "wms"}
        )
        refs = [f"SHP/CRASH/{n:03d}" for n in range(MESSAGES)]
        server.call("logistics.shipment", "create", [{"name": ref} for ref in refs])
        result = server.call(
            "logistics.event",
            "ingest_events",
            "crash_wms",
            [
                {
                    "type": "shipped",
                    "occurred_at": "2026-05-01T10:00:00+00:00",
                    "event_id": f"crash-{n}",
                    "shipment_ref": ref,
                }
                for n, ref in enumerate(refs)
            ],
        )
        assert result["accepted"] == MESSAGES, result

        def messages():
            return server.call(
                "logistics.message",
                "search_read",
                [("backend_id", "=", backend)],
                ["state", "uuid", "attempts"],
            )

        deadline = time.monotonic() + 60
        while len(partner.requests) < 3:
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.1)
        server.kill()
        delivered_before_kill = len(partner.requests)
        assert delivered_before_kill < MESSAGES, "the kill came too late to prove anything"

        server = OdooServer(os.environ["LOGISTICS_E2E_DB"], tmp_path / "odoo-restart.log")
        server.start()
        deadline = time.monotonic() + 180
        while True:
            states = [m["state"] for m in messages()]
            if states.count("done") == MESSAGES:
                break
            assert time.monotonic() < deadline, (states, server.log_tail())
            time.sleep(1)
        final = messages()
        assert len(final) == MESSAGES
        keys = [headers["Idempotency-Key"] for _m, _p, headers, _b in partner.requests]
        # Each message reached the partner under one key; a delivery cut by the kill was sent
        # again under the same key, so the partner applies it once.
        assert set(keys) == {m["uuid"] for m in final}
        assert all(m["attempts"] == 1 for m in final), final
        events = server.call(
            "logistics.event", "search_count", [("source_event_id", "like", "crash-")]
        )
        assert events == MESSAGES
    finally:
        server.stop()
