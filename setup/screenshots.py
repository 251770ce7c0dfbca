"""Screenshots of the running suite for the README, taken in headless Chromium.

Run it while `setup/run` is running (from the repository root):

    setup/screenshots                       # every page, into docs/screenshots/
    setup/screenshots shipments exceptions  # only these pages
    setup/screenshots --url http://127.0.0.1:8069 --db logistics --login admin --password admin

(`setup/screenshots` runs this file with the suite's virtualenv's python; pages: see PAGES.)

It starts Chromium (`--chromium`, default: the first of chromium, chromium-browser,
google-chrome on the PATH) with a throw-away profile, drives it over the DevTools protocol
(`websocket-client`, installed in the suite's virtualenv), logs in through /web/login, opens
each page of PAGES, waits until Odoo has rendered it (no loading indicator, no request in
flight for half a second) and saves a 1400x900 PNG per page. It exits non-zero with a message
when Odoo or Chromium can't be reached, the login is refused, or a page shows an error dialog
or never finishes loading.
"""

import argparse
import base64
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import websocket

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1400, 900
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={WIDTH},{HEIGHT}",
    "--hide-scrollbars",
    "--remote-debugging-port=0",  # Chromium picks a free port and writes it to DevToolsActivePort
]
ACTION = "/odoo/action-logistics_integration_base."

# name (the PNG's file name), the client URL, optionally the record to open in it ((model,
# domain, order) of a search whose first result's id is appended to the URL) or the reference
# to give it ((model, domain, order, field): that field of the first result, as ?reference=),
# the element to click (a tab, say) and the element to scroll into view before the shot.
PAGES = [
    # the SLA dashboard, the Logistics app's home: tiles, then the charts of the last 30 days
    {"name": "dashboard", "path": "/odoo/logistics-dashboard"},
    {"name": "shipments", "path": ACTION + "logistics_shipment_action"},
    {
        "name": "shipment",
        "path": ACTION + "logistics_shipment_action",
        "record": (
            "logistics.shipment",
            # the latest parcel of the demo stream delivered with proof of delivery
            [["status_code", "=", "delivered"], ["delivered_at", "!=", False]],
            "id desc",
        ),
        # its packages: weight, tracking number, own status, label
        "click": '.o_notebook a.nav-link[name="packages"]',
        "scroll_to": ".o_notebook",
    },
    {
        "name": "transfer",
        "path": "/odoo/action-stock.action_picking_tree_all",
        # a delivered transfer of the demo's shipping method: carrier, tracking reference and
        # its Tracking button, carrier price, Labels (PDF)
        "record": (
            "stock.picking",
            [
                ["state", "=", "done"],
                ["carrier_tracking_ref", "!=", False],
                ["carrier_price", ">", 0],
                ["carrier_id.delivery_type", "=", "logistics"],
            ],
            "id desc",
        ),
        # the carrier, tracking reference and carrier price are on Odoo's Additional Info tab
        "click": '.o_notebook a.nav-link[name="extra"]',
    },
    {"name": "exceptions", "path": ACTION + "logistics_exception_action"},
    {
        "name": "timeline",
        "path": "/odoo/logistics-timeline",
        # a parcel whose label call waited on refused credentials, else the latest delivered
        "reference": [
            # a parcel whose carrier call was refused (401), then went through
            (
                "logistics.message",
                [["attempt_ids.http_status", "=", 401], ["shipment_id", "!=", False]],
                "id desc",
                "shipment_id",
            ),
            # else the latest delivered parcel
            ("logistics.shipment", [["status_code", "=", "delivered"]], "id desc", "name"),
        ],
    },
    {
        "name": "carrier_invoice",
        "path": "/odoo/action-logistics_finance_sync.logistics_carrier_invoice_action",
        # an audited invoice of the finance sandbox with lines outside tolerance
        "record": ("logistics.carrier.invoice", [["audit_state", "=", "exceptions"]], "id desc"),
    },
    {
        "name": "freight_lines",
        "path": "/odoo/action-logistics_finance_sync.logistics_carrier_invoice_line_action",
    },
    {
        "name": "freight_reconciliation",
        "path": (
            "/odoo/action-logistics_finance_sync.logistics_freight_reconciliation_report_action"
        ),
    },
    {"name": "dead_letters", "path": ACTION + "logistics_message_action_dead"},
    {"name": "webhook_refusals", "path": ACTION + "logistics_webhook_refusal_action"},
    {"name": "backends", "path": ACTION + "logistics_backend_action"},
    {
        "name": "backend",
        "path": ACTION + "logistics_backend_action",
        # the carrier: its health, the webhook URLs and Test Connection
        "record": ("logistics.backend", [["code", "=", "sandbox_carrier"]], "id"),
    },
]

