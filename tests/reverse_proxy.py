"""setup/run's reverse proxy (nginx, with the configuration setup/write_config.py writes) in
front of an OdooServer, for end-to-end tests: /websocket to Odoo's gevent port, everything else
to its HTTP workers."""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from odoo_server import REPO_ROOT  # noqa: F401 (puts setup/ on sys.path)
from write_config import proxy_config

from conftest import free_port


class ReverseProxy:
    def __init__(self, directory, server):
        """:param directory: the proxy's directory (configuration, pid, logs, temporary files)
        :param server: the OdooServer it fronts"""
        self.directory = Path(directory)
        self.server = server
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self, timeout=30):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        config = self.directory / "nginx.conf"
        self.directory.mkdir(parents=True, exist_ok=True)
        config.write_text(
            proxy_config(self.port, self.server.http_port, self.server.gevent_port, self.directory),
            encoding="utf-8",
        )
        with open(self.directory / "output.log", "a") as output:
            self.process = subprocess.Popen(
                [nginx, "-p", str(self.directory), "-c", str(config)],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"nginx did not listen on {self.port} in time:\n{self.log()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def log(self):
        parts = []
        for name in ("output.log", "error.log"):
            path = self.directory / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)
