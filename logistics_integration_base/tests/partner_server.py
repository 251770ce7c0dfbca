"""A real HTTP server on 127.0.0.1 that answers from a script: the partner at the edge of the
world, for tests of outbound delivery (requests talks to it over real sockets)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from odoo.tests import common as odoo_test_common


def closed_port():
    """A port of 127.0.0.1 where nothing listens (bound, then released): a partner that is
    not there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LoopbackPartnerMixin:
    """For test cases that call a ScriptedPartner: Odoo's test guard stretches every timeout
    under 10 s (and chokes on a (connect, read) tuple); loopback calls keep their real ones."""

    @classmethod
    def _request_handler(cls, session, request, /, **kw):
        if urlsplit(request.url).hostname == "127.0.0.1":
            return odoo_test_common._super_send(session, request, **kw)
        return super()._request_handler(session, request, **kw)


class ScriptedPartner:
    def __init__(self):
        self.script = []  # (status, headers, body, delay) answered in order; then 200
        self.requests = []  # (method, path, headers, body) received
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                partner.requests.append((self.command, self.path, dict(self.headers), body))
                status, headers, answer, delay = (
                    partner.script.pop(0) if partner.script else (200, {}, {"ok": True}, 0)
                )
                if delay:
                    time.sleep(delay)
                raw = isinstance(answer, bytes)
                payload = answer if raw else json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header(
                        "Content-Type", "application/octet-stream" if raw else "application/json"
                    )
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (read timeout), as a real partner would see it.
                    return

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, status, body=None, headers=None, delay=0):
        self.script.append((status, headers or {}, body or {}, delay))
        return self

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
