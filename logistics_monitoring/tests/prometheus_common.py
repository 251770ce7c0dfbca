"""What the Prometheus tests share: the shipped files (rules, Grafana dashboard), Debian's
``promtool``, a Prometheus server of the test's own, and the metric names a PromQL expression
reads.

A missing binary fails the test that needs it (``setup/test`` checks for them first, and
``.ci/run`` installs Debian's ``prometheus`` package): a skipped test would prove nothing.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

import requests
import yaml

from odoo import fields
from odoo.tests import HttpCase

from ..controllers.scrape_token import TOKEN_VARIABLE

ADDON_DIR = Path(__file__).resolve().parents[1]
RULES_FILE = ADDON_DIR / "contrib" / "prometheus" / "logistics.rules.yml"
DASHBOARD_FILE = ADDON_DIR / "contrib" / "grafana" / "logistics-dashboard.json"
RULES_TEST_FILE = Path(__file__).resolve().parent / "prometheus" / "logistics_rules_test.yml"


def binary(name):
    """The path of Debian's ``prometheus`` or ``promtool``.

    :raises AssertionError: not installed, with what to install
    """
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not path:
        raise AssertionError(
            f"{name} is not installed: apt-get update && apt-get install -y prometheus"
        )
    return path


def promtool(*args, stdin=None, cwd=None):
    """Run ``promtool args…`` (60 s at most); returns the ``subprocess.CompletedProcess``
    (``returncode``, ``stdout``, ``stderr`` as text)."""
    return subprocess.run(
        [binary("promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def load_rules():
    """The rules file: ``{"recording": {name: expr}, "alerting": {name: rule dict}}``."""
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    answer = {"recording": {}, "alerting": {}}
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                answer["recording"][rule["record"]] = rule["expr"]
            else:
                answer["alerting"][rule["alert"]] = rule
    return answer


def load_dashboard():
    return json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))


def dashboard_panels(dashboard):
    """Every panel of the dashboard, those inside (collapsed) rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", ())


def dashboard_queries(dashboard):
    """``[(where, PromQL)]``: each panel target's ``expr`` and each template variable's query,
    as written (with Grafana's ``$variables``)."""
    queries = [
        (f"panel {panel['title']!r}", target["expr"])
        for panel in dashboard_panels(dashboard)
        for target in panel.get("targets", ())
    ]
    for variable in dashboard["templating"]["list"]:
        query = variable["query"]
        queries.append(
            (
                f"variable {variable['name']!r}",
                query["query"] if isinstance(query, dict) else query,
            )
        )
    return queries


def grafana_to_promql(expr, values=None):
    """``expr`` with Grafana's variables replaced as Grafana would before sending it to
    Prometheus: ``$__rate_interval`` and ``$__interval`` by ``1m``, the others by their value
    in ``values`` (default ``.*``, what "All" sends for a regex matcher)."""
    values = dict({"__rate_interval": "1m", "__interval": "1m"}, **(values or {}))
    return re.sub(
        r"\$\{?(\w+)\}?",
        lambda match: values.get(match.group(1), ".*"),
        expr,
    )


# PromQL's keywords and operators that read like names (Prometheus: promql/parser/lex.go).
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "start", "end"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MODIFIERS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr):
    """The metric names a PromQL expression (or Grafana's ``label_values(metric, label)``)
    reads: identifiers that are not functions, keywords, label names, grouping labels, string
    values or durations.

    :param str expr: a PromQL expression
    :return: set of str
    """
    expr = _STRINGS.sub(" ", grafana_to_promql(expr))
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range and subquery durations
    expr = _MODIFIERS.sub(" ", expr)
    label_values = re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*\w+\s*\)\s*", expr)
    if label_values:
        return {label_values.group(1)}
    names = set()
    for match in _NAME.finditer(expr):
        following = expr[match.end() :].lstrip()
        if following.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue  # a function or aggregation, or a keyword
        names.add(match.group())
    return names


