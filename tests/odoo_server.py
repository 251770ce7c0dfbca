"""A real Odoo server process (prefork workers + queue_job runner) for end-to-end tests and
benchmarks, talked to over HTTP / JSON-RPC like a real deployment."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "setup"))
from write_config import job_channels, job_slots  # noqa: E402


class OdooServer:
    def __init__(self, database, log_path, workers=2, options=()):
        """``options``: more odoo-bin options, e.g. ``["--proxy-mode"]``."""
        self.database = database
        self.options = list(options)
        self.log_path = Path(log_path)
        self.workers = workers
        self.http_port = free_port()
        self.gevent_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.process = None
        self._rpc_id = 0
        self._uids = {}

    def start(self, timeout=120):
        venv = os.environ["LOGISTICS_VENV"]
        odoo_dir = os.environ["LOGISTICS_ODOO_DIR"]
        config = os.environ["LOGISTICS_TEST_CONFIG"]
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [
                f"{venv}/bin/python",
                f"{odoo_dir}/odoo-bin",
                "-c",
                config,
                "-d",
                self.database,
                "--workers",
                # One HTTP worker per job slot, as setup/run: the reservation holds.
                str(job_slots(self.workers)),
                "--max-cron-threads",
                "0",
                "--http-port",
                str(self.http_port),
                "--gevent-port",
                str(self.gevent_port),
                "--log-level",
                "info",
                *self.options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # The test configuration disables the job runner (for pytest's own Odoo): enable it.
            env=dict(os.environ, ODOO_QUEUE_JOB_CHANNELS=job_channels(self.workers)),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_tail()
            try:
                with urllib.request.urlopen(f"{self.url}/web/login", timeout=5) as response:
                    if response.status == 200 and "queue job runner ready" in self.log():
                        return self
            except OSError:
                time.sleep(0.5)  # not listening yet
                continue
            time.sleep(0.5)
        # Not left running: its job runner would hold the database's runner lock, and every
        # later server on that database would wait for it in vain.
        self.stop()
        raise AssertionError(f"Odoo did not start in time:\n{self.log_tail()}")

    def kill(self):
        """kill -9 of the whole process group: master, workers, job runner."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, size=4000):
        return self.log()[-size:]

    def call(self, model, method, *args, login="admin", password="admin", **kwargs):
        """execute_kw over JSON-RPC (logged in once per login: a login hashes the password,
        which costs more than most calls)."""
        self._rpc_id += 1
        uid = self._uids.get((login, password))
        if uid is None:
            uid = self._jsonrpc("common", "login", [self.database, login, password])
            self._uids[(login, password)] = uid
        return self._jsonrpc(
            "object",
            "execute_kw",
            [self.database, uid, password, model, method, list(args), kwargs],
        )

    def _jsonrpc(self, service, method, args):
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "call",
                "id": self._rpc_id,
                "params": {"service": service, "method": method, "args": args},
            }
        )
        request = urllib.request.Request(
            f"{self.url}/jsonrpc", data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise AssertionError(answer["error"])
        return answer.get("result")
