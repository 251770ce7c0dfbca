"""What every partner sandbox shares: a real HTTP server on 127.0.0.1, the admin API that tests
and the demo steer it with, fault injection on the way in, and webhook delivery with a partner's
retry habits (and faults) on the way out.

A sandbox has to fail the way partners fail (5xx before or after the effect, latency, hangs,
downtime, duplicate / reordered / malformed / badly signed webhooks) so that the integration is
tested against those failures over real HTTP instead of against mocks. Standard library only: a
sandbox runs with any Python 3.10+ without installing anything.
"""

import argparse
import heapq
import itertools
import json
import logging
import random
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_logger = logging.getLogger(__name__)

HOST = "127.0.0.1"

# Every fault is off by default; POST /_admin/faults merges new values into these.
FAULT_DEFAULTS = {
    "error_rate": 0.0,
    "error_after_rate": 0.0,
    "latency_ms": 0.0,
    "timeout_rate": 0.0,
    "hang_seconds": 30.0,
    "down": False,
    "down_for_seconds": 0.0,
    "duplicate_rate": 0.0,
    "out_of_order": False,
    "malformed_rate": 0.0,
    "bad_signature_rate": 0.0,
    "seed": None,
}
FRACTION_FAULTS = frozenset(
    {
        "error_rate",
        "error_after_rate",
        "timeout_rate",
        "duplicate_rate",
        "malformed_rate",
        "bad_signature_rate",
    }
)
DURATION_FAULTS = frozenset({"latency_ms", "hang_seconds", "down_for_seconds"})
SWITCH_FAULTS = frozenset({"down", "out_of_order"})

RETRY_AFTER_SECONDS = 5
DELIVERY_TIMEOUT_SECONDS = 10
# A failed webhook is retried this many times, after 1, 2, 4 ... times the base delay.
DELIVERY_RETRIES = 5
# The request and delivery logs keep the newest entries only, so a long demo does not grow
# without bound.
LOG_LIMIT = 10_000
# Idle keep-alive connections are dropped after this, so they do not pin handler threads.
IDLE_CONNECTION_SECONDS = 60


def recorded_at():
    """The time stamp of an admin log entry (received requests, deliveries)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def json_bytes(document):
    return json.dumps(document).encode("utf-8")


def body_for_log(raw):
    """A body as the admin logs show it: the parsed JSON, else the text, else None."""
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class ObjectClock:
    """Time stamps for the updates of one business object (a parcel, an order): now, but always
    after the previous one, so a receiver can order them and spot reordered deliveries even when
    a test advances several steps within one second."""

    def __init__(self, start=None):
        self._last = start

    def next(self):
        moment = datetime.now(timezone.utc).replace(microsecond=0)
        if self._last is not None and moment <= self._last:
            moment = self._last + timedelta(seconds=1)
        self._last = moment
        return moment


class MalformedBody(ValueError):
    """The request body is not the JSON the endpoint expects."""


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: object  # http.client.HTTPMessage: case-insensitive look-ups
    raw_body: bytes

    def json(self):
        """The parsed JSON body (None when empty); MalformedBody when it is not JSON."""
        if not self.raw_body:
            return None
        try:
            return json.loads(self.raw_body)
        except ValueError as error:
            raise MalformedBody(f"the body is not valid JSON: {error}") from None

    def header(self, name, default=""):
        return self.headers.get(name, default)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


def json_response(status, document, headers=None):
    return Response(status, json_bytes(document), "application/json", dict(headers or {}))


class RequestRejected(Exception):
    """Raised by an endpoint to answer with ``response`` (a 4xx) instead of going on."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class Route:
    """An endpoint. ``kind`` decides what the sandbox does around the handler:

    - ``api``: the partner's API: recorded, subject to faults, authenticated, idempotent on
      ``Idempotency-Key`` for POST;
    - ``public``: served without authentication nor faults (files a partner hosts elsewhere,
      e.g. label PDFs on a CDN);
    - ``admin``: the sandbox's own steering API, never faulted nor recorded.
    """

    method: str
    pattern: re.Pattern
    handler: Callable
    kind: str = "api"


def route(method, pattern, handler, kind="api"):
    return Route(method, re.compile(f"^{pattern}$"), handler, kind)