# A page is ready when this returns "ready"; anything else says what it still waits for.
READY_CHECK = """
(() => {
    if (document.readyState !== "complete") return "document loading";
    if (document.querySelector(".o_error_dialog"))
        return "error: " + (document.querySelector(".o_dialog")?.innerText || "").slice(0, 400);
    if (document.querySelector(".o_loading_indicator, .o_blockUI")) return "loading indicator";
    if (!document.querySelector(
        ".o_action_manager .o_view_controller, .o_action_manager .o_logistics_timeline_entry, "
        + ".o_action_manager .o_logistics_dashboard_tile"
    )) return "no view yet";
    return "ready";
})()
"""


class Failure(Exception):
    """A reason to stop, with the message the user reads."""


class DevTools:
    """A minimal Chrome DevTools protocol client over one page target."""

    def __init__(self, websocket_url):
        self.socket = websocket.create_connection(websocket_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.requests_in_flight = {}  # request id: URL, of the current document's requests
        self.loader_id = None
        self.last_network_activity = time.monotonic()

    def call(self, method, **params):
        self.next_id += 1
        call_id = self.next_id
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise Failure(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
            self._on_event(message)

    def pump_events(self, seconds):
        """Read the events that arrive within `seconds` (network activity is tracked)."""
        self.socket.settimeout(seconds)
        try:
            while True:
                self._on_event(json.loads(self.socket.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.socket.settimeout(30)

    def _on_event(self, message):
        method = message.get("method", "")
        params = message.get("params", {})
        if method == "Network.requestWillBeSent":
            # A request of the previous document may never report its end: not ours to wait for.
            if params.get("loaderId") == self.loader_id:
                self.requests_in_flight[params["requestId"]] = params["request"]["url"]
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self.requests_in_flight.pop(params["requestId"], None)
        else:
            return
        self.last_network_activity = time.monotonic()

    def evaluate(self, expression):
        result = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise Failure(f"JavaScript failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def navigate(self, url):
        self.requests_in_flight.clear()
        self.loader_id = self.call("Page.navigate", url=url).get("loaderId")

    def wait_until_ready(self, timeout, check=READY_CHECK, idle_seconds=0.5):
        """Wait until `check` says "ready" and no request was in flight for `idle_seconds`."""
        deadline = time.monotonic() + timeout
        state = "not checked"
        while time.monotonic() < deadline:
            self.pump_events(0.2)
            state = self.evaluate(check)
            if state.startswith("error"):
                raise Failure(f"the page shows an error dialog: {state[7:]}")
            network_idle = (
                not self.requests_in_flight
                and time.monotonic() - self.last_network_activity >= idle_seconds
            )
            if state == "ready" and network_idle:
                # Last resort for what no selector tells: fonts, charts and transitions.
                self.pump_events(0.7)
                return
        in_flight = ", ".join(self.requests_in_flight.values()) or "none"
        raise Failure(
            f"the page was not ready after {timeout} s ({state}; requests in flight: {in_flight})"
        )

    def screenshot(self, path):
        data = self.call(
            "Page.captureScreenshot",
            format="png",
            clip={"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT, "scale": 1},
        )["data"]
        path.write_bytes(base64.b64decode(data))


def check_odoo(url):
    try:
        with urllib.request.urlopen(f"{url}/web/login", timeout=15) as response:  # noqa: S310
            response.read()
    except (urllib.error.URLError, OSError) as error:
        raise Failure(
            f"Odoo does not answer at {url}/web/login ({error}).\n"
            "Start it with 'setup/run' (and wait for 'queue job runner ready'), or pass --url."
        ) from error


def find_chromium(wanted):
    for candidate in [wanted] if wanted else ["chromium", "chromium-browser", "google-chrome"]:
        found = shutil.which(candidate)
        if found:
            return found
    raise Failure(
        f"no Chromium found ({wanted or 'chromium, chromium-browser, google-chrome'}).\n"
        "Install it: 'apt-get update && apt-get install -y chromium', or pass --chromium PATH."
    )


def start_chromium(executable, profile_dir):
    """Start headless Chromium; return the process and the DevTools URL of its page."""
    process = subprocess.Popen(  # noqa: S603 - our own arguments, no shell
        [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    port_file = pathlib.Path(profile_dir) / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace")[-2000:]
            raise Failure(f"Chromium ({executable}) exited with {process.returncode}:\n{stderr}")
        if time.monotonic() > deadline:
            process.kill()
            raise Failure(f"Chromium ({executable}) did not open its DevTools port within 30 s.")
        time.sleep(0.1)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        targets = json.loads(response.read())
    page = next(target for target in targets if target["type"] == "page")
    return process, page["webSocketDebuggerUrl"]


def log_in(browser, url, database, login, password, timeout):
    browser.navigate(f"{url}/web/login?db={database}")
    browser.wait_until_ready(timeout, check='document.readyState === "complete" ? "ready" : "no"')
    browser.evaluate(
        f"""(() => {{
            document.querySelector("input[name=login]").value = {json.dumps(login)};
            document.querySelector("input[name=password]").value = {json.dumps(password)};
            document.querySelector("form.oe_login_form").requestSubmit();
        }})()"""
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        browser.pump_events(0.3)
        state = browser.evaluate(
            """document.readyState === "complete" && location.pathname.startsWith("/web/login")
                ? (document.querySelector(".alert-danger")?.innerText || "still on login")
                : (document.readyState === "complete" ? "logged in" : "loading")"""
        )
        if state == "logged in":
            return
        if state not in ("loading", "still on login"):
            raise Failure(f"login as {login!r} on database {database!r} refused: {state}")
    raise Failure(f"login as {login!r} did not complete within {timeout} s")


def find_record(browser, model, domain, order, field="id"):
    """`field` (default: the id) of the first record of `model` matching `domain`, read with
    the browser's session."""
    params = {
        "model": model,
        "method": "search_read",
        "args": [domain],
        "kwargs": {"fields": [field], "limit": 1, "order": order},
    }
    answer = browser.evaluate(
        f"""fetch("/web/dataset/call_kw/{model}/search_read", {{
                method: "POST",
                headers: {{"Content-Type": "application/json"}},
                body: JSON.stringify(
                    {{jsonrpc: "2.0", method: "call", params: {json.dumps(params)}}}
                ),
            }}).then((response) => response.json())"""
    )
    if answer.get("error"):
        raise Failure(f"searching {model} failed: {answer['error'].get('data', {}).get('message')}")
    if not answer["result"]:
        raise Failure(f"no {model} matches {domain}: let the demo stream run a little longer")
    return answer["result"][0][field]


def find_reference(browser, searches):
    """The reference of the first of `searches` ((model, domain, order, field)) that finds a
    record: a char field's value, or a many2one's name."""
    for search in searches:
        try:
            value = find_record(browser, *search)
        except Failure:
            continue
        return value[1] if isinstance(value, list) else value
    raise Failure(f"no record for the reference ({searches}): let the demo stream run longer")


def take(browser, url, page, out_dir, timeout, attempts=2):
    path = page["path"]
    if "record" in page:
        path += f"/{find_record(browser, *page['record'])}"
    if "reference" in page:
        path += "?reference=" + urllib.parse.quote(find_reference(browser, page["reference"]))
    for attempt in range(1, attempts + 1):
        browser.navigate(url + path)
        try:
            browser.wait_until_ready(timeout)
        except Failure as failure:
            if attempt == attempts:
                raise Failure(f"{page['name']} ({path}): {failure}") from failure
            print(f"  {page['name']}: {failure}; retrying", file=sys.stderr)
            continue
        if "click" in page:
            browser.evaluate(f"document.querySelector({json.dumps(page['click'])})?.click()")
            browser.pump_events(0.5)
        if "scroll_to" in page:
            browser.evaluate(
                f"document.querySelector({json.dumps(page['scroll_to'])})?.scrollIntoView()"
            )
            browser.pump_events(0.3)
        target = out_dir / f"{page['name']}.png"
        browser.screenshot(target)
        print(f"  {target.relative_to(REPO_ROOT) if target.is_relative_to(REPO_ROOT) else target}")
        return


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help="names of the pages to take (default: all)")
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--db", default="logistics")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--chromium", help="Chromium executable (default: found on the PATH)")
    parser.add_argument("--out", type=pathlib.Path, default=REPO_ROOT / "docs" / "screenshots")
    parser.add_argument("--timeout", type=float, default=30, help="seconds per page")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    pages = [page for page in PAGES if not args.pages or page["name"] in args.pages]
    unknown = set(args.pages) - {page["name"] for page in PAGES}
    if unknown:
        raise Failure(
            f"unknown page(s) {', '.join(sorted(unknown))}; known: "
            + ", ".join(page["name"] for page in PAGES)
        )

    check_odoo(url)
    chromium = find_chromium(args.chromium)
    args.out.mkdir(parents=True, exist_ok=True)
    # Chromium's helper processes may still write to the profile while it exits.
    with tempfile.TemporaryDirectory(
        prefix="logistics-screenshots-", ignore_cleanup_errors=True
    ) as profile_dir:
        process, websocket_url = start_chromium(chromium, profile_dir)
        try:
            browser = DevTools(websocket_url)
            browser.call("Network.enable")
            browser.call("Page.enable")
            browser.call(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH,
                height=HEIGHT,
                deviceScaleFactor=1,
                mobile=False,
            )
            log_in(browser, url, args.db, args.login, args.password, args.timeout)
            print(f"logged in to {url} (database {args.db}) as {args.login}")
            for page in pages:
                take(browser, url, page, args.out, args.timeout)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        print(f"setup/screenshots: ERROR: {failure}", file=sys.stderr)
        sys.exit(1)
    except (websocket.WebSocketException, OSError) as error:
        print(
            f"setup/screenshots: ERROR: lost the connection to Chromium: {error}", file=sys.stderr
        )
        sys.exit(1)
