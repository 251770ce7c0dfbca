"""Webhook benchmark against a real Odoo server with 2 workers (run: `setup/bench webhook`).

Measures, in one run:
  1. single-event webhook requests/s and p50 / p95 latency from a concurrent client, next to
     Odoo's own floor (a core route that writes nothing) measured the same way. The client is
     wrk (C, one thread) when installed: on a 2-core machine a Python client's own CPU use takes
     a large share from the server it measures; `--client python` uses the Python client;
  2. batch webhook events/s (100 events per request);
  3. processing rate (events/s from received to applied) with batched processing jobs versus
     one job per event, and their ratio.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import shutil
import statistics
import subprocess
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


WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency.mean / 1000))
end
"""


def wrk_fire(port, path, requests, seconds, concurrency):
    """Run wrk for ``seconds`` over ``requests`` ((body bytes, headers) pairs, each sent once
    at most): returns (requests/s, p50 ms, p95 ms)."""
    lines = ["local requests = {}"]
    for raw, headers in requests:
        headers = dict(headers, Host=f"127.0.0.1:{port}")
        lua_headers = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
        lines.append(
            f"requests[#requests + 1] = wrk.format('POST', {json.dumps(path)}, "
            f"{{{lua_headers}}}, {json.dumps(raw.decode())})"
        )
    lines.append(
        "local next_one = 0\n"
        "request = function()\n"
        "  next_one = next_one + 1\n"
        "  if next_one > #requests then next_one = 1 end\n"
        "  return requests[next_one]\n"
        "end"
    )
    script = Path(tempfile.mkdtemp()) / "requests.lua"
    script.write_text("\n".join(lines) + WRK_REPORT)
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{seconds}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    report = next(line for line in output.splitlines() if line.startswith("WRK "))
    count, errors, duration_us, p50, p95, _mean = report.split()[1:]
    assert int(errors) == 0, f"{errors} failed requests:\n{output}"
    assert int(count) <= len(requests), "wrk sent a request twice: give it more requests"
    return int(count) / (int(duration_us) / 1e6), float(p50), float(p95)


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
    parser.add_argument("--seconds", type=int, default=10, help="wrk: length of each run")
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator for the single-event runs (default: wrk when installed)",
    )
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
        floor_path = "/web/webclient/version_info"
        fire(port, floor_path, [floor_body] * 50, 4, sign=False)
        # 1. Single-event requests, each a new event.
        single_path = "/logistics/webhook/bench_single"
        if args.client == "wrk":
            plain = (json.dumps(floor_body).encode(), {"Content-Type": "application/json"})
            floor_rps, floor_p50, floor_p95 = wrk_fire(
                port, floor_path, [plain] * 50_000, args.seconds, args.concurrency
            )
            # Signed just before the run: well inside the 300-second tolerance.
            requests = [signed(body) for body in events("single", 20_000, shipments)]
            single_rps, single_p50, single_p95 = wrk_fire(
                port, single_path, requests, args.seconds, args.concurrency
            )
        else:
            floor_seconds, floor_latencies = fire(
                port, floor_path, [floor_body] * args.requests, args.concurrency, sign=False
            )
            floor_rps = args.requests / floor_seconds
            floor_p50 = statistics.median(floor_latencies) * 1000
            floor_p95 = percentile(floor_latencies, 0.95) * 1000
            seconds, latencies = fire(
                port, single_path, events("single", args.requests, shipments), args.concurrency
            )
            single_rps = args.requests / seconds
            single_p50 = statistics.median(latencies) * 1000
            single_p95 = percentile(latencies, 0.95) * 1000

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

    print(
        f"Odoo: 2 workers; client: {args.client}, {args.concurrency} concurrent keep-alive "
        "connections"
    )
    print(
        f"  single-event webhook: {single_rps:8.0f} requests/s   "
        f"p50 {single_p50:5.1f} ms   p95 {single_p95:5.1f} ms"
    )
    print(
        f"  Odoo floor (version_info): {floor_rps:8.0f} requests/s   "
        f"p50 {floor_p50:5.1f} ms   p95 {floor_p95:5.1f} ms"
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