class Scheduler:
    """Runs callables at their due time, one after the other, on one background thread.

    One thread keeps the order: steps of a partner's timeline (or first delivery attempts) go
    out in the order they were due, which tests of ordering and of out-of-order faults rely on.
    """

    def __init__(self, name):
        self._name = name
        self._queue = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._closed = False
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def call_later(self, delay, function, *args):
        with self._condition:
            due = time.monotonic() + max(0.0, delay)
            heapq.heappush(self._queue, (due, next(self._sequence), function, args))
            self._condition.notify()

    def clear(self):
        with self._condition:
            self._queue.clear()

    def close(self):
        with self._condition:
            self._closed = True
            self._queue.clear()
            self._condition.notify()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _next_due(self):
        with self._condition:
            while not self._closed:
                if not self._queue:
                    self._condition.wait()
                    continue
                wait = self._queue[0][0] - time.monotonic()
                if wait <= 0:
                    _due, _sequence, function, args = heapq.heappop(self._queue)
                    return function, args
                self._condition.wait(wait)
            return None

    def _run(self):
        while (task := self._next_due()) is not None:
            function, args = task
            try:
                function(*args)
            except Exception:
                _logger.exception("%s: scheduled %s failed", self._name, function.__name__)


@dataclass
class _Outgoing:
    """One notification on its way out, after the fault dice were rolled for it."""

    body: bytes
    bad_signature: bool
    copies: int
    transport: Callable


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LogisticsSandbox/1.0"
    timeout = IDLE_CONNECTION_SECONDS

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    def do_PATCH(self):
        self._serve()

    def do_DELETE(self):
        self._serve()

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self):
        sandbox = self.server.sandbox
        try:
            raw = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query), self.headers, raw)
        try:
            response = sandbox.handle(request)
        except Exception:
            _logger.exception("%s sandbox: %s %s failed", sandbox.name, self.command, self.path)
            response = json_response(500, {"error": "sandbox_failure"})
        self._send(response)

    def _send(self, response):
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:
            # The client gave up (a timeout fault made it wait too long): nothing to answer.
            self.close_connection = True

    def log_message(self, format, *args):
        # Requests go to the logger (shown with --verbose), not straight to stderr.
        _logger.debug("%s sandbox: %s", self.server.sandbox.name, format % args)


