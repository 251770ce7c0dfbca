"""End to end: a flood of refused webhook requests, many at a time, against a real Odoo server
(prefork workers, REPEATABLE READ transactions): every request gets its clear 4xx, every
refusal is counted, and the rejected messages kept stay bounded (issue 10, item 5)."""

import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from odoo_server import OdooServer

from odoo.addons.logistics_integration_base.controllers.webhook import NOT_AUTHENTICATED
from odoo.addons.logistics_integration_base.models.logistics_webhook_refusal import (
    KEPT_PER_MINUTE,
)

REQUESTS = 60


def test_concurrent_refusals_are_all_answered_counted_and_bounded(tmp_path):
    server = OdooServer(os.environ["LOGISTICS_E2E_DB"], tmp_path / "odoo.log").start()
    try:

        def counts():
            rows = server.call(
                "logistics.webhook.refusal",
                "search_read",
                [("backend_id", "=", False), ("http_status", "=", 401)],
                ["request_count", "kept"],
            )
            return sum(r["request_count"] for r in rows), sum(r["kept"] for r in rows)

        def kept_messages():
            return server.call(
                "logistics.message",
                "search_count",
                [("state", "=", "rejected"), ("endpoint", "like", "/logistics/webhook/flood-%")],
            )

        before = counts()

        def post(number):
            request = urllib.request.Request(
                f"{server.url}/logistics/webhook/flood-{number}",
                data=json.dumps({"n": number}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(post, range(REQUESTS)))
        assert [status for status, _body in answers] == [401] * REQUESTS, answers
        for _status, body in answers:
            answer = json.loads(body)
            assert answer["status"] == "rejected"
            # The same answer as a bad signature: it doesn't name the code it probed.
            assert answer["error"] == NOT_AUTHENTICATED
        after = counts()
        assert after[0] - before[0] == REQUESTS, (before, after)
        # The first few of each minute are kept (two minutes if the run crossed one).
        assert kept_messages() == after[1] - before[1] <= 2 * KEPT_PER_MINUTE
        # No request was retried into a 500 by serialization failures.
        assert "could not serialize access" not in server.log()
    finally:
        server.stop()
