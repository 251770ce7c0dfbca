"""The status rule of DESIGN §2: a status moves forward only, by rank, and a milestone the status
has gone past is recorded as arrived late (issue 10, item 13)."""

import itertools
import json
import threading
import time
from datetime import datetime, timedelta

from odoo import api
from odoo.service.model import retrying
from odoo.tests import TransactionCase
from odoo.tools import SQL

from odoo.addons.logistics_integration_base.models.logistics_event_type import (
    STATUS_GUARD_SQL,
    ShipmentStatus,
    moves_status,
)
from odoo.addons.queue_job.tests.common import trap_jobs

from .common import LogisticsCase


class TestStatusRule(LogisticsCase):
    def setUp(self):
        super().setUp()
        self.odoo = self.env["logistics.backend"].create(
            {"name": "Odoo Actions", "code": "t_odoo", "kind": "wms"}
        )

    def record(self, backend, event_type, occurred_at, event_id, source_kind=None):
        """Ingest one event; returns the stored event."""
        event = self.event(event_type, occurred_at, event_id)
        if source_kind:
            self.env["logistics.event"].sudo()._ingest(backend, [event], source_kind=source_kind)
        else:
            self.assertEqual(self.ingest(backend, [event])["accepted"], 1)
        return self.env["logistics.event"].search(
            [("backend_id", "=", backend.id), ("source_event_id", "=", event_id)]
        )

    def assertStatus(self, code, rank, at):
        self.assertEqual(
            (self.shipment.status_code, self.shipment.status_rank, str(self.shipment.status_at)),
            (code, rank, at),
        )

    def test_label_bought_again_after_shipping_arrives_late(self):
        """The reported fault: a shipment at shipped went back to label created when a manager
        routed it to an alternate carrier, whose label event is later in time."""
        self.record(self.carrier, "label_created", "2026-01-05T08:00:00Z", "l-1")
        shipped = self.record(self.wms, "shipped", "2026-01-05T10:00:00Z", "w-1")
        relabel = self.record(self.carrier, "label_created", "2026-01-05T15:00:00Z", "l-2")
        self.assertStatus("shipped", 70, "2026-01-05 10:00:00")
        self.assertEqual(self.shipment.status_event_id, shipped)
        self.assertEqual((relabel.state, relabel.ignore_reason), ("arrived_late", False))
        labels = dict(relabel._fields["state"]._description_selection(self.env))
        self.assertEqual(labels[relabel.state], "Arrived late (status unchanged)")
        self.assertEqual(
            self.env["logistics.event"].search_count(
                [("shipment_id", "=", self.shipment.id), ("state", "=", "arrived_late")]
            ),
            1,
        )

    def test_same_rank_moves_only_to_a_time_not_older(self):
        self.record(self.carrier, "in_transit", "2026-01-06T10:00:00Z", "t-1")
        self.record(self.carrier, "in_transit", "2026-01-06T12:00:00Z", "t-2")
        self.assertStatus("in_transit", 80, "2026-01-06 12:00:00")
        older = self.record(self.carrier, "in_transit", "2026-01-06T11:00:00Z", "t-3")
        self.assertEqual(older.state, "arrived_late")
        same_time = self.record(self.carrier, "in_transit", "2026-01-06T12:00:00Z", "t-4")
        self.assertEqual(same_time.state, "applied")
        self.assertEqual(self.shipment.status_event_id, same_time)
        # label_created and carrier_booked share a rank: the later one is the status.
        other = self.create_sale_order().picking_ids.logistics_shipment_ids
        self.shipment = other
        self.record(self.carrier, "label_created", "2026-01-05T08:00:00Z", "b-1")
        booked = self.record(self.carrier, "carrier_booked", "2026-01-05T09:00:00Z", "b-2")
        self.assertEqual(booked.state, "applied")
        self.assertStatus("carrier_booked", 50, "2026-01-05 09:00:00")
        relabel = self.record(self.carrier, "label_created", "2026-01-05T08:30:00Z", "b-3")
        self.assertEqual(relabel.state, "arrived_late")
        self.assertStatus("carrier_booked", 50, "2026-01-05 09:00:00")

    def test_higher_rank_moves_forward_whatever_its_time(self):
        self.record(self.wms, "packed", "2026-01-05T12:00:00Z", "w-1")
        shipped = self.record(self.wms, "shipped", "2026-01-05T11:00:00Z", "w-2")
        self.assertEqual(shipped.state, "applied")
        self.assertStatus("shipped", 70, "2026-01-05 11:00:00")
        # Within one batch too, in arrival order.
        result = self.ingest(
            self.carrier,
            [
                self.event("out_for_delivery", "2026-01-06T12:00:00Z", "c-2"),
                self.event("in_transit", "2026-01-06T14:00:00Z", "c-1"),
            ],
        )
        self.assertEqual(result["accepted"], 2)
        late = self.shipment.event_ids.filtered(lambda e: e.source_event_id == "c-1")
        self.assertEqual(late.state, "arrived_late")
        self.assertStatus("out_for_delivery", 90, "2026-01-06 12:00:00")

    def test_exception_keeps_the_progress_and_is_left_by_the_next_milestone(self):
        self.record(self.carrier, "in_transit", "2026-01-06T10:00:00Z", "c-1")
        stale = self.record(self.carrier, "exception", "2026-01-06T09:00:00Z", "c-2")
        self.assertEqual(stale.state, "arrived_late", "older than the status: not entered")
        entered = self.record(self.carrier, "exception", "2026-01-06T11:00:00Z", "c-3")
        self.assertEqual(entered.state, "applied")
        self.assertStatus("exception", 80, "2026-01-06 11:00:00")
        # Under the exception, the progress made still decides.
        for event_type, at, event_id in (
            ("tracking_published", "2026-01-06T12:00:00Z", "c-4"),  # lower rank
            ("in_transit", "2026-01-06T10:30:00Z", "c-5"),  # same rank, older than it
        ):
            late = self.record(self.carrier, event_type, at, event_id)
            self.assertEqual(late.state, "arrived_late", event_type)
        self.assertStatus("exception", 80, "2026-01-06 11:00:00")
        moved_on = self.record(self.carrier, "in_transit", "2026-01-06T13:00:00Z", "c-6")
        self.assertEqual(moved_on.state, "applied")
        self.assertStatus("in_transit", 80, "2026-01-06 13:00:00")
        # A higher rank leaves an exception whatever its time.
        self.record(self.carrier, "exception", "2026-01-06T14:00:00Z", "c-7")
        ahead = self.record(self.carrier, "out_for_delivery", "2026-01-06T13:30:00Z", "c-8")
        self.assertEqual(ahead.state, "applied")
        self.assertStatus("out_for_delivery", 90, "2026-01-06 13:30:00")

    def test_attempts_and_pickup_points_share_out_for_delivery_rank(self):
        steps = [
            ("out_for_delivery", "10", "applied", "out_for_delivery"),
            ("delivery_attempted", "11", "applied", "delivery_attempted"),
            ("out_for_delivery", "12", "applied", "out_for_delivery"),
            ("delivery_attempted", "11", "arrived_late", "out_for_delivery"),
            ("ready_for_pickup", "13", "applied", "ready_for_pickup"),
            ("in_transit", "14", "arrived_late", "ready_for_pickup"),
            ("delivered", "15", "applied", "delivered"),
            ("delivery_attempted", "16", "arrived_late", "delivered"),
            ("ready_for_pickup", "17", "arrived_late", "delivered"),
        ]
        for number, (event_type, hour, state, status) in enumerate(steps):
            event = self.record(
                self.carrier, event_type, f"2026-01-07T{hour}:00:00Z", f"a-{number}"
            )
            self.assertEqual((event.state, self.shipment.status_code), (state, status), number)
        self.assertEqual(self.shipment.status_rank, 100)

    def test_returning_follows_delivered_and_returned_is_final(self):
        self.record(self.carrier, "delivered", "2026-01-07T10:00:00Z", "r-1")
        returning = self.record(self.carrier, "returning", "2026-01-08T10:00:00Z", "r-2")
        self.assertEqual(returning.state, "applied")
        self.assertStatus("returning", 110, "2026-01-08 10:00:00")
        # The way back is no progress on the way out.
        for event_type, event_id in (("in_transit", "r-3"), ("delivered", "r-4")):
            late = self.record(self.carrier, event_type, "2026-01-09T10:00:00Z", event_id)
            self.assertEqual(late.state, "arrived_late", event_type)
        self.record(self.carrier, "exception", "2026-01-09T11:00:00Z", "r-5")
        self.assertStatus("exception", 110, "2026-01-09 11:00:00")
        self.record(self.carrier, "returned", "2026-01-10T10:00:00Z", "r-6")
        self.assertStatus("returned", 120, "2026-01-10 10:00:00")
        for event_type, event_id in (
            ("returning", "r-7"),
            ("exception", "r-8"),
            ("delivered", "r-9"),
            ("returned", "r-10"),
        ):
            late = self.record(self.carrier, event_type, "2026-01-11T10:00:00Z", event_id)
            self.assertEqual(late.state, "arrived_late", event_type)
        self.assertStatus("returned", 120, "2026-01-10 10:00:00")

    def test_cancelled_is_entered_by_time_and_final(self):
        self.record(self.odoo, "order_released", "2026-01-05T08:00:00Z", "o-1", "odoo")
        self.record(self.wms, "picked", "2026-01-05T10:00:00Z", "w-1")
        stale = self.record(self.odoo, "cancelled", "2026-01-05T09:00:00Z", "o-2", "odoo")
        self.assertEqual(stale.state, "arrived_late", "older than the status: not entered")
        cancelled = self.record(self.odoo, "cancelled", "2026-01-05T11:00:00Z", "o-3", "odoo")
        self.assertEqual(cancelled.state, "applied")
        self.assertStatus("cancelled", 30, "2026-01-05 11:00:00")
        for backend, event_type, event_id in (
            (self.wms, "shipped", "w-2"),
            (self.carrier, "exception", "c-1"),
            (self.carrier, "returning", "c-2"),
        ):
            late = self.record(backend, event_type, "2026-01-05T12:00:00Z", event_id)
            self.assertEqual(late.state, "arrived_late", event_type)
        self.assertStatus("cancelled", 30, "2026-01-05 11:00:00")

    def test_events_from_a_non_owner_stay_ignored(self):
        self.record(self.wms, "picked", "2026-01-05T10:00:00Z", "w-1")
        claim = self.record(self.wms, "delivered", "2026-01-06T10:00:00Z", "w-2")
        self.assertEqual((claim.state, claim.ignore_reason), ("ignored", "not_owner"))
        self.assertStatus("picked", 30, "2026-01-05 10:00:00")

    def test_late_milestones_are_published_to_subscribers(self):
        """A sales channel waits for the dispatch confirmation, even when the WMS confirms the
        shipment after the carrier's first scan."""
        channel = self.env["logistics.backend"].create(
            {"name": "Marketplace", "code": "t_channel", "kind": "channel"}
        )
        shipped_type = self.env.ref("logistics_integration_base.event_type_shipped")
        self.env["logistics.subscription"].create(
            {"backend_id": channel.id, "event_type_ids": [(6, 0, shipped_type.ids)]}
        )
        with trap_jobs():
            self.record(self.carrier, "in_transit", "2026-01-05T10:00:00Z", "c-1")
            shipped = self.record(self.wms, "shipped", "2026-01-05T11:00:00Z", "w-1")
            self.record(self.wms, "delivered", "2026-01-05T12:00:00Z", "w-2")  # not owner
        self.assertEqual(shipped.state, "arrived_late")
        publications = self.env["logistics.message"].search(
            [("backend_id", "=", channel.id), ("operation", "=", "publish_milestone")]
        )
        self.assertEqual([p.payload["type"] for p in publications], ["shipped"])

    def test_resent_event_decided_again_without_it(self):
        """A stored event resent with a later time, in one batch with a new event of the same
        rank: as if new, the resent one would make the new one late; it is a duplicate, so the
        new one is decided again without it (``_decide_without_stored``)."""
        self.record(self.carrier, "in_transit", "2026-01-06T09:00:00Z", "t-1")
        result = self.ingest(
            self.carrier,
            [
                self.event("in_transit", "2026-01-06T13:00:00Z", "t-1"),
                self.event("in_transit", "2026-01-06T12:00:00Z", "t-2"),
            ],
        )
        self.assertEqual(result, {"accepted": 1, "duplicates": 1, "rejected": []})
        new = self.shipment.event_ids.filtered(lambda e: e.source_event_id == "t-2")
        new.invalidate_recordset()
        self.assertEqual(new.state, "applied")
        self.assertStatus("in_transit", 80, "2026-01-06 12:00:00")

    def test_update_guard_refuses_a_stale_decision(self):
        """A batch decided on the shipment as it was before another batch moved it on (the
        interleaving of two concurrent transactions at READ COMMITTED): the UPDATE's guard,
        not the decision, keeps the status from going back."""
        Event = self.env["logistics.event"].sudo()
        self.record(self.wms, "packed", "2026-01-05T08:00:00Z", "w-1")
        event = Event._parse_event(self.event("label_created", "2026-01-05T15:00:00Z", "l-1"))
        event["message_id"] = None
        event["type"] = Event._resolve_type(Event._event_types(), event["type"])
        event["shipment"] = Event._resolve_shipment(
            Event._find_shipments(self.carrier, [(0, event)]), event
        )
        # Meanwhile, the WMS's batch moves the shipment to shipped.
        self.record(self.wms, "shipped", "2026-01-05T10:00:00Z", "w-2")
        rows = Event._decide("carrier", [event])
        self.assertEqual(rows[0]["state"], "applied", "decided on the stale status")
        inserted = Event._insert(self.carrier, rows, datetime(2026, 1, 5, 15, 1))
        Event._apply_status("carrier", rows, inserted)
        self.assertStatus("shipped", 70, "2026-01-05 10:00:00")


