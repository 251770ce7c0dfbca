import json
import logging
import re
import secrets
from collections import Counter
from typing import NamedTuple

from odoo import api, fields, models
from odoo.exceptions import AccessError, ConcurrencyError, UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

from .event_time import event_time
from .json_text import is_storable, pretty_json, storable_problem
from .logistics_event_type import (
    STATUS_FINAL_SQL,
    STATUS_GUARD_SQL,
    ShipmentStatus,
    moves_status,
)
from .logistics_package import canonical_packages

_logger = logging.getLogger(__name__)

TRACEPARENT = re.compile(r"^00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")
EVENT_FIELDS = {
    "type",
    "occurred_at",
    "event_id",
    "shipment_ref",
    "tracking_number",
    "payload",
    "traceparent",
}
MAX_ID_LENGTH = 255
MAX_BATCH = 5000


def json_recordset(columns, rows):
    """Rows (dicts) for a statement as one JSON parameter, read back as the relation ``v`` with
    ``columns`` (a constant column definition list, e.g. ``"id int, at timestamp"``). Passed as
    Python lists, the same values are quoted one by one by psycopg2: 11 ms for the columns of
    1,000 events, a quarter of their insert."""
    return SQL(f"json_to_recordset(%s::json) AS v ({columns})", json.dumps(rows))


def plain_text(value):
    """A payload value shown as text: a string stripped, a number as written, else ""."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def place_text(value):
    """A payload's place as one line: a text as it is, or an object's city, "state zip" and
    country joined by commas ("Memphis, TN 38118, US")."""
    if not isinstance(value, dict):
        return plain_text(value)
    region = " ".join(filter(None, (plain_text(value.get(key)) for key in ("state", "zip"))))
    parts = (plain_text(value.get("city")), region, plain_text(value.get("country")))
    return ", ".join(part for part in parts if part)


class EventTypeInfo(NamedTuple):
    """What ingestion needs of an event type (``_event_types``). ``owner_kind``: the kind of
    system of record (Ownership Rules), None when any source may set it."""

    id: int
    sets_status: bool
    owner_kind: str | None
    code: str
    rank: int
    is_final: bool


def is_transaction_fault(error):
    """Whether an error raised while applying one item of a batch (an event, an inbound
    message) belongs to the transaction rather than to the item: a database concurrency error
    (serialization failure, deadlock, lock not available: the whole transaction must start
    again to see what the other one committed), the bare ``Exception`` an Odoo worker raises at
    its CPU time limit (``odoo.service.server.Worker.signal_time_expired_handler``), or a
    MemoryError. Any other error is the item's: it is isolated and the others applied."""
    if isinstance(error, (*PG_CONCURRENCY_EXCEPTIONS_TO_RETRY, ConcurrencyError, MemoryError)):
        return True
    return type(error) is Exception


class EventRejected(Exception):
    """One event of a batch can't be accepted; ``kind`` names the exception type to raise.
    ``reference``: the shipment reference or tracking number that no shipment had (yet)."""

    def __init__(self, kind, error, reference=None):
        super().__init__(error)
        self.kind = kind
        self.error = error
        self.reference = reference


