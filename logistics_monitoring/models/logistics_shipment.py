import itertools
import json

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain

from odoo.addons.logistics_integration_base.models.logistics_event import TRACEPARENT

# At most this many shipments on one timeline: a reference is matched exactly, so only a sale
# order with many transfers comes near it.
MAX_SHIPMENTS = 20
# Successive replays are followed back to their original this many times at most.
MAX_REPLAY_DEPTH = 5
# The records whose raw bodies ``get_timeline_raw`` shows, and the fields it shows of each.
RAW_FIELDS = {
    "logistics.event": ("payload",),
    "logistics.message": ("payload", "request_body", "response_body"),
}
# Main-progression hand-offs and gaps: the execution milestones of the status rule (rank > 0).
MAIN_CATEGORY = "execution"
# Order of entries of one time: what came in, what it meant, what a person must do about it.
KIND_ORDER = {"message": 0, "event": 1, "exception": 2}
INT32_MAX = 2**31 - 1


def iso_utc(value):
    """A naive UTC datetime (Odoo's Datetime) as ISO 8601 with 'Z', to the second; "" for none."""
    if not value:
        return ""
    return fields.Datetime.to_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def int32(value):
    """An integer that XML-RPC's core <int> carries (clamped to 32 bits); 0 for none."""
    return max(-INT32_MAX - 1, min(INT32_MAX, int(value or 0)))


def text(value):
    """A value as a string for the answer: "" for None / False, str() otherwise."""
    if value is None or value is False:
        return ""
    return value if isinstance(value, str) else str(value)


def location_text(location):
    """A carrier checkpoint's location as one line ("HOUSTON, TX 77063, US"). The canonical
    payload's ``location`` is a dict of city, state, zip and country (the EasyPost adapter's
    ``tracking_location``, logistics_carrier_connector/adapters/easypost.py ``_location``), or
    already a string."""
    if isinstance(location, str):
        return location.strip()
    if not isinstance(location, dict):
        return ""
    region = " ".join(text(location.get(key)).strip() for key in ("state", "zip")).strip()
    parts = [text(location.get("city")).strip(), region, text(location.get("country")).strip()]
    return ", ".join(part for part in parts if part)