def free_port():
    """A TCP port on 127.0.0.1 free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrometheusServer:
    """Debian's Prometheus server, run by a test: its own port, configuration and data
    directory in ``directory``, one scrape job ``logistics`` every second, the shipped rules
    evaluated every second. The package's own service (:9090) is left alone."""

    JOB = "logistics"

    def __init__(self, directory, target, token):
        """:param directory: a fresh directory (a ``tempfile.TemporaryDirectory``'s)
        :param target: ``host:port`` of the Odoo server to scrape (serving one database)
        :param token: the bearer token of ``/logistics/metrics``
        """
        self.directory = Path(directory)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.target = target
        self.token = token
        self.process = None

    def config(self):
        """prometheus.yml (Prometheus's configuration file format)."""
        return {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(RULES_FILE)],
            "scrape_configs": [
                {
                    "job_name": self.JOB,
                    "metrics_path": "/logistics/metrics",
                    "authorization": {"type": "Bearer", "credentials": self.token},
                    "static_configs": [{"targets": [self.target]}],
                }
            ],
        }

    def start(self, timeout=60):
        """Start the server and wait until it is ready (``/-/ready``).

        :raises AssertionError: it exited or was not ready in ``timeout`` seconds (with its log)
        """
        config = self.directory / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config()), encoding="utf-8")
        with open(self.directory / "prometheus.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    binary("prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"prometheus exited ({self.process.returncode}):\n{self.log()}"
                )
            try:
                ready = requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
            except requests.ConnectionError:
                ready = False  # not listening yet
            if ready:
                return self
            time.sleep(0.2)
        raise AssertionError(f"prometheus was not ready in {timeout} s:\n{self.log()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def log(self):
        path = self.directory / "prometheus.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def query(self, promql):
        """An instant query through Prometheus's HTTP API (``GET /api/v1/query``).

        :return: the result vector, ``[{"metric": {label: value}, "value": [time, "value"]}]``
        :raises AssertionError: Prometheus refused the query (its ``errorType`` and ``error``)
        """
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"{promql}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]["result"]

    def wait_for(self, promql, timeout=60):
        """The first non-empty answer of ``query(promql)``, polled every 0.5 s.

        :raises AssertionError: still empty after ``timeout`` seconds (with the scrape
            target's state and last error, from ``/api/v1/targets``)
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(promql)
            if result:
                return result
            time.sleep(0.5)
        targets = requests.get(f"{self.url}/api/v1/targets", timeout=10).json()
        raise AssertionError(
            f"no answer to {promql} in {timeout} s; targets: {targets['data']['activeTargets']}"
        )


class MetricsCase(HttpCase):
    """Records that give every family of ``/logistics/metrics`` at least one sample, and the
    scrape token ``TOKEN`` in the environment, which the endpoint reads per request.

    Sets ``wms`` (backend ``prom_wms``: 3 dead letters, events), ``carrier``
    (``prom_carrier``: its circuit open, a delivered call with attempts, a breached SLA due in
    the last hour), ``shipment``, ``dead_letters`` (3) and ``alert_rule`` (firing on
    ``prom_wms``)."""

    TOKEN = "prometheus-test-token"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        build_metrics_data(cls)

    def setUp(self):
        super().setUp()
        self.startPatcher(patch.dict(os.environ, {TOKEN_VARIABLE: self.TOKEN}))


def build_metrics_data(case):
    """The records of ``MetricsCase``, on ``case`` (a test class, in ``setUpClass``)."""
    env = case.env
    env["logistics.subscription"].search([]).unlink()
    # The SLA rows are written below, as the evaluation would: the policies stay out of it.
    env["logistics.sla.policy"].search([]).write({"active": False})
    now = fields.Datetime.now().replace(microsecond=0)
    Backend = env["logistics.backend"]
    case.wms = Backend.create({"name": "Prometheus WMS", "code": "prom_wms", "kind": "wms"})
    case.carrier = Backend.create(
        {"name": "Prometheus Carrier", "code": "prom_carrier", "kind": "carrier"}
    )
    warehouse = env["stock.warehouse"].search([("company_id", "=", env.company.id)], limit=1)
    Shipment = env["logistics.shipment"]
    case.shipment = Shipment.create(
        {
            "direction": "outgoing",
            "warehouse_id": warehouse.id,
            "wms_backend_id": case.wms.id,
            "carrier_backend_id": case.carrier.id,
        }
    )
    # Outgoing, no milestone yet: an order awaiting release.
    Shipment.create({"direction": "outgoing", "warehouse_id": warehouse.id})
    env["logistics.event"].ingest_events(
        case.wms.code,
        [
            {
                "type": code,
                "occurred_at": (now - timedelta(minutes=minutes)).isoformat() + "+00:00",
                "event_id": f"prom-{code}",
                "shipment_ref": case.shipment.name,
            }
            for code, minutes in (("wms_acknowledged", 30), ("picked", 20))
        ],
    )
    Message = env["logistics.message"]

    def message(backend, state, **values):
        return Message.create(
            dict(
                {
                    "direction": "outbound",
                    "backend_id": backend.id,
                    "operation": "order_release",
                    "state": state,
                    "state_changed_at": now - timedelta(minutes=5),
                },
                **values,
            )
        )

    case.dead_letters = 3
    for _count in range(case.dead_letters):
        message(case.wms, "dead", error_class="transient", http_status=503)
    delivered = message(case.carrier, "done", operation="label_buy", attempts=2)
    env["logistics.message.attempt"].create(
        [
            {
                "message_id": delivered.id,
                "number": number,
                "attempted_at": now - timedelta(minutes=6, seconds=-number),
                "http_status": status,
                "latency_ms": latency,
                "error_class": error_class,
            }
            for number, status, latency, error_class in (
                (1, 503, 1200, "transient"),
                (2, 200, 180, False),
            )
        ]
    )
    case.carrier.circuit_state = "open"
    env["logistics.exception"]._raise(
        "label_failed",
        [{"name": f"No label for {case.shipment.name}", "shipment_id": case.shipment.id}],
    )

    # One open SLA row of each policy the endpoint counts.
    policies = {
        p.code: p for p in env["logistics.sla.policy"].with_context(active_test=False).search([])
    }
    sla_rows = (
        ("wms_acknowledgement", "at_risk", timedelta(minutes=10)),
        ("channel_dispatch_confirmed", "on_time", timedelta(hours=1)),
        ("carrier_first_scan", "breached", -timedelta(minutes=20)),
        ("wms_dispatch", "breached", -timedelta(hours=2)),
    )
    env["logistics.shipment.sla"].create(
        [
            {
                "shipment_id": case.shipment.id,
                "policy_id": policies[code].id,
                "state": state,
                "started_at": now + due - timedelta(hours=1),
                "at_risk_at": now + due - timedelta(minutes=12),
                "due_at": now + due,
                "breached_at": now + due if state == "breached" else False,
                "company_id": case.shipment.company_id.id,
            }
            for code, state, due in sla_rows
        ]
    )
    # A release waiting for its delivery job (no job runner in the tests).
    Message._create_outbound(case.wms, "order_release", {}, shipment=case.shipment)
    # A firing alert: Odoo's example rule on dead letters, on this backend only.
    env["logistics.alert.rule"].search([]).write({"active": False})
    case.alert_rule = env.ref("logistics_monitoring.alert_rule_dead_letters")
    case.alert_rule.write({"active": True, "backend_ids": [(6, 0, case.wms.ids)]})
    case.alert_rule._evaluate(now=now)
