"""Inbound webhooks: parse, authenticate, store, and hand off.

Order of work, cheapest refusal first: size (413), backend (404), signature on the raw bytes
(401), JSON (400), schema (422), duplicate (200 "duplicate"), then the raw message is stored and
the processing queued in the same transaction, committed before the 2xx answer. Every refused
request is kept as a rejected message with its reason (without oversized bodies).
"""

import json
import logging

from odoo import http
from odoo.http import request

from ..models.logistics_event import EventRejected

_logger = logging.getLogger(__name__)

MAX_REJECTED_BODY = 65536


class LogisticsWebhook(http.Controller):
    @http.route(
        ["/logistics/webhook/<string:code>", "/logistics/webhook/<string:code>/batch"],
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def webhook(self, code):
        """One canonical event, or with /batch a JSON list of them."""
        return self._receive(code, batch=request.httprequest.path.endswith("/batch"))

    # -------------------------------------------------------------------------------------------
    def _receive(self, code, batch):
        env = request.env(su=True)
        httprequest = request.httprequest
        # One query for what the request needs, signing secret included.
        backends = env["logistics.backend"]._webhook_lookup(code)
        limit = max(backends.mapped("webhook_max_bytes") or [1_048_576])
        length = httprequest.content_length
        if length is not None and length > limit:
            return self._refuse(
                env, backends[:1], 413, f"body of {length} bytes over the {limit}-byte limit", None
            )
        # Without a Content-Length (chunked), the size is known once read. Cached: Odoo
        # replays the whole handler after a serialization failure.
        raw = httprequest.get_data()
        if len(raw) > limit:
            return self._refuse(env, backends[:1], 413, f"body over the {limit}-byte limit", None)
        if len(backends) != 1:
            reason = "unknown backend" if not backends else "ambiguous backend code"
            return self._refuse(env, None, 404, f"{reason} {code!r}", raw)
        backend = backends
        try:
            backend._verify_webhook_signature(httprequest.headers, raw)
        except ValueError as error:
            return self._refuse(env, backend, 401, f"signature refused: {error}", raw)
        try:
            data = json.loads(raw)
        except ValueError as error:
            return self._refuse(env, backend, 400, f"malformed JSON: {error}", raw)
        if batch and not isinstance(data, list):
            return self._refuse(env, backend, 422, "the batch route takes a JSON list", raw)
        try:
            events = backend._parse_webhook_events(data)
            errors = self._schema_errors(env, events)
        except ValueError as error:
            return self._refuse(env, backend, 422, str(error), raw)
        if errors:
            return self._refuse(env, backend, 422, "; ".join(errors), raw)
        event_id = events[0]["event_id"] if len(events) == 1 else None
        message_id, job_pending = env["logistics.message"]._store_inbound(
            backend,
            operation="webhook_batch" if batch else "webhook",
            payload=data,
            raw=raw.decode("utf-8", "replace")[:MAX_REJECTED_BODY],
            partner_event_id=str(event_id) if event_id is not None else None,
            correlation_id=self._trace_id(events),
        )
        if message_id is None:
            return self._answer(200, "duplicate", None)
        backend._enqueue_inbound_processing(
            env["logistics.message"].browse(message_id), job_pending=job_pending, window=True
        )
        return self._answer(202, "accepted", message_id, events=len(events))

    @staticmethod
    def _schema_errors(env, events):
        errors = []
        for index, event in enumerate(events):
            try:
                env["logistics.event"]._parse_event(event)
            except EventRejected as rejection:
                errors.append(f"event {index}: {rejection.error}")
        return errors

    @staticmethod
    def _trace_id(events):
        for event in events:
            parent = event.get("traceparent") if isinstance(event, dict) else None
            if isinstance(parent, str) and len(parent) == 55:
                return parent[3:35]
        return None

    def _refuse(self, env, backend, status, reason, raw):
        """Keep a refused request as a rejected message, then answer with its status."""
        _logger.info("webhook refused (%s): %s", status, reason)
        message = env["logistics.message"].create(
            {
                "direction": "inbound",
                "backend_id": backend.id if backend else False,
                "operation": "webhook",
                "state": "rejected",
                "http_status": status,
                "error_class": "security" if status == 401 else "business",
                "error": reason,
                "request_body": raw.decode("utf-8", "replace")[:MAX_REJECTED_BODY]
                if raw is not None
                else None,
                "company_id": backend.company_id.id
                if backend
                else env["res.company"].search([], order="id", limit=1).id,
            }
        )
        return self._answer(status, "rejected", message.id, error=reason)

    @staticmethod
    def _answer(status, state, message_id, **extra):
        body = dict(extra, status=state, message_id=message_id)
        return request.make_json_response(body, status=status)
