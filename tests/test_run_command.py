"""README command 1: setup/run serves Odoo with the suite and the job runner behind nginx (the
web client's websocket included), starts the partner sandboxes and the demo stream whose orders
flow through them, and Ctrl-C stops every process it started."""

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import psutil
import websocket

from conftest import REPO_ROOT, free_port, setup_env

RUN_DB = "logistics_run_check"


def _wait_for_login_page(url, process, deadline):
    while time.monotonic() < deadline:
        assert process.poll() is None, "setup/run ended before serving the login page"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer in time")


def _processes_of(marker):
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and proc.pid != os.getpid():
            found.append(proc)
    return found


def _psql(query):
    return subprocess.run(
        ["psql", "-X", "-d", RUN_DB, "-tAc", query], capture_output=True, text=True, check=True
    ).stdout.strip()


def _events_from(backend_code):
    # backend_code is one of this file's constants, never outside input.
    return int(
        _psql(
            "SELECT count(*) FROM logistics_event e JOIN logistics_backend b"  # noqa: S608
            f" ON b.id = e.backend_id WHERE b.code = '{backend_code}'"
        )
    )


def test_run_serves_login_page_with_job_runner_and_stops_cleanly(tmp_path):
    http_port, odoo_http_port, gevent_port = free_port(), free_port(), free_port()
    sandbox_ports = {
        "LOGISTICS_SANDBOX_WMS_PORT": free_port(),
        "LOGISTICS_SANDBOX_CARRIER_PORT": free_port(),
        "LOGISTICS_SANDBOX_CHANNEL_PORT": free_port(),
        "LOGISTICS_SANDBOX_FINANCE_PORT": free_port(),
        "LOGISTICS_SANDBOX_ALERT_RECEIVER_PORT": free_port(),
    }
    log_path = tmp_path / "run.log"
    subprocess.run(["dropdb", "--if-exists", "--force", RUN_DB], check=True)
    with open(log_path, "w") as log:
        # A new session, like a terminal: Ctrl-C is SIGINT to the foreground process group.
        process = subprocess.Popen(
            [str(REPO_ROOT / "setup" / "run")],
            env=setup_env(
                LOGISTICS_DB=RUN_DB,
                LOGISTICS_HTTP_PORT=http_port,
                LOGISTICS_ODOO_HTTP_PORT=odoo_http_port,
                LOGISTICS_GEVENT_PORT=gevent_port,
                LOGISTICS_DEMO_EVERY=3,
                **sandbox_ports,
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{http_port}/web/login"
        assert _wait_for_login_page(url, process, time.monotonic() + 600) == 200
        deadline = time.monotonic() + 60
        while "queue job runner ready for db" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        assert _processes_of(f"-d {RUN_DB}"), "no Odoo process found for the run database"
        # The web client's websocket: through nginx to Odoo's gevent worker (Odoo's HTTP
        # workers answer /websocket with a 500, "Real-time connection lost").
        assert _processes_of(f"nginx-{http_port}/nginx.conf"), "no nginx in front of Odoo"
        # Odoo starts its gevent worker a few seconds after the HTTP workers (502 until then).
        deadline = time.monotonic() + 60
        while True:
            try:
                socket = websocket.create_connection(
                    f"ws://127.0.0.1:{http_port}/websocket", origin=url.removesuffix("/web/login")
                )
                break
            except websocket.WebSocketBadStatusException as error:
                assert error.status_code == 502 and time.monotonic() < deadline, error
                time.sleep(1)
        socket.close()
        for port in sandbox_ports.values():
            assert _processes_of(f"--port {port}"), f"no sandbox on port {port}"
        # The demo stream's orders go through the sandboxes: the WMS confirms, the carrier
        # sells labels and sends tracking (new events: the demo data has some of its own).
        before = {code: _events_from(code) for code in ("sandbox_wms", "sandbox_carrier")}
        deadline = time.monotonic() + 180
        while not (
            "demo stream: order" in log_path.read_text()
            and all(_events_from(code) > count for code, count in before.items())
        ):
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(2)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
    time.sleep(1)
    leftovers = _processes_of(f"-d {RUN_DB}") + [
        proc for port in sandbox_ports.values() for proc in _processes_of(f"--port {port}")
    ]
    leftovers += _processes_of(f"--database {RUN_DB}")  # the demo stream
    leftovers += _processes_of(f"nginx-{http_port}/nginx.conf")
    assert not leftovers, f"processes left behind after Ctrl-C: {leftovers}"
    output = log_path.read_text()
    assert "Traceback" not in output, output[-3000:]
    # nginx's files for this test's port, in the cache.
    proxy_dir = re.search(r"\(log: (.+)/error\.log\)", output).group(1)
    shutil.rmtree(proxy_dir)
    # The suite's addons are in the database the run command created.
    installed = _psql(
        "SELECT count(*) FROM ir_module_module"
        " WHERE name LIKE 'logistics\\_%' AND state = 'installed'"
    )
    assert installed == "5"
    subprocess.run(["dropdb", "--if-exists", "--force", RUN_DB], check=True)