class TestStatusRuleTwins(TransactionCase):
    def test_python_rule_and_sql_guard_agree(self):
        """``moves_status`` and ``STATUS_GUARD_SQL`` on every pair of a shipment status (each
        status-setting type, or none, with each rank that can be reached under it) and an event
        type, with the event older, as old and newer: PostgreSQL evaluates the very fragment
        of the UPDATE."""
        types = self.env["logistics.event.type"].search([("sets_status", "=", True)])
        ranks = sorted(set(types.mapped("rank")))
        at = datetime(2026, 1, 5, 12, 0)
        statuses = [(None, 0, None)]  # (status type, rank reached, time)
        for status_type in types:
            reachable = [r for r in ranks if r >= status_type.rank] if status_type.rank else ranks
            statuses += [(status_type, rank, at) for rank in reachable]
        cases = []
        for (status_type, reached, status_at), event_type, delta in itertools.product(
            statuses, types, (-1, 0, 1)
        ):
            occurred_at = at + timedelta(hours=delta)
            final = bool(status_type and status_type.is_final)
            cases.append(
                {
                    "i": len(cases),
                    "status_id": status_type.id if status_type else None,
                    "status_rank": reached,
                    "status_at": status_at and status_at.isoformat(),
                    "rank": event_type.rank,
                    "occurred_at": occurred_at.isoformat(),
                    "python": moves_status(
                        event_type.rank, occurred_at, ShipmentStatus(reached, status_at, final)
                    ),
                }
            )
        self.env.cr.execute(
            SQL(
                """
                SELECT c.i, %(guard)s
                  FROM json_to_recordset(%(cases)s::json) AS c (
                           i int, status_id int, status_rank int, status_at timestamp,
                           rank int, occurred_at timestamp)
                 CROSS JOIN LATERAL (SELECT c.status_id, c.status_rank, c.status_at) AS s
                 CROSS JOIN LATERAL (SELECT c.rank, c.occurred_at) AS v
                """,
                guard=STATUS_GUARD_SQL,
                cases=json.dumps(cases),
            )
        )
        in_sql = dict(self.env.cr.fetchall())
        self.assertGreater(len(cases), 500)
        disagreements = [case for case in cases if in_sql[case["i"]] != case["python"]]
        self.assertEqual(disagreements, [])
        # Both ways are taken: the cases do cover the rule.
        self.assertEqual({case["python"] for case in cases}, {True, False})

    def test_ranks_are_data(self):
        ranks = {
            t.code: (t.rank, t.is_final)
            for t in self.env["logistics.event.type"].search([("sets_status", "=", True)])
        }
        self.assertEqual(
            ranks,
            {
                "order_released": (10, False),
                "wms_acknowledged": (20, False),
                "picked": (30, False),
                "packed": (40, False),
                "label_created": (50, False),
                "carrier_booked": (50, False),
                "tracking_published": (60, False),
                "shipped": (70, False),
                "in_transit": (80, False),
                "out_for_delivery": (90, False),
                "ready_for_pickup": (90, False),
                "delivery_attempted": (90, False),
                "delivered": (100, False),
                "returning": (110, False),
                "returned": (120, True),
                "exception": (0, False),
                "cancelled": (0, True),
            },
        )


class TestConcurrentStatus(TransactionCase):
    """Two batches for one shipment at the same time: a WMS's shipped and a carrier's later
    label. Whichever commits first, the shipment ends at shipped and the label arrived late or
    was overtaken. Needs committed data, so it commits and cleans up."""

    def test_concurrent_batches_never_move_the_status_back(self):
        registry = self.registry
        with registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            Backend = env["logistics.backend"]
            wms = Backend.create({"name": "Race WMS", "code": "t_race_wms", "kind": "wms"})
            carrier = Backend.create(
                {"name": "Race Carrier", "code": "t_race_carrier", "kind": "carrier"}
            )
            shipment = env["logistics.shipment"].create({"name": "SHP/RACE"})
            env["logistics.event"].ingest_events(
                "t_race_wms",
                [
                    {
                        "type": "packed",
                        "occurred_at": "2026-01-05T08:00:00Z",
                        "event_id": "race-0",
                        "shipment_ref": "SHP/RACE",
                    }
                ],
            )
            ids = wms.id, carrier.id, shipment.id
        batches = {
            "shipped": ("t_race_wms", "shipped", "2026-01-05T10:00:00Z"),
            "label": ("t_race_carrier", "label_created", "2026-01-05T15:00:00Z"),
        }
        try:
            for first_name in ("label", "shipped"):
                second_name = "shipped" if first_name == "label" else "label"
                self._race(registry, batches, first_name, second_name, ids)
        finally:
            with registry.cursor() as cr:
                cr.execute("DELETE FROM logistics_event WHERE backend_id IN %s", [ids[:2]])
                cr.execute("DELETE FROM logistics_shipment WHERE id = %s", [ids[2]])
                cr.execute("DELETE FROM logistics_backend WHERE id IN %s", [ids[:2]])

    def _race(self, registry, batches, first_name, second_name, ids):
        """``first_name``'s batch updates the shipment and holds its transaction open while
        ``second_name``'s runs; then both commit."""
        updated, errors = threading.Event(), []
        suffix = first_name

        def deliver(name, wait_before=None, hold=0.0):
            backend_code, event_type, occurred_at = batches[name]
            event = {
                "type": event_type,
                "occurred_at": occurred_at,
                "event_id": f"race-{name}-{suffix}",
                "shipment_ref": "SHP/RACE",
            }
            try:
                with registry.cursor() as cr:
                    env = api.Environment(cr, api.SUPERUSER_ID, {})
                    if wait_before:
                        wait_before.wait(10)
                    retrying(
                        lambda: env["logistics.event"].ingest_events(backend_code, [event]), env
                    )
                    if wait_before is None:
                        updated.set()
                        time.sleep(hold)  # the second one runs meanwhile
            except Exception as error:
                errors.append(error)

        with registry.cursor() as cr:  # back to packed for this round
            cr.execute(
                "UPDATE logistics_shipment SET status_code = 'packed', status_rank = 40,"
                " status_at = '2026-01-05 08:00:00',"
                " status_id = (SELECT id FROM logistics_event_type WHERE code = 'packed')"
                " WHERE id = %s",
                [ids[2]],
            )
        first = threading.Thread(target=deliver, args=(first_name, None, 1.0))
        second = threading.Thread(target=deliver, args=(second_name, updated))
        first.start()
        second.start()
        first.join(30)
        second.join(30)
        self.assertFalse(errors, errors)
        with registry.cursor() as cr:
            cr.execute(
                "SELECT status_code, status_rank, status_at FROM logistics_shipment WHERE id = %s",
                [ids[2]],
            )
            self.assertEqual(
                cr.fetchone(), ("shipped", 70, datetime(2026, 1, 5, 10, 0)), first_name
            )
            cr.execute(
                "SELECT state FROM logistics_event WHERE source_event_id = %s",
                [f"race-label-{suffix}"],
            )
            # First, the label became the status, then shipped moved it on; second, it came
            # after shipped and arrived late.
            expected = "applied" if first_name == "label" else "arrived_late"
            self.assertEqual(cr.fetchone(), (expected,), first_name)