class LogisticsEvent(models.Model):
    """A business milestone of a shipment, whatever system reported it."""

    _name = "logistics.event"
    _description = "Logistics Event"
    _order = "occurred_at desc, id desc"
    _rec_name = "type_id"
    # Append-only facts: ``recorded_at`` says when, ``backend_id`` and ``message_id`` from
    # where. No create_uid / write_uid: their foreign keys lock the same res.users row for
    # every inserted event, which cost more than the rest of the insert (91 ms vs 36 ms per
    # 1,000 events, EXPLAIN ANALYZE).
    _log_access = False

    # Indexes are chosen for the hot insert path: the unique (backend, partner id) pair, the
    # timeline (shipment, time), trace id lookups, and the raw message when there is one.
    shipment_id = fields.Many2one(
        "logistics.shipment", required=True, ondelete="cascade", readonly=True
    )
    type_id = fields.Many2one("logistics.event.type", required=True, readonly=True)
    occurred_at = fields.Datetime(
        required=True, readonly=True, help="When it happened, by the source's clock."
    )
    recorded_at = fields.Datetime(
        required=True, readonly=True, default=fields.Datetime.now, help="When Odoo stored it."
    )
    backend_id = fields.Many2one(
        "logistics.backend", string="Source", readonly=True, ondelete="restrict"
    )
    source_event_id = fields.Char(
        string="Partner Event ID", required=True, readonly=True, help="The source's id."
    )
    correlation_id = fields.Char(index=True, readonly=True, help="W3C trace id.")
    traceparent = fields.Char(readonly=True)
    # Not read with the other columns: only the code that needs an event's payload loads it.
    payload = fields.Json(readonly=True, prefetch=False)
    message_id = fields.Many2one(
        "logistics.message",
        string="Raw Message",
        index="btree_not_null",
        readonly=True,
        ondelete="set null",
    )
    package_id = fields.Many2one(
        "logistics.package",
        readonly=True,
        ondelete="set null",
        help="The package this event is about, when it came by a package's tracking number.",
    )
    # What the event did; decided by ``_decide`` with the status rule (``moves_status``).
    state = fields.Selection(
        [
            ("applied", "Applied"),
            ("arrived_late", "Arrived late (status unchanged)"),
            ("ignored", "Ignored"),
        ],
        required=True,
        default="applied",
        readonly=True,
        help="Applied: taken into account (a status-setting milestone became the status). "
        "Arrived late: a real milestone, on the timeline and published, that the status had "
        "already gone past (a lower rank, or an older time at the same rank; DESIGN §2): the "
        "status is unchanged. Ignored: see the reason.",
    )
    ignore_reason = fields.Selection(
        [("not_owner", "Not owner")],
        readonly=True,
        help="Not owner: the source is not the system of record for this event type "
        "(Ownership Rules).",
    )
    # The canonical payload as a person reads it, and what a carrier checkpoint says in it: a
    # connector's adapter puts the scan's place under "location" (a text, or an object with
    # city / state / zip / country), who signed for the parcel under "signed_by" and the
    # carrier's words under "message" (e.g. the EasyPost adapter's tracker updates).
    payload_pretty = fields.Text(string="Payload (indented)", compute="_compute_payload_reading")
    checkpoint_location = fields.Char(
        string="Location",
        compute="_compute_payload_reading",
        help='Where the partner scanned the parcel (payload "location").',
    )
    signed_by = fields.Char(
        compute="_compute_payload_reading",
        help='Who signed for the parcel, on a proof of delivery (payload "signed_by").',
    )
    checkpoint_message = fields.Char(
        string="Partner's Words",
        compute="_compute_payload_reading",
        help='What the partner said about this milestone (payload "message").',
    )
    # A redelivery is not stored again (the unique index below): it only makes this number
    # grow. No default: the insert path doesn't write it, and NULL reads as 0.
    duplicate_count = fields.Integer(
        string="Duplicates Received",
        readonly=True,
        help="How many times the source sent this event again (the same partner event id) "
        "after it was stored, by ingest or as a webhook redelivery: absorbed, never applied "
        "twice. Best effort: a redelivery that meets a concurrent one may go uncounted.",
    )
    # An event belongs to its shipment's company. Not a column of its own: stored, it would be a
    # second copy of that fact and a foreign key for PostgreSQL to check on every insert (4.5 ms
    # per 1,000 events). The multi-company rule searches it through the shipment.
    company_id = fields.Many2one(related="shipment_id.company_id")

    # The database, not the code, guarantees exactly-once: a partner's event id is stored once
    # per backend, whatever the number of deliveries or concurrent transactions.
    _backend_event_uniq = models.UniqueIndex("(backend_id, source_event_id)")
    _shipment_occurred_idx = models.Index("(shipment_id, occurred_at)")

    @api.depends("payload")
    def _compute_payload_reading(self):
        for event in self:
            payload = event.payload
            event.payload_pretty = pretty_json(payload)
            payload = payload if isinstance(payload, dict) else {}
            event.checkpoint_location = place_text(payload.get("location")) or False
            event.signed_by = plain_text(payload.get("signed_by")) or False
            event.checkpoint_message = plain_text(payload.get("message")) or False

    # --- public API (RPC) ------------------------------------------------------------------------
    @api.model
    def ingest_events(self, backend_code, events):
        """Record canonical events from a backend; the one entry point for RPC, webhooks and
        adapters.

        :param backend_code: the backend's code
        :param events: list of dicts with ``type``, ``occurred_at`` (ISO 8601 with offset),
            ``event_id``, ``shipment_ref`` or ``tracking_number``, optional ``payload`` (dict)
            and ``traceparent``
        :return: ``{"accepted": n, "duplicates": n, "rejected": [{"index": i, "error": str}]}``
        """
        if not self.env.user.has_group("logistics_integration_base.group_logistics_user"):
            raise AccessError(self.env._("Only Logistics Users may ingest logistics events."))
        backend = self.env["logistics.backend"]._find_by_code(backend_code)
        if not isinstance(events, list):
            raise UserError(self.env._("events must be a list of event objects."))
        if len(events) > MAX_BATCH:
            raise UserError(self.env._("At most %(max)s events per call.", max=MAX_BATCH))
        return self.sudo()._ingest_isolated(backend, events)

    def _ingest_isolated(self, backend, events):
        """``_ingest`` for an RPC call: one event whose application raises (a connector's
        reaction that Odoo refuses, such as validating a transfer without its lot number) is
        rejected with its index, and the call's other events are applied.

        The batch runs in a savepoint, the hot path; only when it raises are the events applied
        one by one, each in a savepoint of its own (as inbound messages are, see
        ``logistics.backend._process_inbound``). A database concurrency error is raised as it
        is: Odoo's RPC layer then runs the whole call again."""
        try:
            with self.env.cr.savepoint():
                return self._ingest(backend, events)
        except Exception as error:  # any failure: find the event that raises
            self._raise_unless_event_fault(error)
        result = {"accepted": 0, "duplicates": 0, "rejected": []}
        failed = []
        for index, event in enumerate(events):
            try:
                with self.env.cr.savepoint():
                    one = self._ingest(backend, [event])
            except Exception as error:  # the event's fault, whatever it raised
                self._raise_unless_event_fault(error)
                text = str(error) if isinstance(error, UserError) else repr(error)
                _logger.warning("event #%s from %s not applied: %s", index, backend.code, text)
                result["rejected"].append({"index": index, "error": f"not applied: {text}"})
                # A connector names what it couldn't apply (``InboundNotApplied``).
                failed.append(
                    (index, event, text, getattr(error, "exception_type", "processing_failed"))
                )
                continue
            result["accepted"] += one["accepted"]
            result["duplicates"] += one["duplicates"]
            result["rejected"] += [dict(r, index=index) for r in one["rejected"]]
        if not failed:
            return result
        for exception_type in dict.fromkeys(failure[3] for failure in failed):
            self.env["logistics.exception"]._raise(
                exception_type,
                [
                    {
                        "name": f"{backend.code}: event #{index} not applied: {text}"[:200],
                        "backend_id": backend.id,
                        "source_event_id": self._raw_event_id(event),
                        "description": f"Odoo could not apply the event: {text}\n\n"
                        + json.dumps(event, default=str, indent=2)[:4000],
                        "company_id": backend.company_id.id,
                    }
                    for index, event, text, type_code in failed
                    if type_code == exception_type
                ],
            )
        return result

    @staticmethod
    def _raise_unless_event_fault(error):
        """Raise what is not the event's fault (``is_transaction_fault``): Odoo's RPC layer
        runs the whole call again after a concurrency error."""
        if is_transaction_fault(error):
            raise error

    # --- ingestion -------------------------------------------------------------------------------
    def _ingest(self, backend, events, messages=None, source_kind=None):
        """``messages``: optional inbound messages, one per event, that carried them.
        ``source_kind``: the kind of system that reports the events when it is not the
        backend's (``odoo`` for what Odoo itself did with the backend, e.g. a release)."""
        source_kind = source_kind or backend.kind
        rejected = []  # (index, EventRejected, event)
        parsed = []  # (index, normalised event)
        # One test of the whole batch at the speed of json.dumps; each event is looked at
        # closer only when it fails (4 µs an event otherwise).
        storable = is_storable(events)
        for index, event in enumerate(events):
            try:
                parsed.append((index, self._parse_event(event, storable=storable)))
            except EventRejected as rejection:
                rejected.append((index, rejection, event))
        for index, event in parsed:
            event["message_id"] = messages[index].id if messages else None

        types = self._event_types()
        shipments = self._find_shipments(backend, parsed)
        resolved = []
        for index, event in parsed:
            try:
                event["type"] = self._resolve_type(types, event["type"])
                event["shipment"] = self._resolve_shipment(shipments, event)
            except EventRejected as rejection:
                rejected.append((index, rejection, event["raw"]))
                continue
            resolved.append(event)

        fresh, duplicates = self._drop_repeats(resolved)
        rows = self._decide(source_kind, fresh)
        recorded_at = fields.Datetime.now()
        inserted = self._insert(backend, rows, recorded_at)
        duplicates += len(rows) - len(inserted)
        rows = self._decide_without_stored(source_kind, rows, inserted)
        self._cache_stored(backend, rows, inserted, recorded_at)
        if duplicates:  # after the cache holds the new events, which it corrects
            sent = Counter(event["event_id"] for event in resolved)
            self._count_duplicates(
                backend,
                {
                    event_id: count - (event_id in inserted)
                    for event_id, count in sent.items()
                    if count - (event_id in inserted)
                },
            )
        self._apply_status(source_kind, rows, inserted)
        self._publish(rows, inserted)
        self._react(rows, inserted)
        self.env["logistics.shipment.sla"]._track_events(
            source_kind,
            [
                {
                    "shipment_id": row["shipment_id"],
                    "type_id": row["type_id"],
                    "occurred_at": row["event"]["occurred_at"],
                }
                for row in rows
                if row["event"]["event_id"] in inserted and row["state"] != "ignored"
            ],
        )
        if rejected:
            self._record_rejections(backend, rejected, messages)
        rejected.sort(key=lambda rejection: rejection[0])
        _logger.info(
            "ingest from backend %s: %s accepted, %s duplicates, %s rejected",
            backend.code,
            len(inserted),
            duplicates,
            len(rejected),
        )
        return {
            "accepted": len(inserted),
            "duplicates": duplicates,
            "rejected": [
                {"index": index, "error": rejection.error} for index, rejection, _e in rejected
            ],
        }

    @api.model
    def _parse_event(self, event, storable=False):
        """Check one event's fields; returns a normalised copy or raises EventRejected.

        :param storable: the caller checked that the event holds nothing PostgreSQL can't
            store (``json_text.is_storable`` of its batch)"""

        def invalid(error):
            return EventRejected("schema_invalid", error)

        if not isinstance(event, dict):
            raise invalid("an event must be an object")
        # Over JSON-RPC, NaN, \u0000 and lone surrogates arrive as they are, over XML-RPC
        # dateTime and base64 values: PostgreSQL or the JSON column would fail the whole call.
        # occurred_at is checked on its own: over XML-RPC it may be a dateTime.
        problem = None
        if not storable:
            rest = {key: value for key, value in event.items() if key != "occurred_at"}
            problem = None if is_storable(rest) else storable_problem(rest)
        if problem:
            raise invalid(problem)
        unknown = sorted(set(event) - EVENT_FIELDS)
        if unknown:
            raise invalid(f"unknown field(s): {', '.join(unknown)}")
        event_type = event.get("type")
        if not isinstance(event_type, str) or not event_type:
            raise invalid("'type' is required (a canonical event type code)")
        event_id = event.get("event_id")
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            event_id = str(event_id)
        if not isinstance(event_id, str) or not event_id.strip():
            raise invalid("'event_id' is required (the partner's id of the event)")
        if len(event_id) > MAX_ID_LENGTH:
            raise invalid(f"'event_id' is longer than {MAX_ID_LENGTH} characters")
        if event.get("occurred_at") in (None, ""):
            raise invalid("'occurred_at' is required (ISO 8601 with a UTC offset)")
        try:
            occurred_at = event_time(event["occurred_at"])
        except ValueError as error:
            raise invalid(f"'occurred_at' {error}") from None
        shipment_ref = event.get("shipment_ref")
        tracking_number = event.get("tracking_number")
        for name, value in (("shipment_ref", shipment_ref), ("tracking_number", tracking_number)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise invalid(f"'{name}' must be a non-empty string")
        if not shipment_ref and not tracking_number:
            raise invalid("'shipment_ref' or 'tracking_number' is required")
        payload = event.get("payload")
        if payload is not None and not isinstance(payload, dict):
            raise invalid("'payload' must be an object")
        if payload and "packages" in payload:
            try:
                payload = {**payload, "packages": canonical_packages(payload["packages"])}
            except ValueError as error:
                raise invalid(f"'payload.packages': {error}") from None
        traceparent = event.get("traceparent")
        match = TRACEPARENT.match(traceparent) if isinstance(traceparent, str) else None
        return {
            "raw": event,
            "type": event_type,
            "event_id": event_id.strip(),
            "occurred_at": occurred_at,
            "shipment_ref": shipment_ref and shipment_ref.strip(),
            "tracking_number": tracking_number and tracking_number.strip(),
            "payload": payload,
            "traceparent": traceparent if match else None,
            "trace_id": match.group(1) if match else None,
        }

    @api.model
    def _event_types(self):
        """code -> ``EventTypeInfo``, in two queries."""
        types = self.env["logistics.event.type"].search_fetch(
            [], ["code", "sets_status", "rank", "is_final"]
        )
        owners = {
            rule.event_type_id.id: rule.owner_kind
            for rule in self.env["logistics.ownership.rule"].search_fetch(
                [], ["event_type_id", "owner_kind"]
            )
        }
        return {
            t.code: EventTypeInfo(t.id, t.sets_status, owners.get(t.id), t.code, t.rank, t.is_final)
            for t in types
        }

    @api.model
    def _resolve_type(self, types, code):
        if code not in types:
            raise EventRejected("mapping_missing", f"unknown event type {code!r}")
        return types[code]

    @api.model
    def _find_shipments(self, backend, parsed):
        """Shipments the events refer to, by reference, transfer, sale order or tracking number,
        in one query: {("ref" | "tracking", value): [shipment rows]}.

        Each kind of reference is a join of the batch's values with that column's index, and
        the values travel as one JSON parameter. The planner can then only probe the index or
        hash the table: an ``= ANY(array)`` test instead lets it scan a table it believes small
        and compare each row with every value (33 ms instead of 3 for 1,000 events on 2,000
        new shipments), and the same values as array constants cost more to plan than to run."""
        refs = sorted({event["shipment_ref"] for _i, event in parsed if event["shipment_ref"]})
        numbers = sorted(
            {event["tracking_number"] for _i, event in parsed if event["tracking_number"]}
        )
        found = {}
        if not refs and not numbers:
            return found
        # The query reads columns the ORM may not have written yet (e.g. a tracking number set
        # earlier in this transaction).
        self.env["logistics.shipment"].flush_model(
            [
                "name",
                "tracking_number",
                "status_at",
                "status_rank",
                "status_id",
                "correlation_id",
                "picking_id",
                "sale_id",
                "company_id",
            ]
        )
        self.env["stock.picking"].flush_model(["name"])
        self.env["sale.order"].flush_model(["name"])
        if numbers:
            self.env["logistics.package"].flush_model(["tracking_number", "shipment_id"])
        # Read before the query: reading it after may fetch the backend, and replace the
        # query's result set on the cursor before it is read.
        company = backend.company_id.id
        shipment_columns = SQL(
            "s.id, s.name, s.status_rank, s.status_at, %s, s.correlation_id, s.company_id",
            STATUS_FINAL_SQL,
        )
        self.env.cr.execute(
            SQL(
                """
                WITH refs AS MATERIALIZED (SELECT json_array_elements_text(%(refs)s::json) AS ref),
                     numbers AS MATERIALIZED (
                         SELECT json_array_elements_text(%(numbers)s::json) AS number)
                SELECT 'ref', refs.ref, %(columns)s
                  FROM refs JOIN logistics_shipment s ON s.name = refs.ref
                UNION ALL
                SELECT 'ref', refs.ref, %(columns)s
                  FROM refs JOIN stock_picking p ON p.name = refs.ref
                  JOIN logistics_shipment s ON s.picking_id = p.id
                UNION ALL
                SELECT 'ref', refs.ref, %(columns)s
                  FROM refs JOIN sale_order so ON so.name = refs.ref
                  JOIN logistics_shipment s ON s.sale_id = so.id
                UNION ALL
                SELECT 'tracking', numbers.number, %(columns)s
                  FROM numbers JOIN logistics_shipment s ON s.tracking_number = numbers.number
                UNION ALL
                SELECT 'tracking', numbers.number, %(shipment_columns)s, pk.id
                  FROM numbers JOIN logistics_package pk ON pk.tracking_number = numbers.number
                  JOIN logistics_shipment s ON s.id = pk.shipment_id
                """,
                refs=json.dumps(refs),
                numbers=json.dumps(numbers),
                columns=SQL("%s, NULL::int", shipment_columns),
                shipment_columns=shipment_columns,
            )
        )
        package_ids = set()
        for row in self.env.cr.fetchall():
            kind, value, sid, name, rank, status_at, final, correlation, company_id, package = row
            if company_id != company:  # another company's shipment is not this backend's
                continue
            matches = found.setdefault((kind, value), {})
            match = matches.setdefault(
                sid,
                {
                    "id": sid,
                    "name": name,
                    "status": ShipmentStatus(rank, status_at, final),
                    "correlation": correlation,
                    "package_ids": [],
                },
            )
            if package:  # one of its packages (several: a master number they share)
                match["package_ids"].append(package)
                package_ids.add(package)
        result = {key: list(matches.values()) for key, matches in found.items()}
        if package_ids:
            self._add_package_statuses(result, package_ids)
        return result

    @api.model
    def _resolve_shipment(self, shipments, event):
        if event["shipment_ref"]:
            key, label = ("ref", event["shipment_ref"]), "shipment_ref"
        else:
            key, label = ("tracking", event["tracking_number"]), "tracking_number"
        matches = shipments.get(key, [])
        if not matches:
            raise EventRejected(
                "mapping_missing", f"no shipment found for {label} {key[1]!r}", reference=key[1]
            )
        if len(matches) > 1:
            raise EventRejected(
                "mapping_missing",
                f"{label} {key[1]!r} matches {len(matches)} shipments "
                f"({', '.join(sorted(m['name'] for m in matches))}); send the shipment reference",
            )
        return matches[0]

    @api.model
    def _drop_repeats(self, events):
        """An event repeated within the batch is a duplicate. The ones stored before, by an
        earlier call or by a concurrent transaction, are the unique index's to catch when the
        batch is inserted (ON CONFLICT DO NOTHING): a query to look for them first would cost as
        much as that (see ``_decide_without_stored``)."""
        seen = set()
        fresh = []
        for event in events:
            if event["event_id"] not in seen:
                seen.add(event["event_id"])
                fresh.append(event)
        return fresh, len(events) - len(fresh)

    @api.model
    def _decide(self, source_kind, events):
        """Decide, in arrival order, what each event does: become the status (applied), arrive
        late (a status-setting milestone the status has gone past, by the status rule
        ``moves_status``), or be ignored (not owner). Finance and channel milestones are applied
        without setting the status. Each row carries the rank reached after it, for
        ``_apply_status``."""
        statuses = {}  # shipment id -> ShipmentStatus after the batch's events so far
        packages = {}  # shipment id -> its packages' statuses after the batch's events so far
        rows = []
        for event in events:
            event_type = event["type"]
            shipment = event["shipment"]
            status = statuses.get(shipment["id"], shipment["status"])
            state, reason = "applied", None
            package = {"moves": {}, "held": False, "proxy": None}
            if event_type.owner_kind and event_type.owner_kind != source_kind:
                state, reason = "ignored", "not_owner"
            elif event_type.sets_status and shipment["package_ids"]:
                state, package = self._decide_package_event(event, status, packages)
                if package["status"] is not None:
                    status = package["status"]
                    statuses[shipment["id"]] = status
            elif event_type.sets_status:
                if moves_status(event_type.rank, event["occurred_at"], status):
                    status = ShipmentStatus(
                        max(status.rank, event_type.rank),
                        event["occurred_at"],
                        event_type.is_final,
                    )
                    statuses[shipment["id"]] = status
                else:
                    state = "arrived_late"
            trace_id = event["trace_id"] or shipment["correlation"]
            rows.append(
                {
                    "event": event,
                    "type_id": event_type.id,
                    "sets_status": event_type.sets_status
                    and state == "applied"
                    and not package["held"],
                    "rank_reached": status.rank,
                    "shipment_id": shipment["id"],
                    # The one package the event is about (None: the shipment, or a master
                    # number several packages share).
                    "package_id": shipment["package_ids"][0]
                    if len(shipment["package_ids"]) == 1
                    else None,
                    # {package id: rank after the event} of the packages it moved; the status
                    # of the slowest package the shipment moves to instead (see
                    # ``_decide_package_event``).
                    "package_moves": package["moves"],
                    "held": package["held"],
                    "proxy": package["proxy"],
                    "state": state,
                    "ignore_reason": reason,
                    "correlation_id": trace_id,
                    "traceparent": event["traceparent"]
                    or f"00-{trace_id}-{secrets.token_hex(8)}-01",
                }
            )
        return rows

    def _insert(self, backend, rows, recorded_at):
        """INSERT … ON CONFLICT DO NOTHING; returns {event_id: new row id} of the rows stored.
        The rows travel as one JSON parameter (``json_recordset``)."""
        if not rows:
            return {}
        values = [
            {
                "shipment_id": row["shipment_id"],
                "type_id": row["type_id"],
                "occurred_at": row["event"]["occurred_at"].isoformat(),
                "source_event_id": row["event"]["event_id"],
                "correlation_id": row["correlation_id"],
                "traceparent": row["traceparent"],
                "payload": row["event"]["payload"],
                "state": row["state"],
                "ignore_reason": row["ignore_reason"],
                "message_id": row["event"]["message_id"],
                # Left out when None (most events): the column reads NULL then, and the JSON
                # of a batch stays as short as before packages.
                **({"package_id": row["package_id"]} if row["package_id"] else {}),
            }
            for row in rows
        ]
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO logistics_event
                    (shipment_id, type_id, occurred_at, source_event_id, correlation_id,
                     traceparent, payload, state, ignore_reason, backend_id, message_id,
                     package_id, recorded_at)
                SELECT v.shipment_id, v.type_id, v.occurred_at, v.source_event_id,
                       v.correlation_id, v.traceparent, v.payload, v.state, v.ignore_reason,
                       %(backend)s, v.message_id, v.package_id, %(now)s
                  FROM %(values)s
                ON CONFLICT (backend_id, source_event_id) DO NOTHING
                RETURNING source_event_id, id
                """,
                backend=backend.id,
                now=recorded_at,
                values=json_recordset(
                    "shipment_id int, type_id int, occurred_at timestamp,"
                    " source_event_id varchar, correlation_id varchar, traceparent varchar,"
                    " payload jsonb, state varchar, ignore_reason varchar, message_id int,"
                    " package_id int",
                    values,
                ),
            )
        )
        inserted = dict(self.env.cr.fetchall())
        # The shipments' event lists read earlier in this transaction miss the new events.
        self.env["logistics.shipment"].invalidate_model(["event_ids", "event_count"])
        return inserted

    @api.model
    def _count_duplicates(self, backend, counts):
        """Add redeliveries to the stored events' ``duplicate_count``, for the timeline.

        :param backend: the backend whose partner event ids these are
        :param counts: ``{partner event id: times it came again}``

        Best effort, so that counting never fails or slows what it counts: an event row that a
        concurrent transaction holds is skipped (``SKIP LOCKED``), and a serialization failure
        is swallowed in its savepoint. Ingest calls it only for a batch with duplicates, the
        webhook door only for a redelivery."""
        if not counts:
            return
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        """
                        WITH locked AS (
                            SELECT e.id, v.n FROM %(values)s
                              JOIN logistics_event e
                                ON e.backend_id = %(backend)s
                               AND e.source_event_id = v.source_event_id
                               FOR UPDATE OF e SKIP LOCKED
                        )
                        UPDATE logistics_event e
                           SET duplicate_count = COALESCE(e.duplicate_count, 0) + locked.n
                          FROM locked WHERE e.id = locked.id
                        """,
                        backend=backend.id,
                        values=json_recordset(
                            "source_event_id varchar, n int",
                            [{"source_event_id": key, "n": n} for key, n in counts.items()],
                        ),
                    ),
                    log_exceptions=False,
                )
        except (*PG_CONCURRENCY_EXCEPTIONS_TO_RETRY,):
            _logger.info("duplicates of %s not counted: a concurrent update", backend.code)
        self.invalidate_model(["duplicate_count"])

    def _decide_without_stored(self, source_kind, rows, inserted):
        """The rows of the events just inserted, decided without the ones the insert found
        stored already. Those were decided as if new, and one that set the status then may have
        made a newer event look late (a partner resending an event id with a corrected time,
        say): the rows are decided again without them, and the stored decisions that
        change are corrected. A batch without such duplicates costs nothing more."""
        if all(row["event"]["event_id"] in inserted or not row["sets_status"] for row in rows):
            return [row for row in rows if row["event"]["event_id"] in inserted]
        kept = [row for row in rows if row["event"]["event_id"] in inserted]
        again = self._decide(source_kind, [row["event"] for row in kept])
        changed = []
        for before, after in zip(kept, again, strict=True):
            after["correlation_id"], after["traceparent"] = (
                before["correlation_id"],
                before["traceparent"],
            )
            if (after["state"], after["ignore_reason"]) != (
                before["state"],
                before["ignore_reason"],
            ):
                changed.append(
                    {
                        "id": inserted[after["event"]["event_id"]],
                        "state": after["state"],
                        "ignore_reason": after["ignore_reason"],
                    }
                )
        if changed:
            self.env.cr.execute(
                SQL(
                    "UPDATE logistics_event e SET state = v.state, ignore_reason = v.ignore_reason"
                    " FROM %s WHERE e.id = v.id",
                    json_recordset("id int, state varchar, ignore_reason varchar", changed),
                )
            )
        return again

    def _cache_stored(self, backend, rows, inserted, recorded_at):
        """Put the stored events' columns in the ORM cache, as a read would: the reactions that
        follow browse them, and reading back what was just written cost a query and its
        conversion (in the ingest benchmark, half of whose batches have reactions, the
        reactions went from 13.9 to 9.0 ms per batch of 1,000). The payload is left out: it is
        not prefetched either."""
        stored = [row for row in rows if row["event"]["event_id"] in inserted]
        events = self.browse([inserted[row["event"]["event_id"]] for row in stored])
        columns = {
            "shipment_id": lambda row: row["shipment_id"],
            "type_id": lambda row: row["type_id"],
            "occurred_at": lambda row: row["event"]["occurred_at"],
            "recorded_at": lambda row: recorded_at,
            "backend_id": lambda row: backend.id,
            "source_event_id": lambda row: row["event"]["event_id"],
            "correlation_id": lambda row: row["correlation_id"],
            "traceparent": lambda row: row["traceparent"],
            "message_id": lambda row: row["event"]["message_id"],
            "package_id": lambda row: row["package_id"],
            "state": lambda row: row["state"],
            "ignore_reason": lambda row: row["ignore_reason"],
            "duplicate_count": lambda row: 0,
        }
        for name, value in columns.items():
            self._fields[name]._insert_cache(events, map(value, stored))

    def _apply_status(self, source_kind, rows, inserted):
        """Move each shipment to the last event of this batch that ``_decide`` applied to it,
        with the rank reached. The WHERE clause is the status rule again (``STATUS_GUARD_SQL``,
        the twin of ``moves_status``), checked against the row as it is when updated: the
        status never goes back, even against a concurrent batch."""
        self._apply_package_status(rows, inserted)
        latest = {}
        for row in rows:
            event_id = inserted.get(row["event"]["event_id"])
            if not event_id:
                continue
            if row["sets_status"]:
                latest[row["shipment_id"]] = {
                    "shipment_id": row["shipment_id"],
                    "type_id": row["type_id"],
                    "code": row["event"]["type"].code,
                    "event_id": event_id,
                    "occurred_at": row["event"]["occurred_at"].isoformat(),
                    "rank": row["event"]["type"].rank,
                    "rank_reached": row["rank_reached"],
                }
            elif row["proxy"]:  # the shipment moves to its slowest package's status
                proxy = row["proxy"]
                status_event = proxy["event_ref"] or inserted.get(proxy["event_key"])
                if status_event:
                    latest[row["shipment_id"]] = {
                        "shipment_id": row["shipment_id"],
                        "type_id": proxy["type_id"],
                        "code": proxy["code"],
                        "event_id": status_event,
                        "occurred_at": proxy["occurred_at"].isoformat(),
                        "rank": proxy["rank"],
                        "rank_reached": row["rank_reached"],
                    }
        if not latest:
            return
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_shipment s
                   SET status_id = v.type_id, status_code = v.code, status_event_ref = v.event_id,
                       status_at = v.occurred_at,
                       status_rank = GREATEST(s.status_rank, v.rank_reached),
                       status_owner = %(owner)s, has_milestone = TRUE,
                       write_uid = %(uid)s, write_date = now() AT TIME ZONE 'UTC'
                  FROM %(values)s
                 WHERE s.id = v.shipment_id AND %(guard)s
                """,
                owner=source_kind,
                uid=self.env.uid,
                guard=STATUS_GUARD_SQL,
                values=json_recordset(
                    "shipment_id int, type_id int, code varchar, event_id int,"
                    " occurred_at timestamp, rank int, rank_reached int",
                    list(latest.values()),
                ),
            )
        )
        self.env["logistics.shipment"].invalidate_model(
            [
                "status_id",
                "status_code",
                "status_event_ref",
                "status_event_id",
                "status_at",
                "status_rank",
                "status_owner",
            ]
        )

    def _publish(self, rows, inserted):
        """Fan milestones out to the backends subscribed to their type, as outbound messages
        (each subscriber gets its own, delivered in event order). Milestones that arrived late
        are real too (a WMS's shipped confirmation that comes after the carrier's first scan
        is what a sales channel waits for); events from a non-owner are not published."""
        applied = [
            row
            for row in rows
            if row["state"] != "ignored" and row["event"]["event_id"] in inserted
        ]
        if not applied:
            return
        subscriptions = self.env["logistics.subscription"].search_fetch(
            [("event_type_ids", "in", list({row["type_id"] for row in applied}))],
            ["backend_id", "event_type_ids"],
        )
        if not subscriptions:
            return
        Message = self.env["logistics.message"]
        for row in sorted(applied, key=lambda r: r["event"]["occurred_at"]):
            for subscription in subscriptions:
                if row["type_id"] not in subscription.event_type_ids.ids:
                    continue
                event = row["event"]
                Message._create_outbound(
                    subscription.backend_id,
                    "publish_milestone",
                    {
                        "type": event["type"][3],
                        "occurred_at": event["occurred_at"].isoformat() + "Z",
                        "event_id": event["event_id"],
                        "shipment_ref": event["shipment"]["name"],
                        "payload": event["payload"],
                    },
                    endpoint="/milestones",
                    shipment=self.env["logistics.shipment"].browse(row["shipment_id"]),
                )

    def _react(self, rows, inserted):
        """What the stored events mean beyond the status: exceptions they clear, and the
        reactions connectors declare as ``_on_event_<type code>`` methods on the events of that
        type (a WMS shipment confirmation updates the transfer, a packed parcel gets a label…).
        Events that arrived late are facts too and get their reactions; events from a non-owner
        do not."""
        reacting = [
            (row, inserted[row["event"]["event_id"]])
            for row in rows
            if row["event"]["event_id"] in inserted and row["ignore_reason"] != "not_owner"
        ]
        if not reacting:
            return
        # An event that moved a package, not its shipment (another package is behind, or in
        # exception) clears nothing of the shipment's.
        self._auto_resolve_exceptions([item for item in reacting if not item[0]["held"]])
        # Each handler runs once, on the recordset of the batch's events of its type (in
        # order of arrival; types in order of first appearance). That recordset is also what
        # it prefetches: the batch's other events are not read for it.
        by_code = {}
        for row, event_id in reacting:
            code = row["event"]["type"][3]
            if hasattr(type(self), f"_on_event_{code}"):
                by_code.setdefault(code, []).append(event_id)
        for code, event_ids in by_code.items():
            getattr(self.browse(event_ids), f"_on_event_{code}")()

    # --- reactions: hooks connectors extend (``_react`` calls them on a batch's events) ------
    def _on_event_packed(self):
        """Hook: these events (a recordset, one batch's ``packed`` events) packed parcels: the
        packages they list (``payload.packages``, canonical packages) are recorded on their
        shipments, and the carrier connector buys their labels. Returns nothing."""
        self._record_payload_packages()

    def _on_event_shipped(self):
        """Hook: these ``shipped`` events left the warehouse with the packages they list (the
        WMS's confirmation updates the transfer, the carrier connector makes sure the parcels
        have labels). Returns nothing."""
        self._record_payload_packages()

    def _record_payload_packages(self):
        """Record the packages these events list on their shipments, unless the shipment's
        packages are settled (``_packages_settled``: their labels are being bought): a package
        list that comes then (a packed confirmation after the shipped one) changes nothing,
        and the shipment's chatter says so."""
        if not self:
            return
        # Only the events that list packages are read (a JSON key test in SQL): reading every
        # packed event's payload costs the hot path (DESIGN §8).
        self.flush_recordset(["payload"])
        self.env.cr.execute(
            SQL(
                "SELECT id FROM logistics_event WHERE id = ANY(%s) AND payload ? 'packages'",
                self.ids,
            )
        )
        listing = self.browse([row[0] for row in self.env.cr.fetchall()])
        for event in listing:
            packages = (event.payload or {}).get("packages")
            if not packages:
                continue
            shipment = event.shipment_id
            if not shipment._packages_settled():
                shipment._record_packages(packages, event.backend_id.kind)
                continue
            listed = {package["reference"] for package in packages}
            if listed != set(shipment.package_ids.mapped("name")):
                shipment.sudo().message_post(
                    body=self.env._(
                        "%(backend)s listed the packages %(packages)s (event %(event)s) after "
                        "the labels of %(known)s were asked: the labels stay as they are.",
                        backend=event.backend_id.name,
                        packages=", ".join(sorted(listed)),
                        event=event.source_event_id,
                        known=", ".join(shipment.package_ids.mapped("name")) or "-",
                    )
                )

    def _on_event_delivered(self):
        """Hook: these ``delivered`` events are proof of delivery. Returns nothing."""

    def _on_event_exception(self):
        """Hook: these ``exception`` events are a failed delivery. Returns nothing."""

    def _on_event_returning(self):
        """Hook: these ``returning`` events are parcels on their way back. Returns nothing."""

    def _on_event_cod_collected(self):
        """Hook: these ``cod_collected`` events say the carrier collected the cash on delivery
        of their shipments (payload ``amount``, a number, and ``currency``, an ISO 4217 code).
        Returns nothing."""

    def _auto_resolve_exceptions(self, reacting):
        """Close the open exceptions of these events' shipments whose type is cleared by one
        of these event types (catalogue data: exception type -> resolving event types).
        Works from the batch's rows: a batch that clears nothing costs two small queries."""
        type_ids = list({row["type_id"] for row, _event_id in reacting})
        clearing_types = self.env["logistics.exception.type"].search(
            [("resolving_event_type_ids", "in", type_ids)]
        )
        if not clearing_types:
            return
        exceptions = self.env["logistics.exception"].search(
            [
                ("shipment_id", "in", list({row["shipment_id"] for row, _e in reacting})),
                ("is_closed", "=", False),
                # A grouped card counts several shipments: one of them moving on doesn't
                # clear it (SLA breaches close when every late shipment has moved on).
                ("grouping_key", "=", False),
                ("type_id", "in", clearing_types.ids),
            ]
        )
        cleared_by = {}  # event id -> the exceptions it clears
        for exception in exceptions:
            resolving = exception.type_id.resolving_event_type_ids.ids
            event_id = next(
                (
                    event_id
                    for row, event_id in reacting
                    if row["shipment_id"] == exception.shipment_id.id
                    and row["type_id"] in resolving
                ),
                None,
            )
            if event_id:
                cleared_by[event_id] = cleared_by.get(event_id, exceptions.browse()) | exception
        for event_id, cleared in cleared_by.items():
            cleared._auto_resolve(self.browse(event_id))

    @api.model
    def _record_odoo_events(self, backend, events):
        """Events of what Odoo itself did with a backend (e.g. released an order to it): Odoo
        is their system of record; the backend only scopes their idempotency keys."""
        return self.sudo()._ingest(backend, events, source_kind="odoo")

    def _record_rejections(self, backend, rejected, messages):
        """Every rejected event becomes an exception for a person (one per partner event id
        while it is open), never a silent drop."""
        open_ids = set(
            self.env["logistics.exception"]
            .search_fetch(
                [
                    ("backend_id", "=", backend.id),
                    ("is_closed", "=", False),
                    (
                        "source_event_id",
                        "in",
                        [self._raw_event_id(event) for _i, _r, event in rejected],
                    ),
                ],
                ["source_event_id"],
            )
            .mapped("source_event_id")
        )
        by_kind = {}
        for index, rejection, event in rejected:
            event_id = self._raw_event_id(event)
            if event_id and event_id in open_ids:
                continue
            open_ids.add(event_id)
            body = json.dumps(event, default=str, indent=2)[:4000]
            by_kind.setdefault(rejection.kind, []).append(
                {
                    "name": f"{backend.code}: {rejection.error}"[:200],
                    "backend_id": backend.id,
                    "message_id": messages[index].id if messages else False,
                    "source_event_id": event_id,
                    "unmatched_reference": rejection.reference,
                    "description": f"Event #{index} rejected: {rejection.error}\n\n{body}",
                    "company_id": backend.company_id.id,
                }
            )
        for kind, vals_list in by_kind.items():
            # As superuser: the unmatched reference is Odoo's to set (any user may ingest).
            self.env["logistics.exception"].sudo()._raise(kind, vals_list)

    @staticmethod
    def _raw_event_id(event):
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if event_id in (None, "") or storable_problem(str(event_id)):
            return None
        return str(event_id)[:MAX_ID_LENGTH]
