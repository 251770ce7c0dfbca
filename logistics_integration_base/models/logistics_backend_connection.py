"""The connection with the partner as a person configures it: the webhook URLs to give the
partner, what went through the connection (smart buttons to the backend's messages, dead letters
and open exceptions), and *Test Connection*: one harmless call to the partner through the same
transport, credentials, timeouts and redaction as real calls, reported as a notification."""

import secrets
import time
from urllib.parse import quote

import requests

from odoo import api, fields, models

from .logistics_access import check_manager
from .logistics_message import ERROR_CLASS_WORDS

# The part of a partner's answer a connection test shows (redacted first).
TEST_DETAIL_CHARS = 300


class LogisticsBackend(models.Model):
    _inherit = "logistics.backend"

    webhook_url = fields.Char(
        string="Webhook URL",
        compute="_compute_webhook_urls",
        help="Give this URL to the partner: it posts one event per request here, signed with "
        "the webhook signing secret (controllers/webhook.py). From the system parameter "
        "web.base.url.",
    )
    webhook_batch_url = fields.Char(
        string="Batch Webhook URL",
        compute="_compute_webhook_urls",
        help="The same for a JSON list of events in one request.",
    )
    message_count = fields.Integer(string="Messages", compute="_compute_traffic_counts")
    dead_message_count = fields.Integer(string="Dead Letters", compute="_compute_traffic_counts")
    open_exception_count = fields.Integer(
        string="Open Exceptions", compute="_compute_traffic_counts"
    )

    @api.depends("code")
    def _compute_webhook_urls(self):
        for backend in self:
            if not backend.code:
                backend.webhook_url = backend.webhook_batch_url = False
                continue
            url = f"{backend.get_base_url().rstrip('/')}/logistics/webhook/"
            url += quote(backend.code, safe="")
            backend.webhook_url = url
            backend.webhook_batch_url = f"{url}/batch"

    def _compute_traffic_counts(self):
        Message = self.env["logistics.message"]
        domain = [("backend_id", "in", self.ids)]
        messages = dict(Message._read_group(domain, ["backend_id"], ["__count"]))
        dead = dict(
            Message._read_group([*domain, ("state", "=", "dead")], ["backend_id"], ["__count"])
        )
        exceptions = dict(
            self.env["logistics.exception"]._read_group(
                [*domain, ("is_closed", "=", False)], ["backend_id"], ["__count"]
            )
        )
        for backend in self:
            backend.message_count = messages.get(backend, 0)
            backend.dead_message_count = dead.get(backend, 0)
            backend.open_exception_count = exceptions.get(backend, 0)

    def _backend_action(self, xmlid):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(xmlid)
        action["domain"] = [("backend_id", "=", self.id)]
        action["display_name"] = f"{action['name']}: {self.name}"
        return action

    def action_view_messages(self):
        """The backend's messages, in and out (smart button).

        :return: the Messages ``ir.actions.act_window`` (dict), filtered on this backend
        """
        return self._backend_action("logistics_integration_base.logistics_message_action")

    def action_view_dead_letters(self):
        """The backend's dead letters (smart button; the Dead Letters filter can be removed).

        :return: the Dead Letters ``ir.actions.act_window`` (dict), filtered on this backend
        """
        return self._backend_action("logistics_integration_base.logistics_message_action_dead")

    def action_view_open_exceptions(self):
        """The backend's open exceptions (smart button; the Open filter can be removed).

        :return: the Exceptions ``ir.actions.act_window`` (dict), filtered on this backend
        """
        return self._backend_action("logistics_integration_base.logistics_exception_action")

    # --- Test Connection ----------------------------------------------------------------------
    def action_test_connection(self):
        """Button *Test Connection*: one harmless call to the partner (see ``_test_connection``)
        reported as a notification: on success the HTTP status and latency, on failure the error
        class in words and the partner's answer (secrets redacted). Nothing is stored: no
        message, no effect on shipments, no change of the backend's health.

        :return: a ``display_notification`` client action
        :raises AccessError: not a Logistics Manager (the call sends the backend's credentials)
        """
        check_manager(self.env, self.env._("test a backend's connection"))
        self.ensure_one()
        result = self._test_connection()
        if result["ok"]:
            title = self.env._("%(backend)s: connection works", backend=self.name)
        elif result["tested"]:
            title = self.env._("%(backend)s: connection failed", backend=self.name)
        else:
            title = self.env._("%(backend)s: nothing to test", backend=self.name)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": result["summary"],
                "type": "success" if result["ok"] else "danger" if result["tested"] else "warning",
                "sticky": not result["ok"],
            },
        }

    def _test_connection(self):
        """One harmless call to the partner, by the adapter: ``_test_connection_<adapter>()``
        returns the result below (``_connection_result`` builds it; ``_test_connection_http``
        makes the call for HTTP adapters). A harmless call reads and changes nothing of the
        partner's business (EasyPost: list one address; a WMS: its ping; a file drop: write and
        remove a probe file). An adapter without such a method has nothing to test
        (``tested`` False).

        :return: dict with ``ok`` (bool), ``tested`` (bool: a call was made), ``target`` (str:
            what was called, e.g. "GET https://api.easypost.com/v2/addresses"), ``status``
            (int HTTP status, 0 without an answer), ``latency_ms`` (int, milliseconds),
            ``error_class`` ("transient", "business", "security", or "" on success),
            ``summary`` (str, for a person: the status and latency, or the error class in words
            and what the partner said, secrets redacted); XML-RPC-safe values only
        """
        self.ensure_one()
        test = getattr(self, f"_test_connection_{self.adapter}", None)
        if test is None:
            adapters = dict(self._fields["adapter"]._description_selection(self.env))
            return self._connection_result(
                tested=False,
                summary=self.env._(
                    "The adapter %(adapter)s has no harmless call to test the connection with. "
                    "Check the partner's side: send a signed test webhook to %(url)s.",
                    adapter=adapters.get(self.adapter, self.adapter),
                    url=self.webhook_url,
                ),
            )
        return test()

    def _connection_result(
        self, ok=False, tested=True, target="", status=0, latency_ms=0, error_class="", summary=""
    ):
        """The result of ``_test_connection`` (see there), for adapters' tests."""
        return {
            "ok": ok,
            "tested": tested,
            "target": target,
            "status": status or 0,
            "latency_ms": latency_ms,
            "error_class": error_class or "",
            "summary": summary,
        }

    def _test_connection_http(self, endpoint, method="GET"):
        """Call ``endpoint`` (a path under the base URL, harmless: a read) the way a delivery
        job calls the partner (``_send_http``: the backend's timeouts and authentication, its
        headers with a fresh trace id), without storing a message, and classify a failure with
        the Error Classes like a real call's.

        :param str endpoint: path appended to the base URL, e.g. "/v2/addresses?page_size=1"
        :param str method: the HTTP method, a read ("GET")
        :return: the result of ``_test_connection``
        """
        self.ensure_one()
        target = f"{method} {(self.base_url or '').rstrip('/')}/{endpoint.lstrip('/')}"
        if not self.base_url:
            return self._connection_result(
                target=target,
                error_class="business",
                summary=self.env._("No base URL is set: there is nowhere to call."),
            )
        probe = self.env["logistics.message"].new(
            {
                "direction": "outbound",
                "backend_id": self.id,
                "operation": "test_connection",
                "endpoint": endpoint,
                "http_method": method,
                "correlation_id": secrets.token_hex(16),
                "company_id": self.company_id.id,
            }
        )
        started = time.monotonic()
        try:
            status, text, _retry_after, failure, error = self._send_http(
                probe, None, probe._request_headers(self)
            )
        except requests.RequestException as exc:  # an invalid URL, too many redirects...
            status, text, failure = None, "", "connection"
            error = f"request failed: {exc.__class__.__name__}"
        latency = int((time.monotonic() - started) * 1000)
        if not failure:
            return self._connection_result(
                ok=True,
                target=target,
                status=status,
                latency_ms=latency,
                summary=self.env._(
                    "%(target)s answered HTTP %(status)s in %(latency)s ms.",
                    target=target,
                    status=status,
                    latency=latency,
                ),
            )
        error_class = self.env["logistics.error.rule"].sudo()._classify(failure, status)
        answer = " ".join((probe._redact(text, self) or "").split())[:TEST_DETAIL_CHARS]
        return self._connection_result(
            target=target,
            status=status,
            latency_ms=latency,
            error_class=error_class,
            summary=self.env._(
                "%(words)s. %(target)s: %(error)s after %(latency)s ms.%(answer)s",
                words=ERROR_CLASS_WORDS[error_class],
                target=target,
                error=error,
                latency=latency,
                answer=self.env._(" The partner said: %(answer)s", answer=answer) if answer else "",
            ),
        )
