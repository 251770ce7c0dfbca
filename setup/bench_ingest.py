"""Ingest benchmark: logistics.event.ingest_events against two baselines, in one run.

Run it with `setup/bench ingest` (it prepares a fresh database). Prints events/s for
  - ingest_events: the product's path (validation, dedup, ownership, status), batches of 1000;
  - naive: per event, an ORM `search` for a duplicate, then an ORM `create`;
  - raw: psycopg2 `INSERT ... ON CONFLICT DO NOTHING` of the same rows, 100 rows per statement;
and the ratios ingest/naive and ingest/raw. Each path commits once per batch, like one RPC
call per batch would, and writes to its own backend so that none sees another's rows. The paths
take turns batch by batch, so that the machine's ups and downs fall on all of them.

With ``--packages N``, each shipment has N packages with a tracking number each, and the events
are a carrier's tracking updates naming a package's tracking number (the carrier's path: the
shipment found through its package, the package's status, the shipment's status over its
packages).
"""

import argparse
import json
import time
from collections import defaultdict
from datetime import datetime, timedelta

from psycopg2.extras import execute_values

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tools import config

BATCH = 1000


def make_events(count, shipments, start, packages=0, tracking=False):
    """`count` canonical events spread over the shipments, each shipment's in time order; with
    ``packages``, carrier tracking updates by the tracking numbers of each shipment's packages
    (``<shipment>-P<n>``) in turn; with ``tracking``, the same updates by the shipment's own
    tracking number (``<shipment>-T``: a shipment without packages, the path before them)."""
    types = ["wms_acknowledged", "picked", "packed", "shipped", "in_transit", "delivered"]
    if packages or tracking:
        types = ["tracking_published", "in_transit", "out_for_delivery", "delivered"]
    events = []
    for n in range(count):
        shipment = shipments[n % len(shipments)]
        step = n // len(shipments)
        event = {
            "type": types[(step // max(packages, 1)) % len(types)],
            "occurred_at": (start + timedelta(minutes=step)).isoformat() + "+00:00",
            "event_id": f"evt-{n:06d}",
            "payload": {"seq": n, "hub": "AMS"},
        }
        if packages:
            event["tracking_number"] = f"{shipment.name}-P{step % packages + 1}"
        elif tracking:
            event["tracking_number"] = f"{shipment.name}-T"
        else:
            event["shipment_ref"] = shipment.name
        events.append(event)
    return events


def reference(event):
    return event.get("shipment_ref") or event["tracking_number"]


def ingest_batch(env, backend, batch, shipment_ids, type_ids):
    result = env["logistics.event"].ingest_events(backend.code, batch)
    assert not result["rejected"], result["rejected"][:3]
    assert result["accepted"] == len(batch), result
    env.cr.commit()


def naive_batch(env, backend, batch, shipment_ids, type_ids):
    Event = env["logistics.event"]
    for event in batch:
        if Event.search(
            [("backend_id", "=", backend.id), ("source_event_id", "=", event["event_id"])],
            limit=1,
        ):
            continue
        Event.create(
            {
                "shipment_id": shipment_ids[reference(event)],
                "type_id": type_ids[event["type"]],
                "occurred_at": event["occurred_at"][:19].replace("T", " "),
                "backend_id": backend.id,
                "source_event_id": event["event_id"],
                "payload": event["payload"],
            }
        )
    env.cr.commit()


def raw_batch(env, backend, batch, shipment_ids, type_ids):
    cursor = env.cr._obj  # the psycopg2 cursor under Odoo's
    now = datetime.utcnow()
    rows = [
        (
            shipment_ids[reference(event)],
            type_ids[event["type"]],
            event["occurred_at"][:19],
            now,
            backend.id,
            event["event_id"],
            json.dumps(event["payload"]),
            "applied",
        )
        for event in batch
    ]
    execute_values(
        cursor,
        "INSERT INTO logistics_event (shipment_id, type_id, occurred_at, recorded_at,"
        " backend_id, source_event_id, payload, state) VALUES %s"
        " ON CONFLICT (backend_id, source_event_id) DO NOTHING",
        rows,
        page_size=100,
    )
    env.cr.commit()


PATHS = {"ingest": ingest_batch, "naive": naive_batch, "raw": raw_batch}

# The steps of logistics.event._ingest, timed by --stages.
STAGES = (
    "_parse_event",
    "_event_types",
    "_find_shipments",
    "_decide",
    "_insert",
    "_apply_status",
    "_publish",
    "_react",
    "_record_rejections",
)
# The SLA policies' bookkeeping of the batch (logistics.shipment.sla, called by _ingest).
SLA_STAGES = ("_track_events", "_sla_start", "_sla_restart_silence", "_sla_meet")


def time_stages(model_class, sla_class):
    """Wrap the ingest steps of the registry's logistics.event class (and the SLA bookkeeping
    of logistics.shipment.sla) with timers; returns the {step: seconds} they fill."""
    spent = defaultdict(float)

    def timed(name, method):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    for name in STAGES:
        setattr(model_class, name, timed(name, getattr(model_class, name)))
    for name in SLA_STAGES:
        setattr(sla_class, name, timed(name, getattr(sla_class, name)))
    return spent


def run_interleaved(env, backends, events, shipment_ids, type_ids):
    """Seconds per path. The paths take turns batch by batch (in a rotating order), so that a
    slow or fast moment of a shared machine falls on all three alike."""
    timings = dict.fromkeys(PATHS, 0.0)
    names = list(PATHS)
    for number, start in enumerate(range(0, len(events), BATCH)):
        batch = events[start : start + BATCH]
        for name in names[number % 3 :] + names[: number % 3]:
            started = time.perf_counter()
            PATHS[name](env, backends[name], batch, shipment_ids, type_ids)
            timings[name] += time.perf_counter() - started
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--shipments", type=int, default=2000)
    parser.add_argument(
        "--packages",
        type=int,
        default=0,
        help="packages per shipment: the events are tracking updates by package (0: by shipment)",
    )
    parser.add_argument(
        "--tracking",
        action="store_true",
        help="the events are tracking updates by the shipments' own tracking numbers",
    )
    parser.add_argument(
        "--stages", action="store_true", help="also print where ingest_events spends its time"
    )
    args = parser.parse_args()

    config.parse_config(["-c", args.config, "-d", args.database, "--log-level", "warn"])
    registry = Registry(args.database)
    spent = (
        time_stages(registry["logistics.event"], registry["logistics.shipment.sla"])
        if args.stages
        else {}
    )
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env.company
        # Measure ingestion itself: the demo's subscriptions would add publication messages
        # that the baselines don't make.
        env["logistics.subscription"].search([]).active = False
        Backend = env["logistics.backend"]
        kind = "carrier" if args.packages or args.tracking else "wms"
        backends = {
            name: Backend.create({"name": f"Bench {name}", "code": f"bench_{name}", "kind": kind})
            for name in ("ingest", "naive", "raw")
        }
        shipments = env["logistics.shipment"].create(
            [
                {
                    "name": f"BENCH/{n:05d}",
                    "company_id": company.id,
                    "tracking_number": f"BENCH/{n:05d}-T" if args.tracking else False,
                }
                for n in range(args.shipments)
            ]
        )
        shipment_ids = {shipment.name: shipment.id for shipment in shipments}
        if args.tracking:
            shipment_ids.update({s.tracking_number: s.id for s in shipments})
        if args.packages:
            packages = env["logistics.package"].create(
                [
                    {
                        "shipment_id": shipment.id,
                        "name": f"P{number}",
                        "tracking_number": f"{shipment.name}-P{number}",
                    }
                    for shipment in shipments
                    for number in range(1, args.packages + 1)
                ]
            )
            shipment_ids.update({p.tracking_number: p.shipment_id.id for p in packages})
        cr.commit()
        type_ids = {t.code: t.id for t in env["logistics.event.type"].search([])}
        events = make_events(
            args.events, shipments, datetime(2026, 1, 1), args.packages, args.tracking
        )

        timings = run_interleaved(env, backends, events, shipment_ids, type_ids)
        for name, backend in backends.items():
            cr.execute("SELECT count(*) FROM logistics_event WHERE backend_id = %s", [backend.id])
            stored = cr.fetchone()[0]
            assert stored == args.events, (name, stored)

    rates = {name: args.events / seconds for name, seconds in timings.items()}
    by = f", by the tracking numbers of {args.packages} packages each" if args.packages else ""
    by = by or (", by their tracking numbers" if args.tracking else "")
    print(f"events: {args.events} over {args.shipments} shipments{by}, batches of {BATCH}")
    for name in ("ingest", "naive", "raw"):
        print(f"  {name:7s} {rates[name]:10.0f} events/s  ({timings[name]:.2f} s)")
    print(f"  ingest / naive = {rates['ingest'] / rates['naive']:.1f}x   (target >= 10x)")
    print(f"  ingest / raw   = {rates['ingest'] / rates['raw']:.0%}   (target >= 25%)")
    if spent:
        batches = -(-args.events // BATCH)
        print(f"ingest_events, ms per batch of {BATCH} (nested steps are inside their callers):")
        print(f"  {'whole batch, with its commit':30s} {timings['ingest'] / batches * 1000:7.1f}")
        for name in sorted(spent, key=spent.get, reverse=True):
            print(f"  {name:30s} {spent[name] / batches * 1000:7.1f}")


if __name__ == "__main__":
    main()
