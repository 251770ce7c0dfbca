"""End to end: ``/logistics/health`` served by a real Odoo server started as ``setup/run``
starts it (HTTP workers, the queue_job runner, the configuration ``setup/write_config.py``
writes, with the monitoring addon among the server-wide modules), over HTTP like a load
balancer's probe (issue 15 §2)."""

import json
import os
import time
import urllib.error
import urllib.request

from odoo_server import OdooServer

CHECKS = ["database", "job_runner", "crons", "backends", "circuits"]


def get(server, path, headers=None):
    """``(status, headers, JSON body)`` of a GET, whatever the status."""
    request = urllib.request.Request(f"{server.url}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def test_a_real_server_answers_probes(tmp_path):
    server = OdooServer(os.environ["LOGISTICS_E2E_DB"], tmp_path / "odoo.log").start()
    try:
        status, headers, body = get(server, "/logistics/health?check=database")
        assert status == 200, (body, server.log_tail())
        assert headers["Content-Type"] == "application/health+json"
        assert headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in headers
        assert body["checks"]["database"][0]["status"] == "pass"

        # The live job runner starts the jobs that are due (those of the installation
        # included): the job runner check passes once it has.
        deadline = time.monotonic() + 60
        while True:
            status, _headers, body = get(server, "/logistics/health?check=job_runner")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert status == 200, (body, server.log_tail())

        # A request no database serves (the server serves one, -d): answered by the
        # server-wide addon, not by Odoo's 404 page.
        status, headers, body = get(
            server, "/logistics/health", {"X-Odoo-Database": "no_such_database_e2e"}
        )
        assert status == 503, body
        assert headers["Content-Type"] == "application/health+json"
        [database] = body["checks"]["database"]
        assert database["status"] == "fail"
        assert database["output"].startswith("No database serves this request")

        # The whole answer is a health document, 200 or 503 (this server runs no cron
        # worker: the suite's scheduled actions may be late).
        status, _headers, body = get(server, "/logistics/health")
        assert status in (200, 503), body
        assert list(body["checks"]) == CHECKS
        assert body["status"] == ("pass" if status == 200 else "fail")
    finally:
        server.stop()
