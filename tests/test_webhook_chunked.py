"""End to end: a 200 MB webhook body sent chunked (no Content-Length) is read no further than
the size limit, then refused with 413, against a real Odoo server (issue 11, item 1). Before,
the whole body was read into memory first: a 150 MB body took a worker from 179 to 329 MiB."""

import json
import os
import select
import socket
import time

from odoo_server import OdooServer

# 200 MB, not 50: this machine's TCP buffers (tcp_rmem max 32 MiB, wmem 4 MiB) take tens of MB
# that the server never reads, which the client can't tell from read bytes at 50 MB.
BODY = 200 * 1024 * 1024
CHUNK = 64 * 1024
LIMIT = 1_048_576  # an unknown code gets the default limit


def send_chunked(port, path, total):
    """POST ``total`` bytes chunked, stopping as soon as the server answers; returns (bytes
    sent, the answer's status line and body)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    chunk = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
    sent = 0
    try:
        while sent < total:
            readable, _w, _x = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered: stop sending
            sock.sendall(chunk)
            sent += CHUNK
        else:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            part = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not part:
            break
        answer += part
        if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
            break
    sock.close()
    head, _sep, body = answer.partition(b"\r\n\r\n")
    return sent, head.split(b"\r\n")[0].decode(), body


def test_a_chunked_200_mb_body_is_read_no_further_than_the_limit(tmp_path):
    server = OdooServer(os.environ["LOGISTICS_E2E_DB"], tmp_path / "odoo.log").start()
    try:
        sent, status, body = send_chunked(server.http_port, "/logistics/webhook/chunky", BODY)
        assert " 413 " in status, (status, body, server.log_tail())
        assert json.loads(body)["error"] == f"body over the {LIMIT}-byte limit (read no further)"
        # The server stopped reading at the limit: what the client could push beyond it is
        # what the sockets' buffers hold (tens of MB at most here), far from the 200 MB.
        assert sent < BODY // 2, sent
    finally:
        server.stop()
