"""Inbound webhooks: parse, authenticate, store, and hand off.

Order of work, cheapest refusal first: size (413), content encoding (415, or 413 for a gzip
body that inflates past the limit), backend and signature on the raw bytes (401, the same
answer for an unknown code and a bad signature), JSON (400), schema (422), duplicate (200
"duplicate"), then the raw message is stored and the processing queued in the same
transaction, committed before the 2xx answer.

A refusal is a 4xx with a JSON body ``{"status": "rejected", "error": <reason>, "message_id":
<id or null>}``. Refusals are counted per backend (unknown backends together), HTTP status and
minute (``logistics.webhook.refusal``); the first few of each minute are also kept as rejected
messages with their body, so that unauthenticated callers can't grow the database with their
request rate.
"""

import functools
import logging
import zlib

from odoo import http
from odoo.http import request

from ..models.ir_http import DEFAULT_WEBHOOK_LIMIT
from ..models.json_text import loads_utf8, printable, storable_problem
from ..models.logistics_event import EventRejected
from ..models.logistics_message import MAX_STORED_BODY

_logger = logging.getLogger(__name__)

NOT_AUTHENTICATED = "not authenticated: unknown backend, or a missing or invalid signature"


class LogisticsWebhook(http.Controller):
    @http.route(
        ["/logistics/webhook/<string:code>", "/logistics/webhook/<string:code>/batch"],
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
        # ir.http reads the raw body before a form content type gets it parsed away.
        logistics_raw_body=True,
    )
    def webhook(self, code):
        """One canonical event, or with /batch a JSON list of them."""
        return self._receive(code, batch=request.httprequest.path.endswith("/batch"))

    # -------------------------------------------------------------------------------------------
    def _receive(self, code, batch):
        env = request.env(su=True)
        httprequest = request.httprequest
        # One query for what the request needs, signing secret included. A code PostgreSQL
        # can't compare (a NUL in the path, say) is no backend's.
        Backend = env["logistics.backend"]
        backends = Backend if storable_problem(code) else Backend._webhook_lookup(code)
        limit = max(backends.mapped("webhook_max_bytes") or [DEFAULT_WEBHOOK_LIMIT])
        # ir.http read the body already, at most the limit plus one byte
        # (ir_http._read_webhook_body); over a Content-Length above the limit, not at all.
        length = httprequest.content_length
        if length is not None and length > limit:
            return self._refuse(
                env, backends[:1], 413, f"body of {length} bytes over the {limit}-byte limit", None
            )
        raw = httprequest.get_data()
        if len(raw) > limit:
            reason = f"body over the {limit}-byte limit (read no further)"
            return self._refuse(env, backends[:1], 413, reason, None)
        # The content encoding is checked before the backend: the same answer whether the
        # code exists or not.
        try:
            body = self._decode_content(httprequest.headers.get("Content-Encoding"), raw, limit)
        except ContentRefused as refusal:
            return self._refuse(env, backends[:1], refusal.status, refusal.reason, raw)
        # An unknown code and a bad signature get the same answer, which names neither: a
        # caller can't find out by probing which codes exist. The kept message says which.
        if len(backends) != 1:
            return self._refuse(
                env,
                None,
                401,
                f"unknown backend {code!r}",
                raw,
                body=body,
                public=NOT_AUTHENTICATED,
            )
        backend = backends
        try:
            backend._verify_webhook_signature(httprequest.headers, body)
        except ValueError as error:
            return self._refuse(
                env,
                backend,
                401,
                f"signature refused: {error}",
                raw,
                body=body,
                public=NOT_AUTHENTICATED,
            )
        # From here on the partner proved who it is: its refused requests are always kept.
        refuse = functools.partial(self._refuse, env, backend, raw=raw, body=body, signed=True)
        try:
            data = loads_utf8(body)
        except ValueError as error:
            return refuse(400, f"malformed JSON: {error}")
        if batch and not isinstance(data, list):
            return refuse(422, "the batch route takes a JSON list")
        try:
            events = backend._parse_webhook_events(data)
            errors = self._schema_errors(env, events)
        except ValueError as error:
            return refuse(422, str(error))
        if errors:
            return refuse(422, "; ".join(errors))
        partner_event_id = backend._webhook_partner_event_id(data, events)
        message_id, job_pending = env["logistics.message"]._store_inbound(
            backend,
            operation="webhook_batch" if batch else "webhook",
            payload=data,
            # Checked above: UTF-8 without NUL, which PostgreSQL text holds as it is.
            raw=body[:MAX_STORED_BODY].decode("utf-8", "replace"),
            partner_event_id=partner_event_id,
            correlation_id=self._trace_id(events),
        )
        if message_id is None:
            # Absorbed; the timeline shows how many times the partner sent it again.
            if partner_event_id:
                env["logistics.event"]._count_duplicates(backend, {partner_event_id: 1})
            return self._answer(200, "duplicate", None)
        backend._enqueue_inbound_processing(
            env["logistics.message"].browse(message_id), job_pending=job_pending, window=True
        )
        return self._answer(202, "accepted", message_id, events=len(events))

    @staticmethod
    def _decode_content(encoding, raw, limit):
        """The body the partner signed: as received, or inflated when sent with
        ``Content-Encoding: gzip`` (RFC 9110 §8.4; senders sign the decompressed body).

        :param limit: bytes the inflated body may have (a "zip bomb" is refused with 413)
        :raises ContentRefused: 415 for another encoding, 400 for a corrupt gzip stream, 413
        """
        encoding = (encoding or "").strip().lower()
        if encoding in ("", "identity"):
            return raw
        if encoding not in ("gzip", "x-gzip"):
            raise ContentRefused(
                415, f"Content-Encoding {encoding!r} is not supported (send gzip or none)"
            )
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(raw, limit + 1)
        except zlib.error as error:
            raise ContentRefused(400, f"the gzip body is corrupt: {error}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise ContentRefused(413, f"the gzip body inflates past the {limit}-byte limit")
        if not inflater.eof:
            raise ContentRefused(400, "the gzip body is truncated")
        if inflater.unused_data:
            raise ContentRefused(400, "the gzip body has data after its end (one member only)")
        return body

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

    def _refuse(self, env, backend, status, reason, raw, body=None, signed=False, public=None):
        """Count the refusal, keep it as a rejected message (always when ``signed``, else when
        it is one of the first few of its minute), and answer with its status.

        :param raw: the bytes received, or None when not read; ``body``: as inflated (gzip)
        :param public: the reason given to the caller when it must not be ``reason`` (kept)
        """
        _logger.info("webhook refused (%s): %s", status, reason)
        path = printable(request.httprequest.path.encode("utf-8", "surrogateescape"), 255)
        message = env["logistics.webhook.refusal"]._record(
            backend or env["logistics.backend"],
            status,
            reason,
            raw,
            path,
            authenticated=signed,
            body=body if body is not raw else None,
        )
        return self._answer(status, "rejected", message.id or None, error=public or reason)

    @staticmethod
    def _answer(status, state, message_id, **extra):
        body = dict(extra, status=state, message_id=message_id)
        return request.make_json_response(body, status=status)


class ContentRefused(Exception):
    """A body whose content encoding can't be taken: ``status`` and ``reason`` of the answer."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason
