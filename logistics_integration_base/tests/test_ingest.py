import threading
import time

from odoo import api
from odoo.exceptions import AccessError, UserError
from odoo.service.model import retrying
from odoo.tests import TransactionCase

from .common import LogisticsCase


class TestIngest(LogisticsCase):
    def test_happy_path_moves_status_forward(self):
        result = self.ingest(
            self.wms,
            [
                self.event("wms_acknowledged", "2026-01-05T08:00:00+01:00", "w-1"),
                self.event("picked", "2026-01-05T09:00:00+01:00", "w-2", payload={"lines": 1}),
                self.event("packed", "2026-01-05T10:00:00+01:00", "w-3"),
            ],
        )
        self.assertEqual(result, {"accepted": 3, "duplicates": 0, "rejected": []})
        self.assertEqual(self.shipment.status_code, "packed")
        self.assertEqual(self.shipment.status_owner, "wms")
        self.assertEqual(str(self.shipment.status_at), "2026-01-05 09:00:00")  # UTC
        self.assertEqual(self.shipment.event_count, 3)
        picked = self.shipment.event_ids.filtered(lambda e: e.type_id.code == "picked")
        self.assertEqual(picked.payload, {"lines": 1})
        self.assertEqual(picked.state, "applied")
        self.assertEqual(self.shipment.status_event_id.source_event_id, "w-3")

    def test_duplicate_event_sequential(self):
        event = self.event("picked", "2026-01-05T09:00:00Z", "dup-1")
        self.assertEqual(self.ingest(self.wms, [event])["accepted"], 1)
        again = self.ingest(self.wms, [event])
        self.assertEqual(again, {"accepted": 0, "duplicates": 1, "rejected": []})
        # Twice within one batch too.
        other = self.event("packed", "2026-01-05T10:00:00Z", "dup-2")
        self.assertEqual(
            self.ingest(self.wms, [other, other]),
            {"accepted": 1, "duplicates": 1, "rejected": []},
        )
        events = self.env["logistics.event"].search([("backend_id", "=", self.wms.id)])
        self.assertEqual(sorted(events.mapped("source_event_id")), ["dup-1", "dup-2"])
        # Each redelivery is counted on the stored event, for the timeline: dup-1 came again
        # once, dup-2 twice more (once in its own batch, once in the next).
        self.ingest(self.wms, [other, event])
        self.assertEqual(
            {e.source_event_id: e.duplicate_count for e in events}, {"dup-1": 2, "dup-2": 2}
        )

    def test_redelivered_events_mixed_with_new_ones(self):
        """Stored events sent again in a batch with new ones: the unique index makes them
        duplicates on insert, and they change nothing the new events do."""
        self.ingest(
            self.wms,
            [
                self.event("picked", "2026-01-05T09:00:00Z", "m-1"),
                self.event("packed", "2026-01-05T11:00:00Z", "m-2"),
            ],
        )
        result = self.ingest(
            self.wms,
            [
                self.event("picked", "2026-01-05T09:00:00Z", "m-1"),
                self.event("packed", "2026-01-05T11:00:00Z", "m-2"),
                # a lower rank than the stored status: arrived late, whatever the redeliveries
                self.event("wms_acknowledged", "2026-01-05T10:00:00Z", "m-3"),
                self.event("shipped", "2026-01-05T12:00:00Z", "m-4"),
            ],
        )
        self.assertEqual(result, {"accepted": 2, "duplicates": 2, "rejected": []})
        self.assertEqual(self.shipment.status_code, "shipped")
        self.assertEqual(self.shipment.status_event_id.source_event_id, "m-4")
        events = self.shipment.event_ids
        self.assertEqual(len(events), 4)
        late = events.filtered(lambda e: e.source_event_id == "m-3")
        self.assertEqual((late.state, late.ignore_reason), ("arrived_late", False))

    def test_resent_event_with_another_time_does_not_hide_a_new_one(self):
        """A partner resends a stored event with a corrected, later time, in one batch with a new
        event: the resent one is a duplicate and must not make the new one look late."""
        self.ingest(self.wms, [self.event("picked", "2026-01-05T09:00:00Z", "r-1")])
        result = self.ingest(
            self.wms,
            [
                self.event("picked", "2026-01-05T13:00:00Z", "r-1"),
                self.event("packed", "2026-01-05T12:00:00Z", "r-2"),
            ],
        )
        self.assertEqual(result, {"accepted": 1, "duplicates": 1, "rejected": []})
        self.assertEqual(self.shipment.status_code, "packed")
        packed = self.shipment.event_ids.filtered(lambda e: e.source_event_id == "r-2")
        self.assertEqual((packed.state, packed.ignore_reason), ("applied", False))
        packed.invalidate_recordset()
        self.assertEqual((packed.state, packed.ignore_reason), ("applied", False))

    def test_stored_events_are_in_the_cache_as_stored(self):
        """The reactions read the events just stored from the ORM cache, without a query: what
        the cache holds must be what the database holds."""
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        self.ingest(
            self.wms,
            [
                self.event("picked", "2026-01-05T09:00:00+01:00", "c-1", payload={"a": 1}),
                self.event("delivered", "2026-01-05T10:30:00.250000Z", "c-2"),  # not owner
                self.event("packed", "2026-01-05T10:00:00Z", "c-3", traceparent=traceparent),
            ],
        )
        events = self.env["logistics.event"].search([("backend_id", "=", self.wms.id)])
        columns = [
            name
            for name, field in events._fields.items()
            if field.store and field.column_type and field.prefetch is True and name != "id"
        ]
        with self.assertQueryCount(0):
            cached = events.read(columns, load=None)
        events.invalidate_model()
        self.assertEqual(cached, events.read(columns, load=None))
        self.assertEqual(len(cached), 3)

    def test_same_event_id_from_two_backends_is_two_events(self):
        self.ingest(self.wms, [self.event("picked", "2026-01-05T09:00:00Z", "same")])
        result = self.ingest(
            self.carrier, [self.event("in_transit", "2026-01-05T11:00:00Z", "same")]
        )
        self.assertEqual(result["accepted"], 1)

    def test_late_event_is_kept_but_never_moves_status_back(self):
        self.ingest(self.carrier, [self.event("in_transit", "2026-01-06T12:00:00Z", "c-2")])
        result = self.ingest(
            self.carrier, [self.event("label_created", "2026-01-06T08:00:00Z", "c-1")]
        )
        self.assertEqual(result["accepted"], 1)
        self.assertEqual(self.shipment.status_code, "in_transit")
        late = self.shipment.event_ids.filtered(lambda e: e.source_event_id == "c-1")
        self.assertEqual((late.state, late.ignore_reason), ("arrived_late", False))

    def test_late_event_within_one_batch_follows_arrival_order(self):
        self.ingest(
            self.carrier,
            [
                self.event("out_for_delivery", "2026-01-06T12:00:00Z", "c-2"),
                self.event("in_transit", "2026-01-06T08:00:00Z", "c-1"),
            ],
        )
        self.assertEqual(self.shipment.status_code, "out_for_delivery")
        late = self.shipment.event_ids.filtered(lambda e: e.source_event_id == "c-1")
        self.assertEqual((late.state, late.ignore_reason), ("arrived_late", False))

    def test_non_owner_event_is_stored_and_changes_no_status(self):
        self.ingest(self.wms, [self.event("picked", "2026-01-05T09:00:00Z", "w-1")])
        result = self.ingest(
            self.wms, [self.event("delivered", "2026-01-07T09:00:00Z", "w-claims-delivery")]
        )
        self.assertEqual(result["accepted"], 1)
        self.assertEqual(self.shipment.status_code, "picked")
        claim = self.shipment.event_ids.filtered(lambda e: e.source_event_id == "w-claims-delivery")
        self.assertEqual((claim.state, claim.ignore_reason), ("ignored", "not_owner"))

    def test_finance_milestone_does_not_change_delivery_status(self):
        finance = self.env["logistics.backend"].create(
            {"name": "Finance", "code": "t_fin", "kind": "finance"}
        )
        self.ingest(self.carrier, [self.event("delivered", "2026-01-07T09:00:00Z", "c-9")])
        self.ingest(finance, [self.event("freight_invoiced", "2026-01-09T09:00:00Z", "f-1")])
        self.assertEqual(self.shipment.status_code, "delivered")
        self.assertEqual(self.shipment.event_count, 2)

    def test_unknown_shipment_rejected_and_recorded(self):
        result = self.ingest(
            self.carrier,
            [
                {
                    "type": "in_transit",
                    "occurred_at": "2026-01-06T08:00:00Z",
                    "event_id": "x-1",
                    "tracking_number": "NOPE123",
                }
            ],
        )
        self.assertEqual(result["accepted"], 0)
        self.assertEqual(
            result["rejected"],
            [{"index": 0, "error": "no shipment found for tracking_number 'NOPE123'"}],
        )
        exception = self.env["logistics.exception"].search([("source_event_id", "=", "x-1")])
        self.assertEqual(exception.type_id.code, "mapping_missing")
        self.assertEqual(exception.backend_id, self.carrier)
        self.assertIn("NOPE123", exception.description)
        # Sent again while the exception is open: still rejected, no second exception.
        self.ingest(
            self.carrier,
            [
                {
                    "type": "in_transit",
                    "occurred_at": "2026-01-06T08:00:00Z",
                    "event_id": "x-1",
                    "tracking_number": "NOPE123",
                }
            ],
        )
        self.assertEqual(
            self.env["logistics.exception"].search_count([("source_event_id", "=", "x-1")]), 1
        )

    def test_unknown_type_is_mapping_missing(self):
        result = self.ingest(self.wms, [self.event("teleported", "2026-01-05T09:00:00Z", "w-t")])
        self.assertEqual(
            result["rejected"], [{"index": 0, "error": "unknown event type 'teleported'"}]
        )
        exception = self.env["logistics.exception"].search([("source_event_id", "=", "w-t")])
        self.assertEqual(exception.type_id.code, "mapping_missing")

    def test_malformed_events_are_schema_invalid(self):
        cases = [
            ("not an object", "an event must be an object"),
            (
                {"type": "picked", "occurred_at": "2026-01-05T09:00:00Z", "shipment_ref": "X"},
                "'event_id' is required (the partner's id of the event)",
            ),
            (
                self.event("picked", "2026-01-05 09:00", "m-1"),
                "'occurred_at' has no UTC offset: '2026-01-05 09:00'",
            ),
            (
                self.event("picked", "yesterday", "m-2"),
                "'occurred_at' is not an ISO 8601 date-time: 'yesterday'",
            ),
            (
                {"type": "picked", "occurred_at": "2026-01-05T09:00:00Z", "event_id": "m-3"},
                "'shipment_ref' or 'tracking_number' is required",
            ),
            (
                self.event("picked", "2026-01-05T09:00:00Z", "m-4", payload=[1, 2]),
                "'payload' must be an object",
            ),
            (
                self.event("picked", "2026-01-05T09:00:00Z", "m-5", colour="red"),
                "unknown field(s): colour",
            ),
        ]
        result = self.ingest(self.wms, [case for case, _error in cases])
        self.assertEqual(result["accepted"], 0)
        self.assertEqual(
            result["rejected"],
            [{"index": i, "error": error} for i, (_c, error) in enumerate(cases)],
        )
        recorded = self.env["logistics.exception"].search(
            [("backend_id", "=", self.wms.id), ("type_id.code", "=", "schema_invalid")]
        )
        self.assertEqual(len(recorded), len(cases))

    def test_batch_mixing_good_and_bad_events(self):
        result = self.ingest(
            self.wms,
            [
                self.event("picked", "2026-01-05T09:00:00Z", "b-1"),
                self.event("picked", "not-a-date", "b-2"),
                self.event("packed", "2026-01-05T10:00:00Z", "b-3"),
                self.event("picked", "2026-01-05T09:00:00Z", "b-1"),
                self.event("packed", "2026-01-05T10:00:00Z", "b-4", shipment_ref="SHP/none"),
            ],
        )
        self.assertEqual(result["accepted"], 2)
        self.assertEqual(result["duplicates"], 1)
        self.assertEqual([r["index"] for r in result["rejected"]], [1, 4])
        self.assertEqual(self.shipment.status_code, "packed")

    def test_refs_by_picking_and_sale_order_name(self):
        picking = self.shipment.picking_id
        self.ingest(
            self.wms,
            [self.event("picked", "2026-01-05T09:00:00Z", "r-1", shipment_ref=picking.name)],
        )
        self.ingest(
            self.wms,
            [self.event("packed", "2026-01-05T10:00:00Z", "r-2", shipment_ref=self.sale.name)],
        )
        self.assertEqual(self.shipment.event_count, 2)

    def test_refs_of_every_kind_in_one_batch_and_ambiguous_tracking(self):
        other = self.create_sale_order().picking_ids.logistics_shipment_ids
        self.shipment.tracking_number = "1Z-SHARED"
        other.tracking_number = "1Z-SHARED"
        third = self.create_sale_order().picking_ids.logistics_shipment_ids
        third.tracking_number = "1Z-THIRD"
        result = self.ingest(
            self.carrier,
            [
                self.event("picked", "2026-01-05T09:00:00Z", "k-1"),
                self.event(
                    "packed",
                    "2026-01-05T10:00:00Z",
                    "k-2",
                    shipment_ref=other.picking_id.name,
                ),
                self.event(
                    "packed", "2026-01-05T10:00:00Z", "k-3", shipment_ref=third.sale_id.name
                ),
                {
                    "type": "in_transit",
                    "occurred_at": "2026-01-05T11:00:00Z",
                    "event_id": "k-4",
                    "tracking_number": "1Z-THIRD",
                },
                {
                    "type": "in_transit",
                    "occurred_at": "2026-01-05T11:00:00Z",
                    "event_id": "k-5",
                    "tracking_number": "1Z-SHARED",
                },
            ],
        )
        self.assertEqual(result["accepted"], 4)
        self.assertEqual(
            result["rejected"],
            [
                {
                    "index": 4,
                    "error": "tracking_number '1Z-SHARED' matches 2 shipments "
                    f"({', '.join(sorted([self.shipment.name, other.name]))}); "
                    "send the shipment reference",
                }
            ],
        )
        self.assertEqual(self.shipment.event_ids.mapped("source_event_id"), ["k-1"])
        self.assertEqual(other.event_ids.mapped("source_event_id"), ["k-2"])
        self.assertEqual(sorted(third.event_ids.mapped("source_event_id")), ["k-3", "k-4"])

    def test_traceparent_kept_or_generated(self):
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        self.ingest(
            self.wms,
            [
                self.event("picked", "2026-01-05T09:00:00Z", "t-1", traceparent=traceparent),
                self.event("packed", "2026-01-05T10:00:00Z", "t-2", traceparent="garbage"),
            ],
        )
        kept = self.shipment.event_ids.filtered(lambda e: e.source_event_id == "t-1")
        self.assertEqual(kept.traceparent, traceparent)
        self.assertEqual(kept.correlation_id, "0af7651916cd43dd8448eb211c80319c")
        generated = self.shipment.event_ids.filtered(lambda e: e.source_event_id == "t-2")
        self.assertEqual(generated.correlation_id, self.shipment.correlation_id)
        self.assertRegex(
            generated.traceparent, rf"^00-{self.shipment.correlation_id}-[0-9a-f]{{16}}-01$"
        )

    def test_unknown_backend_and_bad_arguments_are_clear_errors(self):
        with self.assertRaisesRegex(UserError, "No logistics backend with code 'nope'"):
            self.env["logistics.event"].ingest_events("nope", [])
        with self.assertRaisesRegex(UserError, "events must be a list"):
            self.env["logistics.event"].ingest_events(self.wms.code, {"type": "picked"})

    def test_only_logistics_users_may_ingest(self):
        with self.assertRaises(AccessError):
            self.env["logistics.event"].with_user(self.auditor).ingest_events(
                self.wms.code, [self.event("picked", "2026-01-05T09:00:00Z", "a-1")]
            )
        result = (
            self.env["logistics.event"]
            .with_user(self.user)
            .ingest_events(self.wms.code, [self.event("picked", "2026-01-05T09:00:00Z", "u-1")])
        )
        self.assertEqual(result["accepted"], 1)