def pretty(value):
    """A body for a person: JSON indented (a JSON text is parsed first), other text as is."""
    if value in (None, False, ""):
        return ""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class LogisticsShipment(models.Model):
    """The shipment timeline (DESIGN §5): one shipment across every system, read from the
    canonical model only, so that a new connector shows up on it without monitoring code."""

    _inherit = "logistics.shipment"

    # --- public API (RPC) ------------------------------------------------------------------------
    @api.model
    def get_timeline(self, reference):
        """Everything about the shipment(s) a reference names, in the order it happened.

        JSON-2: ``POST /json/2/logistics.shipment/get_timeline`` with ``{"reference": ...}``;
        XML-RPC / JSON-RPC: ``execute_kw(db, uid, key, "logistics.shipment", "get_timeline",
        [reference])``. Read with the caller's rights (Logistics Users, Managers and Auditors
        read it; a user sees the records of their companies only), in a fixed number of queries
        whatever the number of entries (DESIGN §8: a timeline in < 50 ms).

        :param str reference: any of a shipment's references, matched exactly (surrounding
            spaces ignored): shipment reference, transfer (stock.picking name), sale order,
            tracking number (the shipment's, or one of its packages'), correlation id, or a
            W3C trace id / ``traceparent`` found on the shipment, its events or its messages
        :return: a dict that XML-RPC and JSON-RPC carry as is (no None, no integer past 2^31;
            times as ISO 8601 strings in UTC with "Z", "" when absent; links as ``model`` and
            ``res_id``, ``False`` when absent):

            - ``reference`` (str, as given, stripped), ``found`` (bool), ``message`` (str: why
              nothing was found, or that the list was cut at ``MAX_SHIPMENTS``),
              ``generated_at`` (str, the server's now: what ``overdue`` is measured against);
            - ``shipments``: ``[{id, name, direction, status_code, status_name, status_at,
              customer, order, transfer, tracking_number, correlation_id, has_exception,
              backends: [{id, name, kind, kind_label}], company}]``;
            - ``entries``: one list over all kinds, ordered by ``at`` (the time it occurred),
              then messages before the events they carried before the exceptions, then id.
              Every entry has ``kind``, ``key`` (unique), ``at``, ``shipment_id``, ``model``,
              ``res_id``, ``name`` and ``raw_available`` (``get_timeline_raw`` shows its
              bodies). By kind:

              * ``event``: ``type_code``, ``type_name``, ``category``, ``source`` ``{name,
                kind, kind_label, is_odoo, backend_id}`` (the reporting backend, or Odoo for
                the milestones Odoo owns and recorded itself), ``owner`` / ``owner_label``
                (the system of record of the type, Ownership Rules; "" when any), ``occurred_at``,
                ``recorded_at``, ``lag_seconds`` (recorded minus occurred, int), ``mark``
                (``applied`` | ``late``: arrived late, the status had gone past | ``not_owner``:
                stored, status unchanged), ``mark_label``, ``duplicate_count`` (redeliveries
                absorbed), ``marks`` (the badges: the mark unless applied, plus ``duplicate``),
                ``is_status`` (this event set the current status), ``location`` and
                ``signed_by`` of a carrier checkpoint, ``package`` (the package's reference
                when the event came by its tracking number, else ""), ``detail`` (the
                partner's words),
                ``message_res_id`` (the raw message, or False);
              * ``message``: ``direction`` (inbound | outbound), ``direction_label``,
                ``operation``, ``operation_label`` (in words), ``state``, ``state_label``,
                ``backend`` ``{id, name, kind, kind_label}``, ``odoo_action`` (an outbound call
                to a WMS or carrier: what Odoo itself did, e.g. a release, a cancel, a label
                purchase), ``http_status``, ``latency_ms``, ``error_class``,
                ``error_class_label``, ``error``, ``attempts`` ``[{number, at, http_status,
                latency_ms, error_class, error_class_label, error, retry_in_seconds}]``,
                ``replay_of`` ``{res_id, name}`` or False, ``replay_ids`` (list of int);
              * ``exception``: see ``_timeline_exception_entries``.
            - ``handoffs``: ``[{shipment_id, from_code, from_name, to_code, to_name, from_at,
              to_at, seconds}]``, between consecutive main-progression milestones reached
              (the first event of each rank, late ones included, by rank);
            - ``gaps``: ``[{shipment_id, type_code, type_name, rank, owner, owner_label,
              due_at, overdue}]``, the main-progression milestones after the rank reached, one
              per rank, not expected after a final status, the WMS's only with a WMS backend;
              ``due_at`` from the connectors' rules (``_expected_milestone_due``) or "",
              ``overdue`` when ``due_at`` is past.
        :raises UserError: ``reference`` is not a string
        :raises AccessError: the caller can't read shipments
        """
        if not isinstance(reference, str):
            raise UserError(
                self.env._(
                    "A timeline reference is a text (a shipment, transfer, "
                    "order, tracking number or trace id)."
                )
            )
        reference = reference.strip()
        answer = {
            "reference": reference,
            "found": False,
            "message": "",
            "generated_at": iso_utc(fields.Datetime.now()),
            "shipments": [],
            "entries": [],
            "handoffs": [],
            "gaps": [],
        }
        if not reference:
            answer["message"] = self.env._("Type a reference to see its timeline.")
            return answer
        shipments = self._timeline_find(reference)
        if not shipments:
            answer["message"] = self.env._(
                "No shipment found for %(reference)s (a shipment, transfer, sale order, tracking "
                "number or trace id, exactly as written).",
                reference=reference,
            )
            return answer
        if len(shipments) > MAX_SHIPMENTS:
            shipments = shipments[:MAX_SHIPMENTS]
            answer["message"] = self.env._(
                "%(reference)s names more than %(max)s shipments: the first %(max)s are shown.",
                reference=reference,
                max=MAX_SHIPMENTS,
            )
        answer["found"] = True
        return dict(answer, **shipments._timeline())

    @api.model
    def get_timeline_raw(self, model, res_id):
        """The bodies of one timeline entry, pretty-printed (JSON indented), for a person to read.

        Checked with the caller's rights: a record the caller can't read raises, whoever
        asks for it.

        :param str model: ``logistics.event`` or ``logistics.message`` (an entry's ``model``)
        :param int res_id: the entry's ``res_id``
        :return: ``{model, res_id, name, parts: [{label, body}]}``; an event's parts are its
            canonical payload and, when the caller can read it, the raw message it came in;
            a message's are its payload, request and response bodies (stored with secrets
            redacted). Empty bodies are left out; ``parts`` is empty when the bodies were
            purged by the retention policy.
        :raises UserError: another model, or no such record
        :raises AccessError: the caller can't read the record
        """
        if model not in RAW_FIELDS or not isinstance(res_id, int) or isinstance(res_id, bool):
            raise UserError(self.env._("No raw body to show for %(model)s.", model=model))
        record = self.env[model].browse(res_id).exists()
        if not record:
            raise UserError(self.env._("%(model)s #%(id)s does not exist.", model=model, id=res_id))
        record.check_access("read")
        parts = []
        values = record.read(list(RAW_FIELDS[model]))[0]
        for name in RAW_FIELDS[model]:
            body = pretty(values[name])
            if body:
                parts.append({"label": record._fields[name].string, "body": body})
        if model == "logistics.event" and record.message_id:
            message = record.message_id
            try:
                message.check_access("read")
            except AccessError:
                message = message.browse()
            if message and message.request_body:
                parts.append(
                    {
                        "label": self.env._("Raw message %(name)s", name=message.name),
                        "body": pretty(message.request_body),
                    }
                )
        return {"model": model, "res_id": record.id, "name": record.display_name, "parts": parts}

    # --- lookup ----------------------------------------------------------------------------------
    @api.model
    def _timeline_find(self, reference):
        """The shipments a reference names, readable by the caller, oldest first: by their own
        references in one query; else, for a trace id, through the events and messages that
        carry it. The transfer and the order are matched by name whatever the caller's rights
        on stock and sales (``any!``): the shipment itself is still read with them."""
        match = TRACEPARENT.match(reference.lower())
        trace = match.group(1) if match else reference.lower()
        domain = Domain.OR(
            [
                Domain("name", "=", reference),
                Domain("picking_id", "any!", [("name", "=", reference)]),
                Domain("sale_id", "any!", [("name", "=", reference)]),
                Domain("tracking_number", "=", reference),
                Domain("package_ids", "any!", [("tracking_number", "=", reference)]),
                Domain("correlation_id", "in", list({reference, trace})),
            ]
        )
        shipments = self.search(domain, order="id", limit=MAX_SHIPMENTS + 1)
        if shipments or len(trace) != 32:
            return shipments
        ids = {
            row["shipment_id"]
            for model in ("logistics.event", "logistics.message")
            for row in self.env[model].search_read(
                [("correlation_id", "=", trace), ("shipment_id", "!=", False)],
                ["shipment_id"],
                limit=MAX_SHIPMENTS + 1,
                load=None,
            )
        }
        return self.search([("id", "in", list(ids))], order="id", limit=MAX_SHIPMENTS + 1)

    # --- the timeline ----------------------------------------------------------------------------
    def _timeline(self):
        """``shipments``, ``entries``, ``handoffs`` and ``gaps`` of ``get_timeline`` for these
        shipments (read with the caller's rights)."""
        Backend = self.env["logistics.backend"].with_context(active_test=False)
        types = {
            row["id"]: row
            for row in self.env["logistics.event.type"]
            .with_context(active_test=False)
            .search_read([], ["code", "name", "rank", "category", "sequence", "is_final"])
        }
        owners = {
            row["event_type_id"]: row["owner_kind"]
            for row in self.env["logistics.ownership.rule"].search_read(
                [], ["event_type_id", "owner_kind"], load=None
            )
        }
        shipments = self.search_read(
            [("id", "in", self.ids)],
            [
                "name",
                "direction",
                "status_id",
                "status_at",
                "status_rank",
                "status_event_ref",
                "partner_id",
                "sale_id",
                "picking_id",
                "tracking_number",
                "correlation_id",
                "has_exception",
                "wms_backend_id",
                "carrier_backend_id",
                "company_id",
            ],
            order="id",
            load=None,
        )
        events = self.env["logistics.event"].search_read(
            [("shipment_id", "in", self.ids)],
            [
                "shipment_id",
                "type_id",
                "occurred_at",
                "recorded_at",
                "backend_id",
                "payload",
                "message_id",
                "state",
                "ignore_reason",
                "duplicate_count",
                "package_id",
            ],
            order="occurred_at, id",
            load=None,
        )
        messages, attempts = self._timeline_messages(
            [event["message_id"] for event in events if event["message_id"]],
            [shipment["correlation_id"] for shipment in shipments],
        )
        backend_ids = {event["backend_id"] for event in events}
        backend_ids |= {message["backend_id"] for message in messages}
        for shipment in shipments:
            backend_ids |= {shipment["wms_backend_id"], shipment["carrier_backend_id"]}
        backends = {
            row["id"]: row
            for row in Backend.search_read(
                [("id", "in", [i for i in backend_ids if i])], ["name", "kind"]
            )
        }
        kinds = dict(Backend._fields["kind"]._description_selection(self.env))
        owner_kinds = dict(
            self.env["logistics.ownership.rule"]
            ._fields["owner_kind"]
            ._description_selection(self.env)
        )
        # The names of what the shipments link to, as a read of a shipment shows them whatever
        # the caller's rights on sales and stock (``Many2one.convert_to_read``): one query per
        # model.
        linked = self.browse([s["id"] for s in shipments]).sudo()
        names = {
            shipment.id: {
                "customer": shipment.partner_id.display_name,
                "order": shipment.sale_id.display_name,
                "transfer": shipment.picking_id.display_name,
                "company": shipment.company_id.display_name,
            }
            for shipment in linked
        }
        context = {
            "names": names,
            "types": types,
            "owners": owners,
            "backends": backends,
            "kinds": kinds,
            "owner_kinds": owner_kinds,
            "status_events": {s["status_event_ref"] for s in shipments if s["status_event_ref"]},
            "packages": {
                row["id"]: row["name"]
                for row in self.env["logistics.package"].search_read(
                    [("shipment_id", "in", self.ids)], ["name"]
                )
            },
        }
        entries = [self._timeline_event_entry(event, context) for event in events]
        entries += self._timeline_message_entries(messages, attempts, backends, kinds)
        entries += self._timeline_exception_entries(self.browse([s["id"] for s in shipments]))
        entries.sort(
            key=lambda entry: (
                entry["at"],
                KIND_ORDER.get(entry["kind"], 9),
                entry["res_id"] or 0,
                entry["key"],
            )
        )
        return {
            "shipments": [self._timeline_shipment(s, context) for s in shipments],
            "entries": entries,
            "handoffs": self._timeline_handoffs(events, types),
            "gaps": self._timeline_gaps(shipments, events, context),
        }

    @api.model
    def _timeline_shipment(self, shipment, context):
        status = context["types"].get(shipment["status_id"]) or {}
        names = context["names"][shipment["id"]]
        backends = [
            context["backends"][backend_id]
            for backend_id in (shipment["wms_backend_id"], shipment["carrier_backend_id"])
            if backend_id in context["backends"]
        ]
        return {
            "id": shipment["id"],
            "name": shipment["name"],
            "direction": shipment["direction"],
            "status_code": text(status.get("code")),
            "status_name": text(status.get("name")),
            "status_at": iso_utc(shipment["status_at"]),
            "customer": text(names["customer"]),
            "order": text(names["order"]),
            "transfer": text(names["transfer"]),
            "tracking_number": text(shipment["tracking_number"]),
            "correlation_id": text(shipment["correlation_id"]),
            "has_exception": bool(shipment["has_exception"]),
            "backends": [self._timeline_backend(b, context["kinds"]) for b in backends],
            "company": text(names["company"]),
        }

    @api.model
    def _timeline_backend(self, backend, kinds):
        if not backend:
            return {"id": False, "name": "", "kind": "", "kind_label": ""}
        return {
            "id": backend["id"],
            "name": text(backend["name"]),
            "kind": text(backend["kind"]),
            "kind_label": text(kinds.get(backend["kind"])),
        }

    # --- events ----------------------------------------------------------------------------------
    @api.model
    def _timeline_event_entry(self, event, context):
        """One event as a timeline entry (see ``get_timeline``). The marks come from the status
        rule's decision stored on the event (``logistics.event.state``): a milestone that the
        status had gone past reads "Arrived late", never "Ignored"."""
        event_type = context["types"].get(event["type_id"], {})
        owner = context["owners"].get(event["type_id"]) or ""
        backend = context["backends"].get(event["backend_id"])
        # A milestone Odoo owns that was not refused as a non-owner's is one Odoo recorded
        # itself (a release, a cancel; ``logistics.event._record_odoo_events``): the backend
        # only scopes its idempotency key.
        is_odoo = not event["backend_id"] or (owner == "odoo" and event["state"] != "ignored")
        if is_odoo:
            source = {
                "name": self.env._("Odoo"),
                "kind": "odoo",
                "kind_label": self.env._("Odoo"),
                "is_odoo": True,
                "backend_id": event["backend_id"] or False,
            }
        else:
            source = dict(
                self._timeline_backend(backend, context["kinds"]),
                is_odoo=False,
                backend_id=event["backend_id"] or False,
            )
            source.pop("id")
        if event["state"] == "arrived_late":
            mark, mark_label = "late", self.env._("Arrived late")
        elif event["state"] == "ignored" and event["ignore_reason"] == "not_owner":
            mark, mark_label = "not_owner", self.env._("Not owner")
        elif event["state"] == "ignored":
            mark, mark_label = "ignored", self.env._("Ignored")
        else:
            mark, mark_label = "applied", self.env._("Applied")
        duplicates = int32(event["duplicate_count"])
        marks = [] if mark == "applied" else [mark]
        if duplicates:
            marks.append("duplicate")
        payload = event["payload"] if isinstance(event["payload"], dict) else {}
        occurred, recorded = event["occurred_at"], event["recorded_at"]
        return {
            "kind": "event",
            "key": f"event-{event['id']}",
            "at": iso_utc(occurred),
            "shipment_id": event["shipment_id"],
            "model": "logistics.event",
            "res_id": event["id"],
            "name": text(event_type.get("name")),
            "type_code": text(event_type.get("code")),
            "type_name": text(event_type.get("name")),
            "category": text(event_type.get("category")),
            "source": source,
            "owner": owner,
            "owner_label": text(context["owner_kinds"].get(owner)),
            "occurred_at": iso_utc(occurred),
            "recorded_at": iso_utc(recorded),
            "lag_seconds": int32((recorded - occurred).total_seconds())
            if occurred and recorded
            else 0,
            "mark": mark,
            "mark_label": mark_label,
            "duplicate_count": duplicates,
            "marks": marks,
            "is_status": event["id"] in context["status_events"],
            "location": location_text(payload.get("location")),
            "signed_by": text(payload.get("signed_by")).strip(),
            "package": text(context["packages"].get(event["package_id"])),
            "detail": text(payload.get("message") or payload.get("reason")).strip(),
            "message_res_id": event["message_id"] or False,
            "raw_available": bool(payload or event["message_id"]),
        }

    # --- messages and attempts -------------------------------------------------------------------
    def _timeline_messages(self, carried_ids, correlation_ids):
        """The shipments' messages (linked to them, carrying their events, or sharing their
        correlation id), the originals of the replays among them, and their attempts: three
        queries, plus one per level of replay of a replay."""
        Message = self.env["logistics.message"]
        message_fields = [
            "direction",
            "backend_id",
            "operation",
            "state",
            "http_status",
            "latency_ms",
            "error_class",
            "error",
            "replay_of_id",
            "create_date",
            "payload_purged",
            "shipment_id",
        ]
        domain = Domain.OR(
            [
                Domain("shipment_id", "in", self.ids),
                Domain("id", "in", carried_ids),
                Domain("correlation_id", "in", correlation_ids),
            ]
        )
        messages = Message.search_read(domain, message_fields, order="id", load=None)
        seen = {message["id"] for message in messages}
        for _depth in range(MAX_REPLAY_DEPTH):
            originals = {m["replay_of_id"] for m in messages if m["replay_of_id"]} - seen
            if not originals:
                break
            more = Message.search_read(
                [("id", "in", list(originals))], message_fields, order="id", load=None
            )
            messages += more
            seen |= originals
        attempts = self.env["logistics.message.attempt"].search_read(
            [("message_id", "in", list(seen))],
            [
                "message_id",
                "number",
                "attempted_at",
                "http_status",
                "error_class",
                "error",
                "latency_ms",
                "retry_in",
            ],
            order="message_id, number",
            load=None,
        )
        return messages, attempts

    @api.model
    def _timeline_operation_labels(self):
        """Operation code -> words: the labels of ``logistics.message.operation`` when it is a
        selection, else the code in words ("order_release" -> "Order release")."""
        field = self.env["logistics.message"]._fields["operation"]
        if field.type == "selection":
            return dict(field._description_selection(self.env))
        return {}

    @api.model
    def _timeline_message_entries(self, messages, attempts, backends, kinds):
        Message = self.env["logistics.message"]
        directions = dict(Message._fields["direction"]._description_selection(self.env))
        states = dict(Message._fields["state"]._description_selection(self.env))
        classes = dict(Message._fields["error_class"]._description_selection(self.env))
        operations = self._timeline_operation_labels()
        names = {message["id"]: message for message in messages}
        by_message = {}
        for attempt in attempts:
            by_message.setdefault(attempt["message_id"], []).append(
                {
                    "number": int32(attempt["number"]),
                    "at": iso_utc(attempt["attempted_at"]),
                    "http_status": int32(attempt["http_status"]),
                    "latency_ms": int32(attempt["latency_ms"]),
                    "error_class": text(attempt["error_class"]),
                    "error_class_label": text(classes.get(attempt["error_class"])),
                    "error": text(attempt["error"]),
                    "retry_in_seconds": int32(round(attempt["retry_in"] or 0)),
                }
            )
        replays = {}
        for message in messages:
            if message["replay_of_id"]:
                replays.setdefault(message["replay_of_id"], []).append(message["id"])
        entries = []
        for message in messages:
            backend = backends.get(message["backend_id"])
            operation = text(message["operation"])
            original = names.get(message["replay_of_id"])
            entries.append(
                {
                    "kind": "message",
                    "key": f"message-{message['id']}",
                    "at": iso_utc(message["create_date"]),
                    "shipment_id": message["shipment_id"] or False,
                    "model": "logistics.message",
                    "res_id": message["id"],
                    "name": f"{operation} #{message['id']}",
                    "direction": message["direction"],
                    "direction_label": text(directions.get(message["direction"])),
                    "operation": operation,
                    "operation_label": operations.get(operation)
                    or operation.replace("_", " ").capitalize(),
                    "state": message["state"],
                    "state_label": text(states.get(message["state"])),
                    "backend": self._timeline_backend(backend, kinds),
                    "odoo_action": message["direction"] == "outbound"
                    and bool(backend)
                    and backend["kind"] in ("wms", "carrier"),
                    "http_status": int32(message["http_status"]),
                    "latency_ms": int32(message["latency_ms"]),
                    "error_class": text(message["error_class"]),
                    "error_class_label": text(classes.get(message["error_class"])),
                    "error": text(message["error"]),
                    "attempts": by_message.get(message["id"], []),
                    "replay_of": {
                        "res_id": message["replay_of_id"],
                        "name": f"{text(original['operation'])} #{original['id']}"
                        if original
                        else f"#{message['replay_of_id']}",
                    }
                    if message["replay_of_id"]
                    else False,
                    "replay_ids": replays.get(message["id"], []),
                    "raw_available": not message["payload_purged"],
                }
            )
        return entries

    # --- exceptions ------------------------------------------------------------------------------
    @api.model
    def _timeline_exception_entries(self, shipments):
        """The exceptions of ``shipments`` as timeline entries: one when raised, one per
        resolution and reopening; an exception grouped by root cause (DESIGN §5) that reaches
        them through its occurrences (raised for another shipment, or for a whole backend: a
        partner that refuses our credentials) gives one "grouped" entry per sighting on them.

        Who resolved or reopened an exception by hand, and when, is read from the audit log
        (``logistics.audit.log``, actions resolve / reopen), as superuser but only for the
        exceptions the caller reads: a Logistics User sees who closed their exception, as its
        chatter tells them. An exception Odoo closed itself (``auto_resolved``) reads "Odoo",
        at its ``resolved_at``.

        :param shipments: ``logistics.shipment`` records
        :return: entries ``{kind: "exception", key, at, shipment_id, model:
            "logistics.exception", res_id, name, action (raised | grouped | resolved |
            reopened),
            action_label, type_code, type_name, severity, severity_label, stage, is_closed,
            by (who: a user's name, "Odoo", or ""), note, raw_available: False}``
        """
        Exception_ = self.env["logistics.exception"]
        # The grouped exceptions' ids first: "shipment or occurrence on the shipment" as one
        # domain (an OR with an EXISTS) filtered every exception row, 40-58 ms of a 70-100 ms
        # timeline among 20,000 exceptions (monitoring benchmark); two id lists let
        # PostgreSQL combine two index scans (under 1 ms).
        grouped = (
            self.env["logistics.exception.occurrence"]
            .search_fetch([("shipment_id", "in", shipments.ids)], ["exception_id"])
            .exception_id
        )
        exceptions = Exception_.search_read(
            ["|", ("shipment_id", "in", shipments.ids), ("id", "in", grouped.ids)],
            [
                "name",
                "type_id",
                "severity",
                "stage_id",
                "is_closed",
                "auto_resolved",
                "create_date",
                "resolved_at",
                "write_date",
                "shipment_id",
                "resolution_note",
            ],
            order="id",
            load=None,
        )
        if not exceptions:
            return []
        # Grouped exceptions (one card per root cause) reach a shipment through their
        # occurrences: each sighting on these shipments is a "grouped" entry.
        occurrences = {}
        for row in self.env["logistics.exception.occurrence"].search_read(
            [
                ("exception_id", "in", [x["id"] for x in exceptions]),
                ("shipment_id", "in", shipments.ids),
            ],
            ["id", "exception_id", "shipment_id", "occurred_at", "description"],
            order="occurred_at, id",
            load=None,
        ):
            occurrences.setdefault(row["exception_id"], []).append(row)
        # The sighting that raised each card: its first occurrence.
        first_sighting = {
            exception.id: first_id
            for exception, first_id in self.env["logistics.exception.occurrence"]._read_group(
                [("exception_id", "in", list(occurrences))], ["exception_id"], ["id:min"]
            )
        }
        stages = dict(
            self.env["logistics.exception.stage"]
            .search_fetch([("id", "in", list({x["stage_id"] for x in exceptions}))], ["name"])
            .mapped(lambda stage: (stage.id, stage.name))
        )
        types = {
            row["id"]: row
            for row in self.env["logistics.exception.type"]
            .with_context(active_test=False)
            .search_read(
                [("id", "in", list({x["type_id"] for x in exceptions}))],
                ["code", "name"],
            )
        }
        audits = (
            self.env["logistics.audit.log"]
            .sudo()
            .search_read(
                [
                    ("model", "=", "logistics.exception"),
                    ("res_id", "in", [x["id"] for x in exceptions]),
                    ("action", "in", ("resolve", "reopen")),
                ],
                ["res_id", "action", "date", "user_id", "reason"],
                order="date, id",
            )
        )
        severities = dict(Exception_._fields["severity"]._description_selection(self.env))
        labels = {
            "raised": self.env._("Raised"),
            "grouped": self.env._("Counted on the open card"),
            "resolved": self.env._("Resolved"),
            "reopened": self.env._("Reopened"),
        }
        by_exception = {}
        for audit in audits:
            by_exception.setdefault(audit["res_id"], []).append(audit)
        entries = []
        for exception in exceptions:
            exception_type = types.get(exception["type_id"], {})
            common = {
                "kind": "exception",
                "shipment_id": exception["shipment_id"] or False,
                "model": "logistics.exception",
                "res_id": exception["id"],
                "name": text(exception["name"]),
                "type_code": text(exception_type.get("code")),
                "type_name": text(exception_type.get("name")),
                "severity": text(exception["severity"]),
                "severity_label": text(severities.get(exception["severity"])),
                "stage": text(stages.get(exception["stage_id"])),
                "is_closed": bool(exception["is_closed"]),
                "raw_available": False,
            }

            sightings = occurrences.get(exception["id"], [])
            own = exception["shipment_id"] in shipments.ids
            history = by_exception.get(exception["id"], [])
            # (action, when, by, note, shipment id)
            moments = [("raised", exception["create_date"], "", "", exception["shipment_id"])]
            if not own:
                # Raised for another shipment or for a whole backend: here, its sightings.
                moments = []
            # The card's first sighting raised it; later ones were counted on it.
            moments += [
                (
                    "raised" if row["id"] == first_sighting.get(exception["id"]) else "grouped",
                    row["occurred_at"],
                    "",
                    row["description"],
                    row["shipment_id"],
                )
                for row in sightings[1 if own else 0 :]
            ]
            here = exception["shipment_id"] if own else sightings[0]["shipment_id"]
            moments += [
                (
                    "resolved" if audit["action"] == "resolve" else "reopened",
                    audit["date"],
                    text(audit["user_id"] and audit["user_id"][1]),
                    audit["reason"],
                    here,
                )
                for audit in history
            ]
            closed_by_hand = history and history[-1]["action"] == "resolve"
            if exception["is_closed"] and not closed_by_hand:
                moments.append(
                    (
                        "resolved",
                        exception["resolved_at"] or exception["write_date"],
                        self.env._("Odoo") if exception["auto_resolved"] else "",
                        exception["resolution_note"],
                        here,
                    )
                )
            for n, (action, at, by, note, shipment_id) in enumerate(moments):
                entries.append(
                    dict(
                        common,
                        key=f"exception-{exception['id']}-{n}",
                        shipment_id=shipment_id or False,
                        at=iso_utc(at),
                        action=action,
                        action_label=labels[action],
                        by=by,
                        note=text(note),
                    )
                )
        return entries

    # --- hand-offs and gaps ----------------------------------------------------------------------
    @api.model
    def _timeline_main_types(self, types):
        """The main progression, one type per rank (the first by sequence): [type row]."""
        by_rank = {}
        for row in sorted(types.values(), key=lambda r: (r["rank"], r["sequence"], r["id"])):
            if row["category"] == MAIN_CATEGORY and row["rank"] > 0:
                by_rank.setdefault(row["rank"], row)
        return [by_rank[rank] for rank in sorted(by_rank)]

    @api.model
    def _timeline_handoffs(self, events, types):
        """Latency between consecutive main-progression milestones of each shipment: the first
        event of each rank reached (late ones included: they are real milestones; a non-owner's
        is not), in rank order. Seconds may be negative when a partner's clock or a late
        report says the later step happened first."""
        first = {}  # shipment id -> rank -> event
        for event in events:  # by occurred_at
            event_type = types.get(event["type_id"])
            if (
                not event_type
                or event_type["category"] != MAIN_CATEGORY
                or event_type["rank"] <= 0
                or event["state"] == "ignored"
            ):
                continue
            first.setdefault(event["shipment_id"], {}).setdefault(event_type["rank"], event)
        handoffs = []
        for shipment_id in sorted(first):
            reached = [first[shipment_id][rank] for rank in sorted(first[shipment_id])]
            for before, after in itertools.pairwise(reached):
                before_type, after_type = types[before["type_id"]], types[after["type_id"]]
                handoffs.append(
                    {
                        "shipment_id": shipment_id,
                        "from_code": before_type["code"],
                        "from_name": text(before_type["name"]),
                        "to_code": after_type["code"],
                        "to_name": text(after_type["name"]),
                        "from_at": iso_utc(before["occurred_at"]),
                        "to_at": iso_utc(after["occurred_at"]),
                        "seconds": int32(
                            (after["occurred_at"] - before["occurred_at"]).total_seconds()
                        ),
                    }
                )
        return handoffs

    def _timeline_gaps(self, shipments, events, context):
        """The main-progression milestones not seen yet after the rank reached (see
        ``get_timeline``), with the due times of ``_expected_milestone_due``."""
        types = context["types"]
        main = self._timeline_main_types(types)
        due = self.browse([s["id"] for s in shipments])._expected_milestone_due()
        now = fields.Datetime.now()
        gaps = []
        for shipment in shipments:
            status = types.get(shipment["status_id"]) or {}
            if status.get("is_final"):
                continue
            reached = shipment["status_rank"] or 0
            expected = due.get(shipment["id"], {})
            for row in main:
                owner = context["owners"].get(row["id"]) or ""
                if row["rank"] <= reached or (owner == "wms" and not shipment["wms_backend_id"]):
                    continue
                due_at = expected.get(row["code"])
                gaps.append(
                    {
                        "shipment_id": shipment["id"],
                        "type_code": row["code"],
                        "type_name": text(row["name"]),
                        "rank": row["rank"],
                        "owner": owner,
                        "owner_label": text(context["owner_kinds"].get(owner)),
                        "due_at": iso_utc(due_at),
                        "overdue": bool(due_at and due_at < now),
                    }
                )
        return gaps