class Sandbox:
    """A partner system on 127.0.0.1: subclasses add their API routes and business state.

    ``port=0`` binds a free port; ``.port`` and ``.url`` give the real one after ``start()``.
    ``retry_base_seconds`` is the first delay between webhook delivery attempts (partners use
    about a second; tests may shorten it).
    """

    name = "sandbox"

    def __init__(self, *, port=0, step_seconds=2.0, retry_base_seconds=1.0):
        self.requested_port = port
        self.step_seconds = float(step_seconds)
        self.retry_base_seconds = float(retry_base_seconds)
        self.port = None
        # Handlers and timeline steps change state under this lock; network waits never hold it.
        self.lock = threading.RLock()
        # Bumped by a reset: timeline steps and delivery retries of an earlier generation drop.
        self.generation = 0
        self.stopping = threading.Event()
        self.timeline = Scheduler(f"{self.name}-timeline")
        self.outbox = Scheduler(f"{self.name}-outbox")
        self.faults = dict(FAULT_DEFAULTS)
        self._down_until = 0.0
        self._rng = random.Random()  # noqa: S311 - fault dice, not cryptography
        self._rng_lock = threading.Lock()
        self._received = deque(maxlen=LOG_LIMIT)
        self._deliveries = deque(maxlen=LOG_LIMIT)
        self._idempotent_responses = {}
        self._held = {}
        self._server = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._routes = [
            route("GET", "/_admin/health", self._admin_health, "admin"),
            route("GET", "/_admin/faults", self._admin_get_faults, "admin"),
            route("POST", "/_admin/faults", self._admin_set_faults, "admin"),
            route("POST", "/_admin/reset", self._admin_reset, "admin"),
            route("GET", "/_admin/received", self._admin_received, "admin"),
            route("GET", "/_admin/deliveries", self._admin_deliveries, "admin"),
            route("GET", "/_admin/state", self._admin_state, "admin"),
            route("GET", "/_admin/config", self._admin_get_config, "admin"),
            route("POST", "/_admin/config", self._admin_set_config, "admin"),
            route("POST", "/_admin/advance", self._admin_advance, "admin"),
            *self.routes(),
        ]

    # --- what a partner sandbox defines -----------------------------------------------------------
    def routes(self):
        """The partner's endpoints (api / public) and any extra admin endpoints."""
        return []

    def authenticate(self, request):
        """True when the request carries the partner's credentials."""
        raise NotImplementedError

    def error_response(self, status, code, message, **extra):
        """An error answer in the partner's own shape."""
        return json_response(status, {"error": code, "message": message, **extra})

    def reset_state(self):
        """Forget the business state (called under the lock)."""

    def business_state(self):
        """The document of GET /_admin/state."""
        return {}

    def configure(self, values):
        """Apply POST /_admin/config; raise ValueError on a bad value."""
        if values:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(values))}")

    def public_config(self):
        """The document of GET /_admin/config (secrets shown as set / not set only)."""
        return {"step_seconds": self.step_seconds}

    def advance(self, document):
        """Emit the next step of one business object now (POST /_admin/advance)."""
        raise RequestRejected(admin_error(404, "this sandbox has nothing to advance"))

    # --- life cycle -------------------------------------------------------------------------------
    @property
    def url(self):
        if self.port is None:
            raise RuntimeError(f"the {self.name} sandbox is not started")
        return f"http://{HOST}:{self.port}"

    def start(self):
        """Bind and serve in background threads; returns self, so ``X(...).start()`` reads well."""
        self._server = _SandboxHTTPServer((HOST, self.requested_port), _Handler)
        self._server.sandbox = self
        self.port = self._server.server_address[1]
        self.timeline.start()
        self.outbox.start()
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-http",
            daemon=True,
        ).start()
        return self

    def stop(self):
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.timeline.close()
        self.outbox.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # --- requests ---------------------------------------------------------------------------------
    def handle(self, request):
        """Answer one request: route it, and for the partner's API apply the faults around it."""
        found, match, allowed = self._match(request)
        if found is None:
            status, code = (405, "METHOD_NOT_ALLOWED") if allowed else (404, "NOT_FOUND")
            if request.path.startswith("/_admin/"):
                return admin_error(status, f"no admin endpoint {request.method} {request.path}")
            self._record(request)
            return self.error_response(status, code, f"no {request.method} {request.path}")
        if found.kind != "api":
            return self._call(found, request, match)
        self._record(request)
        faulted = self._fault_before()
        if faulted is not None:
            return faulted
        if not self.authenticate(request):
            return self.error_response(401, "UNAUTHORIZED", "missing or wrong API key")
        response = self._call_idempotent(found, request, match)
        if self.chance(self.faults["error_after_rate"]):
            # The effect is applied, the answer is "lost": what tests of idempotency need.
            return self.error_response(500, "INTERNAL_SERVER_ERROR", "injected failure (after)")
        return response

    def _match(self, request):
        allowed = False
        for candidate in self._routes:
            match = candidate.pattern.match(request.path)
            if match is None:
                continue
            if candidate.method == request.method:
                return candidate, match, True
            allowed = True
        return None, None, allowed

    def _fault_before(self):
        faults = dict(self.faults)
        if faults["latency_ms"]:
            self.stopping.wait(faults["latency_ms"] / 1000)
        if faults["down"] or time.monotonic() < self._down_until:
            response = self.error_response(503, "SERVICE_UNAVAILABLE", "injected downtime")
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if self.chance(faults["timeout_rate"]):
            self.stopping.wait(faults["hang_seconds"])
        if self.chance(faults["error_rate"]):
            return self.error_response(500, "INTERNAL_SERVER_ERROR", "injected failure")
        return None

    def _call(self, found, request, match):
        with self.lock:
            try:
                return found.handler(request, match)
            except RequestRejected as rejected:
                return rejected.response
            except MalformedBody as error:
                if found.kind == "admin":
                    return admin_error(400, str(error))
                return self.error_response(400, "BAD_REQUEST", str(error))

    def _call_idempotent(self, found, request, match):
        """A POST repeated with the same Idempotency-Key gets the first answer again and has no
        new effect (as Stripe and EasyPost do); server errors are not kept, so a retry after a
        5xx runs again. Keys are scoped to the endpoint."""
        key = request.header("Idempotency-Key")
        if request.method != "POST" or not key:
            return self._call(found, request, match)
        scope = (request.method, request.path, key)
        with self.lock:
            stored = self._idempotent_responses.get(scope)
            if stored is not None:
                headers = {**stored.headers, "Idempotent-Replayed": "true"}
                return Response(stored.status, stored.body, stored.content_type, headers)
            response = self._call(found, request, match)
            if response.status < 500:
                self._idempotent_responses[scope] = response
            return response

    def _record(self, request):
        headers = {
            name.lower(): value
            for name, value in request.headers.items()
            if name.lower() != "authorization"
        }
        entry = {
            "method": request.method,
            "path": request.path,
            "headers": headers,
            "body": body_for_log(request.raw_body),
            "at": recorded_at(),
        }
        with self.lock:
            self._received.append(entry)

    # --- faults -----------------------------------------------------------------------------------
    def chance(self, fraction):
        """True with probability ``fraction``, from the seeded fault dice."""
        if fraction <= 0:
            return False
        if fraction >= 1:
            return True
        with self._rng_lock:
            return self._rng.random() < fraction

    def set_faults(self, values):
        """Merge fault settings; raise ValueError on an unknown name or a bad value."""
        if not isinstance(values, dict):
            raise ValueError("faults must be a JSON object")
        unknown = set(values) - set(FAULT_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        checked = {key: _checked_fault(key, value) for key, value in values.items()}
        with self.lock:
            self.faults.update(checked)
            if "seed" in checked:
                with self._rng_lock:
                    self._rng = random.Random(checked["seed"])  # noqa: S311 - fault dice
            if "down_for_seconds" in checked:
                self._down_until = time.monotonic() + checked["down_for_seconds"]
        return self.fault_settings()

    def fault_settings(self):
        settings = dict(self.faults)
        settings["down_for_seconds"] = round(max(0.0, self._down_until - time.monotonic()), 3)
        return settings

    def reset(self):
        """Back to a fresh partner: no state, no faults, empty logs, nothing pending. The
        configuration (webhook URL, secret, step delay, scenarios ...) is kept."""
        with self.lock:
            self.generation += 1
            self.timeline.clear()
            self.outbox.clear()
            self.faults = dict(FAULT_DEFAULTS)
            self._down_until = 0.0
            with self._rng_lock:
                self._rng = random.Random()  # noqa: S311 - fault dice
            self._received.clear()
            self._deliveries.clear()
            self._idempotent_responses.clear()
            self._held.clear()
            self.reset_state()

    # --- notifications out ------------------------------------------------------------------------
    def publish(self, object_key, body, final, transport):
        """Send one notification about ``object_key`` (a tracker, an order) through
        ``transport(body, bad_signature)``, with the delivery faults applied.

        ``out_of_order`` holds each update until the next one of the same object, which then goes
        first; ``final`` (the object's last update) flushes what is held. Called under the lock.
        """
        faults = self.faults
        if self.chance(faults["malformed_rate"]):
            body = body[: max(1, len(body) // 2)]
        outgoing = _Outgoing(
            body=body,
            bad_signature=self.chance(faults["bad_signature_rate"]),
            copies=2 if self.chance(faults["duplicate_rate"]) else 1,
            transport=transport,
        )
        held = self._held.pop(object_key, None)
        if faults["out_of_order"] and held is None and not final:
            self._held[object_key] = outgoing
            return
        for item in (outgoing, held):
            if item is not None:
                for _copy in range(item.copies):
                    item.transport(item.body, item.bad_signature)

    def deliver_http(self, url, body, headers_for):
        """POST ``body`` to ``url`` in the background, retried on a non-2xx answer or a
        connection error like a partner does. ``headers_for()`` gives the (signature) headers
        of each attempt, so a time-stamped signature is fresh on every retry."""
        if not url:
            self._log_delivery(None, body, None, "no callback URL configured", 1)
            return
        self.outbox.call_later(0, self._attempt, url, body, headers_for, 1, self.generation)

    def log_file_delivery(self, path, body):
        """Record a notification written as a file (file-drop partners)."""
        self._log_delivery(path.as_uri(), body, "written", None, 1)

    def _attempt(self, url, body, headers_for, attempt, generation):
        if generation != self.generation or self.stopping.is_set():
            return
        headers = {"Content-Type": "application/json", "User-Agent": f"{self.name}-sandbox"}
        headers.update(headers_for())
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        status = error = None
        try:
            with self._opener.open(request, timeout=DELIVERY_TIMEOUT_SECONDS) as answer:
                status = answer.status
                answer.read()
        except urllib.error.HTTPError as failure:
            status = failure.code
            failure.close()
        except (urllib.error.URLError, OSError) as failure:
            error = str(getattr(failure, "reason", failure))
        if generation != self.generation:
            return  # reset while this attempt was on the wire: it belongs to the old run
        self._log_delivery(url, body, status, error, attempt)
        delivered = status is not None and 200 <= status < 300
        if not delivered and attempt <= DELIVERY_RETRIES:
            delay = self.retry_base_seconds * 2 ** (attempt - 1)
            self.outbox.call_later(
                delay, self._attempt, url, body, headers_for, attempt + 1, generation
            )

    def _log_delivery(self, url, body, status, error, attempt):
        entry = {
            "url": url,
            "body": body.decode("utf-8", "replace"),
            "status": status,
            "error": error,
            "attempt": attempt,
            "at": recorded_at(),
        }
        with self.lock:
            self._deliveries.append(entry)

    def deliveries(self):
        with self.lock:
            return list(self._deliveries)

    def received(self):
        with self.lock:
            return list(self._received)

    # --- admin API --------------------------------------------------------------------------------
    def _admin_health(self, request, match):
        return json_response(200, {"sandbox": self.name, "url": self.url})

    def _admin_get_faults(self, request, match):
        return json_response(200, self.fault_settings())

    def _admin_set_faults(self, request, match):
        try:
            return json_response(200, self.set_faults(request.json() or {}))
        except ValueError as error:
            return admin_error(400, str(error))

    def _admin_reset(self, request, match):
        self.reset()
        return json_response(200, {"reset": True})

    def _admin_received(self, request, match):
        return json_response(200, self.received())

    def _admin_deliveries(self, request, match):
        return json_response(200, self.deliveries())

    def _admin_state(self, request, match):
        return json_response(200, self.business_state())

    def _admin_get_config(self, request, match):
        return json_response(200, self.public_config())

    def _admin_set_config(self, request, match):
        values = request.json() or {}
        if not isinstance(values, dict):
            return admin_error(400, "the configuration must be a JSON object")
        try:
            self.configure(dict(values))
        except ValueError as error:
            return admin_error(400, str(error))
        return json_response(200, self.public_config())

    def _admin_advance(self, request, match):
        document = request.json() or {}
        if not isinstance(document, dict):
            return admin_error(400, "expected a JSON object")
        return json_response(200, self.advance(document))


def admin_error(status, message):
    return json_response(status, {"error": message})


def _checked_fault(key, value):
    if key == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("seed must be an integer or null")
        return value
    if key in SWITCH_FAULTS:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    if key in FRACTION_FAULTS and not 0 <= value <= 1:
        raise ValueError(f"{key} must be between 0 and 1")
    if key in DURATION_FAULTS and value < 0:
        raise ValueError(f"{key} must not be negative")
    return float(value)


# --- command line -----------------------------------------------------------------------------
def command_line_parser(name, description, default_port):
    """The options every sandbox takes on the command line."""
    parser = argparse.ArgumentParser(
        prog=f"{name}.py",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--port", type=int, default=default_port, help="port on 127.0.0.1; 0 picks a free one"
    )
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=2.0,
        help="delay between business steps; 0 or less: only POST /_admin/advance moves them",
    )
    parser.add_argument(
        "--faults",
        type=json.loads,
        default=None,
        help='initial faults as JSON, e.g. \'{"error_rate": 0.1, "seed": 7}\'',
    )
    parser.add_argument(
        "--retry-base-seconds",
        type=float,
        default=1.0,
        help="first delay between webhook delivery attempts (then doubled)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def serve_until_signalled(sandbox, faults=None, verbose=False):
    """Serve until SIGTERM or SIGINT; print the ready line the launcher waits for."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format=f"%(asctime)s sandbox {sandbox.name}: %(message)s",
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    try:
        sandbox.start()
    except OSError as error:
        print(f"ERROR: sandbox {sandbox.name} cannot listen: {error}", file=sys.stderr)
        return 1
    try:
        if faults:
            try:
                sandbox.set_faults(faults)
            except ValueError as error:
                print(f"ERROR: sandbox {sandbox.name}: --faults: {error}", file=sys.stderr)
                return 2
        print(f"sandbox {sandbox.name} listening on {sandbox.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    print(f"sandbox {sandbox.name} stopped", file=sys.stderr, flush=True)
    return 0