class TestConcurrentDuplicate(TransactionCase):
    """Two transactions deliver the same event at the same time: the unique index, not a
    pre-check, makes one of them a duplicate. Under Odoo's REPEATABLE READ isolation the
    second insert fails with a serialization error and Odoo's ``retrying`` (the wrapper of every
    RPC and HTTP call) replays its transaction, which then sees the committed event.
    Needs committed data, so it commits and cleans up."""

    def test_same_event_from_two_concurrent_transactions(self):
        registry = self.registry
        with registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            backend = env["logistics.backend"].create(
                {"name": "Concurrent WMS", "code": "t_concurrent", "kind": "wms"}
            )
            shipment = env["logistics.shipment"].create({"name": "SHP/CONCURRENT"})
            ids = backend.id, shipment.id
        event = {
            "type": "picked",
            "occurred_at": "2026-01-05T09:00:00Z",
            "event_id": "race-1",
            "shipment_ref": "SHP/CONCURRENT",
        }
        first_inserted, results, errors = threading.Event(), {}, []

        def deliver(name, wait_before=None, hold=0.0):
            try:
                with registry.cursor() as cr:
                    env = api.Environment(cr, api.SUPERUSER_ID, {})
                    if wait_before:
                        wait_before.wait(10)
                    results[name] = retrying(
                        lambda: env["logistics.event"].ingest_events("t_concurrent", [event]), env
                    )
                    if name == "first":
                        first_inserted.set()
                        time.sleep(hold)  # keep the transaction open while the second runs
            except Exception as error:
                errors.append(error)

        first = threading.Thread(target=deliver, args=("first", None, 1.0))
        second = threading.Thread(target=deliver, args=("second", first_inserted))
        try:
            first.start()
            second.start()
            first.join(30)
            second.join(30)
            self.assertFalse(errors, errors)
            self.assertEqual(results["first"], {"accepted": 1, "duplicates": 0, "rejected": []})
            self.assertEqual(results["second"], {"accepted": 0, "duplicates": 1, "rejected": []})
            with registry.cursor() as cr:
                cr.execute("SELECT count(*) FROM logistics_event WHERE backend_id = %s", [ids[0]])
                self.assertEqual(cr.fetchone()[0], 1)
        finally:
            with registry.cursor() as cr:
                cr.execute("DELETE FROM logistics_event WHERE backend_id = %s", [ids[0]])
                cr.execute("DELETE FROM logistics_shipment WHERE id = %s", [ids[1]])
                cr.execute("DELETE FROM logistics_backend WHERE id = %s", [ids[0]])
