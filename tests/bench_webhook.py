"""Webhook benchmark against a real Odoo server with 2 workers (run: `setup/bench webhook`).

Measures, in one run:
  1. single-event webhook requests/s and p50 / p95 latency from a concurrent client;
  2. batch webhook events/s (100 events per request);
  3. processing rate (events/s from received to applied) with batched processing jobs versus
     one job per event, and their ratio.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odoo_server import OdooServer

SECRET = "whsec_bench"


def signed(body):
    raw = json.dumps(body).encode()
    timestamp = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
    return raw, {
        "Content-Type": "application/json",
        "X-Logistics-Signature": f"t={timestamp},v1={digest.hexdigest()}",
    }


def fire(port, path, bodies, concurrency, sign=True):
    """POST every body with `concurrency` keep-alive clients; returns (seconds, latencies)."""
    latencies, errors, lock = [], [], threading.Lock()
    queue = list(enumerate(bodies))

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if not queue:
                    break
                _index, body = queue.pop()
            if sign:
                raw, headers = signed(body)
            else:
                raw, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
            started = time.perf_counter()
            connection.request("POST", path, raw, headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status not in (200, 202):
                    errors.append(response.status)
        connection.close()

    threads = [threading.Thread(target=client) for _n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    assert not errors, f"{len(errors)} failed requests, e.g. {errors[:5]}"
    return seconds, latencies


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wait_applied(server, backend_id, expected, timeout=600):
    deadline = time.monotonic() + timeout
    while True:
        applied = server.call("logistics.event", "search_count", [("backend_id", "=", backend_id)])
        if applied >= expected:
            return
        assert time.monotonic() < deadline, f"{applied}/{expected} applied"
        time.sleep(0.2)


def events(prefix, count, shipments):
    return [
        {
            "type": "in_transit",
            "occurred_at": f"2026-06-01T10:{n % 60:02d}:00+00:00",
            "event_id": f"{prefix}-{n}",
            "shipment_ref": shipments[n % len(shipments)],
        }
        for n in range(count)
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--e2e-events", type=int, default=1000)
    args = parser.parse_args()

    log = Path(tempfile.mkdtemp()) / "odoo.log"
    server = OdooServer(args.database, log, workers=2).start()
    try:
        backends = {}
        for name, batch in (("single", True), ("batched", True), ("per_event", False)):
            backends[name] = server.call(
                "logistics.backend",
                "create",
                {
                    "name": f"Bench {name}",
                    "code": f"bench_{name}",
                    "kind": "carrier",
                    "adapter": "generic",
                    "inbound_batch": batch,
                },
            )
            server.call("logistics.backend", "write", [backends[name]], {"webhook_secret": SECRET})
        shipments = [f"BENCH/W/{n:04d}" for n in range(500)]
        server.call("logistics.shipment", "create", [{"name": ref} for ref in shipments])
        port = server.http_port

        # Warm-up: workers load the registry and the route.
        fire(port, "/logistics/webhook/bench_single", events("warm", 50, shipments), 4)

        # 0. Odoo's own floor on this machine: a core JSON-RPC route that opens a database
        #    cursor and answers, without writing (/web/webclient/version_info).
        floor_body = {"jsonrpc": "2.0", "method": "call", "params": {}}
        fire(port, "/web/webclient/version_info", [floor_body] * 50, 4, sign=False)
        floor_seconds, floor_latencies = fire(
            port,
            "/web/webclient/version_info",
            [floor_body] * args.requests,
            args.concurrency,
            sign=False,
        )
        floor_rps = args.requests / floor_seconds

        # 1. Single-event requests.
        seconds, latencies = fire(
            port,
            "/logistics/webhook/bench_single",
            events("single", args.requests, shipments),
            args.concurrency,
        )
        single_rps = args.requests / seconds

        # 2. Batch requests of 100 events.
        batch_events = events("batch", 5000, shipments)
        bodies = [batch_events[i : i + 100] for i in range(0, len(batch_events), 100)]
        batch_seconds, _lat = fire(
            port, "/logistics/webhook/bench_single/batch", bodies, args.concurrency
        )
        batch_eps = len(batch_events) / batch_seconds

        # 3. Processing, received -> applied, batched jobs vs one job per event: the events are
        #    received while the backend is paused (held), then the clock runs from the resume
        #    (which queues the processing jobs) until the last event is applied.
        rates = {}
        for name in ("batched", "per_event"):
            server.call("logistics.backend", "action_pause", [backends[name]])
            fire(
                port,
                f"/logistics/webhook/bench_{name}",
                events(name, args.e2e_events, shipments),
                args.concurrency,
            )
            started = time.perf_counter()
            server.call("logistics.backend", "action_resume", [backends[name]])
            wait_applied(server, backends[name], args.e2e_events)
            rates[name] = args.e2e_events / (time.perf_counter() - started)
    finally:
        server.stop()

    print(f"Odoo: 2 workers; client: {args.concurrency} concurrent keep-alive connections")
    print(
        f"  single-event webhook: {single_rps:8.0f} requests/s   "
        f"p50 {statistics.median(latencies) * 1000:5.1f} ms   "
        f"p95 {percentile(latencies, 0.95) * 1000:5.1f} ms   ({args.requests} requests)"
    )
    print(
        f"  Odoo floor (version_info): {floor_rps:8.0f} requests/s   "
        f"p50 {statistics.median(floor_latencies) * 1000:5.1f} ms   "
        f"p95 {percentile(floor_latencies, 0.95) * 1000:5.1f} ms"
    )
    print(f"  single-event webhook / Odoo floor = {single_rps / floor_rps:.0%}")
    print(f"  batch webhook:        {batch_eps:8.0f} events/s     (100 events per request)")
    print(f"  processing, batched jobs:      {rates['batched']:8.0f} events/s")
    print(f"  processing, one job per event: {rates['per_event']:8.0f} events/s")
    print(
        f"  batched / one job per event = {rates['batched'] / rates['per_event']:.1f}x "
        f"  (target >= 5x)"
    )
    print("  targets: >= 300 requests/s and p95 < 50 ms for single events")
    print(f"  server log: {log}")


if __name__ == "__main__":
    main()
