"""Freight audit benchmark: the set-based audit against a per-line ORM audit, in one run.

Run it with `setup/bench freight` (it prepares a fresh database). Issue 17's target: reconcile a
batch of 100,000 carrier invoice lines against 100,000 shipments at least 20x faster than a
per-line ORM audit measured in the same run, and in under 60 s.

1. Generates in SQL (``INSERT ... SELECT generate_series``, committed), for one carrier and its
   billing backend: ``--shipments`` shipments with one labelled package each (tracking number,
   rate, weight, carrier name and service, a customer who is a person or a company; delivered,
   with an in_transit and a delivered event), and ``--lines`` invoice lines over invoices of
   ``--lines-per-invoice`` lines, billing the packages in turn. Each billed package is one of:
   within tolerance (base + fuel summing to the rate within 5 cents; 5 % of them to a person
   with a residential surcharge, justified), ``--overcharged`` (the fuel line over the
   tolerance), ``--residential`` (within tolerance, and a residential surcharge to a company),
   ``--reweigh`` (within tolerance, and a reweigh charge: half of them over the declared weight
   by 30-60 %, justified; half within 5 %, not justified) or ``--unknown`` (one line with a
   tracking number of no package).
2. The product's path: ``logistics.carrier.invoice.line._audit`` over the whole batch, and the
   commit, timed (``--stages``: also the time of each of the audit's methods).
3. The baseline: ``audit_per_line`` below (not shipped in the addon), a per-line ORM audit of a
   sample of ``--sample`` lines of the same kind, on invoices and shipments of their own, in
   two halves, one before and one after the batch. The same sample is generated twice (the
   same draws, other references); the second copy is audited by ``_audit``, and both must
   agree: each line's state, expected amount, variance and exception, the exceptions, the
   freight_reconciled events, the shipments' actual freight and the invoices' states.
4. Prints lines/s of both, the ratio, PASS/FAIL against the targets; exits 1 on FAIL.

Every path starts with a cold record cache and ends with a commit. PostgreSQL's JIT compiler
is off in the session unless ``--jit`` (see ``main``). ``--lines 10000 --shipments 10000
--sample 500`` takes about a minute.
"""

import argparse
import sys
import time
from collections import Counter, defaultdict
from datetime import date, datetime
from functools import partial

from odoo import SUPERUSER_ID, api, fields
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

TARGET_RATIO = 20.0
TARGET_SECONDS = 60.0  # for 100,000 lines
# The audit's steps, timed by --stages (nested ones are inside their callers).
STAGES = {
    "logistics.carrier.invoice.line": (
        "_rows_to_audit",
        "_billed_before",
        "_judge",
        "_write_decisions",
        "_raise_mismatches",
        "_evidence_events",
        "_record_reconciled",
        "_record_actual_freight",
    ),
    "logistics.carrier.invoice": ("_update_audit_state",),
    "logistics.exception": ("_raise",),
    "logistics.event": ("_ingest",),
}
# Line states the shipment's actual freight counts (``_record_actual_freight``).
BILLED_STATES = ("reconciled", "accepted", "credited")


# --- the generated data -------------------------------------------------------------------------
def create_scope(env):
    """The carrier, its billing backend and 20 companies and 20 persons to ship to."""
    Backend = env["logistics.backend"]
    carrier = Backend.create(
        {"name": "Bench Freight Carrier", "code": "bench_freight", "kind": "carrier"}
    )
    billing = Backend.create(
        {
            "name": "Bench Freight Billing",
            "code": "bench_freight_billing",
            "kind": "finance",
            "adapter": "freight_billing",
            "protocol": "file",
            "billed_carrier_id": carrier.id,
        }
    )
    Partner = env["res.partner"]
    companies = Partner.create(
        [{"name": f"Bench Business {n}", "is_company": True} for n in range(20)]
    )
    persons = Partner.create([{"name": f"Bench Person {n}"} for n in range(20)])
    return carrier, billing, companies, persons


def plan(cr, tag, lines, rows, shares, seed):
    """Into the temporary table fb_plan: ``rows`` packages of the set ``tag`` with their draws,
    the first of them billed by exactly ``lines`` invoice lines (the last ones as unknown
    one-line parcels when the others leave one or two lines over).
    :return: the number of packages billed"""
    cr.execute("SELECT setseed(%s)", [seed])
    cr.execute(
        """
        INSERT INTO fb_plan (tag, n, kind, line_count, rate, weight, service, r_partner,
                             r_split, r_delta, r_extra, r_days)
        WITH d AS (
            SELECT g AS n, random() AS r_kind, random() AS r_rate, random() AS r_weight,
                   random() AS r_service, random() AS r_partner, random() AS r_split,
                   random() AS r_delta, random() AS r_extra, random() AS r_days
              FROM generate_series(1, %(rows)s) g
        ), k AS (
            SELECT d.*,
                   CASE WHEN r_kind < %(unknown)s THEN 'unknown'
                        WHEN r_kind < %(unknown)s + %(overcharged)s THEN 'overcharged'
                        WHEN r_kind < %(unknown)s + %(overcharged)s + %(residential)s
                             THEN 'residential'
                        WHEN r_kind < %(unknown)s + %(overcharged)s + %(residential)s
                                      + %(reweigh)s THEN 'reweigh'
                        WHEN r_extra < 0.05 THEN 'ok_residential'
                        ELSE 'ok' END AS kind
              FROM d
        )
        SELECT %(tag)s, n, kind,
               CASE kind WHEN 'unknown' THEN 1 WHEN 'ok' THEN 2 WHEN 'overcharged' THEN 2
                         ELSE 3 END,
               round((5 + r_rate * 55)::numeric, 2), round((0.2 + r_weight ^ 2 * 25)::numeric, 2),
               CASE WHEN r_service < 0.1 THEN 'Express' WHEN r_service < 0.5 THEN 'Priority'
                    ELSE 'Ground' END,
               r_partner, r_split, r_delta, r_extra, r_days
          FROM k
        """,
        dict(shares, tag=tag, rows=rows),
    )
    cr.execute(
        """
        WITH c AS (
            SELECT n, sum(line_count) OVER (ORDER BY n) AS last_line FROM fb_plan WHERE tag = %s
        )
        UPDATE fb_plan p SET last_line = c.last_line FROM c WHERE p.tag = %s AND p.n = c.n
        """,
        [tag, tag],
    )
    cr.execute(
        "SELECT count(*), COALESCE(max(last_line), 0) FROM fb_plan"
        " WHERE tag = %s AND last_line <= %s",
        [tag, lines],
    )
    billed, used = cr.fetchone()
    # One or two lines over: one-line parcels (unknown tracking numbers) fill them.
    cr.execute(
        """
        UPDATE fb_plan SET kind = 'unknown', line_count = 1, last_line = %(used)s + n - %(billed)s
         WHERE tag = %(tag)s AND n > %(billed)s AND n <= %(billed)s + %(rest)s
        """,
        {"tag": tag, "used": used, "billed": billed, "rest": lines - used},
    )
    assert billed + lines - used <= rows, "too few packages planned"
    return billed + lines - used


def instantiate(env, tag, prefix, shipments, billed, lines_per_invoice, scope, today):
    """Write the set ``tag`` of fb_plan as shipments ``<prefix>000001``… (the first
    ``shipments`` packages), their packages and events, and the invoices ``<prefix>INV-00001``…
    of its ``billed`` packages. :return: the invoices' ids"""
    cr = env.cr
    carrier, billing, companies, persons = scope
    types = {
        code: env.ref(f"logistics_integration_base.event_type_{code}")
        for code in ("in_transit", "delivered")
    }
    params = {
        "tag": tag,
        "prefix": prefix,
        "code": prefix.strip("/"),
        "shipments": shipments,
        "billed": billed,
        "per_invoice": lines_per_invoice,
        "company": env.company.id,
        "currency": env.company.currency_id.id,
        "carrier": carrier.id,
        "billing": billing.id,
        "companies": companies.ids,
        "persons": persons.ids,
        "everyone": (companies | persons).ids,
        "uid": env.uid,
        "now": datetime.combine(today, datetime.min.time()),
        "today": today,
        "in_transit": types["in_transit"].id,
        "delivered": types["delivered"].id,
        "delivered_rank": types["delivered"].rank,
    }
    # Each shipment delivered 1-25 days ago, the day before its promise (on time).
    cr.execute(
        """
        WITH ins AS (
            INSERT INTO logistics_shipment
                   (name, correlation_id, direction, partner_id, carrier_backend_id,
                    status_rank, promised_date, delivered_at, currency_id, company_id,
                    carrier_name, carrier_service, has_milestone,
                    create_uid, create_date, write_uid, write_date)
            SELECT %(prefix)s || lpad(n::text, 6, '0'), md5(%(prefix)s || n), 'outgoing',
                   CASE WHEN kind = 'residential' THEN pg_temp.pick(%(companies)s, r_partner)
                        WHEN kind = 'ok_residential' THEN pg_temp.pick(%(persons)s, r_partner)
                        ELSE pg_temp.pick(%(everyone)s, r_partner) END,
                   %(carrier)s, 0,
                   %(now)s - interval '1 day' * (r_days * 24),
                   %(now)s - interval '1 day' * (1 + r_days * 24), %(currency)s, %(company)s,
                   'USPS', service, true,
                   %(uid)s, %(now)s - interval '4 days' - interval '1 day' * (r_days * 24),
                   %(uid)s, %(now)s
              FROM fb_plan WHERE tag = %(tag)s AND n <= %(shipments)s ORDER BY n
         RETURNING id, name
        )
        UPDATE fb_plan p SET shipment_id = ins.id
          FROM ins WHERE p.tag = %(tag)s AND ins.name = %(prefix)s || lpad(p.n::text, 6, '0')
        """,
        params,
    )
    cr.execute(
        """
        WITH ins AS (
            INSERT INTO logistics_package
                   (shipment_id, active, sequence, name, source, weight, weight_unit,
                    dimension_unit, tracking_number, carrier_name, carrier_service,
                    rate_amount, rate_currency_id, status_rank, company_id,
                    create_uid, create_date, write_uid, write_date)
            SELECT shipment_id, true, 10, 'PKG-' || n, 'odoo', weight, 'kg', 'cm',
                   '1Z' || %(code)s || lpad(n::text, 7, '0'), 'USPS', service, rate,
                   %(currency)s, 0, %(company)s, %(uid)s, %(now)s, %(uid)s, %(now)s
              FROM fb_plan WHERE tag = %(tag)s AND shipment_id IS NOT NULL ORDER BY n
         RETURNING id, shipment_id
        )
        UPDATE fb_plan p SET package_id = ins.id
          FROM ins WHERE p.tag = %(tag)s AND ins.shipment_id = p.shipment_id
        """,
        params,
    )
    # The tracking events a mismatch shows as evidence; the shipment's status follows them.
    cr.execute(
        """
        INSERT INTO logistics_event
               (shipment_id, package_id, type_id, occurred_at, recorded_at, backend_id,
                source_event_id, correlation_id, state, payload)
        SELECT s.id, p.package_id, st.type_id, st.at, st.at + interval '10 seconds',
               %(carrier)s, %(prefix)s || p.n || st.tag, s.correlation_id, 'applied',
               jsonb_build_object('message', st.message)
          FROM fb_plan p
          JOIN logistics_shipment s ON s.id = p.shipment_id
         CROSS JOIN LATERAL (VALUES
               ('-t', %(in_transit)s, s.delivered_at - interval '1 day', 'Departed facility'),
               ('-d', %(delivered)s, s.delivered_at, 'Delivered, front door')
         ) st(tag, type_id, at, message)
         WHERE p.tag = %(tag)s
        """,
        params,
    )
    cr.execute(
        """
        UPDATE logistics_shipment s
           SET status_id = e.type_id, status_code = 'delivered', status_at = e.occurred_at,
               status_event_ref = e.id, status_rank = %(delivered_rank)s,
               status_owner = 'carrier'
          FROM fb_plan p JOIN logistics_event e
            ON e.shipment_id = p.shipment_id AND e.type_id = %(delivered)s
         WHERE p.tag = %(tag)s AND s.id = p.shipment_id
        """,
        params,
    )
    cr.execute(
        """
        UPDATE logistics_package k
           SET status_id = s.status_id, status_rank = s.status_rank, status_at = s.status_at,
               status_event_ref = s.status_event_ref
          FROM fb_plan p JOIN logistics_shipment s ON s.id = p.shipment_id
         WHERE p.tag = %(tag)s AND k.id = p.package_id
        """,
        params,
    )
    # The invoices, then their lines: a package's lines stay on the invoice of its first line.
    cr.execute(
        """
        INSERT INTO logistics_carrier_invoice
               (name, carrier_backend_id, source_backend_id, carrier_name, invoice_date,
                currency_id, audit_state, company_id, create_uid, create_date, write_uid,
                write_date)
        SELECT %(prefix)s || 'INV-' || lpad(k::text, 5, '0'), %(carrier)s, %(billing)s,
               'USPS', %(today)s, %(currency)s, 'to_audit', %(company)s,
               %(uid)s, %(now)s, %(uid)s, %(now)s
          FROM generate_series(1, (SELECT max((last_line - line_count) / %(per_invoice)s) + 1
                                     FROM fb_plan WHERE tag = %(tag)s AND n <= %(billed)s)) k
         ORDER BY k
        RETURNING id
        """,
        params,
    )
    invoice_ids = [row[0] for row in cr.fetchall()]
    cr.execute(
        """
        WITH parcel AS (
            SELECT p.*,
                   round(rate * (0.78 + r_split * 0.1), 2) AS base,
                   CASE kind WHEN 'overcharged'
                        THEN round(greatest(rate * 0.02, 0.5) + 0.25 + r_delta * rate * 0.15, 2)
                        ELSE round(((r_delta - 0.5) * 0.1)::numeric, 2) END AS delta,
                   i.id AS invoice_id
              FROM fb_plan p
              JOIN logistics_carrier_invoice i
                ON i.name = %(prefix)s || 'INV-'
                            || lpad(((p.last_line - p.line_count) / %(per_invoice)s + 1)::text,
                                    5, '0')
               AND i.carrier_backend_id = %(carrier)s
             WHERE p.tag = %(tag)s AND p.n <= %(billed)s
        )
        INSERT INTO logistics_carrier_invoice_line
               (invoice_id, sequence, tracking_number, charge_code, description, service,
                currency_id, amount, billed_weight, weight_unit, billed_weight_kg,
                carrier_backend_id, invoice_date, audit_state, company_id,
                create_uid, create_date, write_uid, write_date)
        SELECT c.invoice_id, c.last_line - c.line_count + l.slot,
               CASE WHEN c.kind = 'unknown' THEN '1ZXX' || %(code)s || lpad(c.n::text, 7, '0')
                    ELSE '1Z' || %(code)s || lpad(c.n::text, 7, '0') END,
               l.code, l.description, c.service, %(currency)s, l.amount, l.kg, 'kg', l.kg,
               %(carrier)s, %(today)s, 'to_audit', %(company)s,
               %(uid)s, %(now)s, %(uid)s, %(now)s
          FROM parcel c
         CROSS JOIN LATERAL (VALUES
               (1, CASE WHEN c.kind = 'unknown' THEN c.rate ELSE c.base END, 'base',
                'Transportation charges', c.weight),
               (2, c.rate - c.base + c.delta, 'fuel', 'Fuel surcharge', 0),
               (3, CASE WHEN c.kind = 'reweigh' THEN round((1 + c.r_extra * 6)::numeric, 2)
                        ELSE round((4.5 + c.r_extra)::numeric, 2) END,
                CASE WHEN c.kind = 'reweigh' THEN 'reweigh' ELSE 'residential' END,
                CASE WHEN c.kind = 'reweigh' THEN 'Weight correction'
                     ELSE 'Residential delivery' END,
                CASE WHEN c.kind <> 'reweigh' THEN 0
                     WHEN c.r_extra < 0.5 THEN round(c.weight * (1.3 + c.r_extra * 0.6), 3)
                     ELSE round(c.weight * (1 + (c.r_extra - 0.5) * 0.1), 3) END)
         ) l(slot, amount, code, description, kg)
         WHERE l.slot <= c.line_count
        """,
        params,
    )
    cr.execute(
        """
        UPDATE logistics_carrier_invoice i SET amount_total = t.total
          FROM (SELECT invoice_id, sum(amount) AS total FROM logistics_carrier_invoice_line
                 WHERE invoice_id = ANY(%s) GROUP BY invoice_id) t
         WHERE i.id = t.invoice_id
        """,
        [invoice_ids],
    )
    return invoice_ids


def generate(env, scope, args, today):
    """The main batch (set "main": ``args.shipments`` shipments, ``args.lines`` lines) and the
    sample twice (set "sample": as "base" for the baseline, as "copy" for ``_audit``).
    :return: {"main" | "base" | "copy": invoice ids}, {set: packages billed}"""
    cr = env.cr
    # These statements run once: compiling them (JIT) costs more than it saves.
    cr.execute("SET LOCAL jit = off")
    cr.execute(
        "CREATE OR REPLACE FUNCTION pg_temp.pick(ids int[], draw float8) RETURNS int"
        " LANGUAGE sql IMMUTABLE AS 'SELECT ids[1 + floor(draw * cardinality(ids))::int]'"
    )
    cr.execute(
        """
        CREATE TEMP TABLE fb_plan (
            tag varchar, n int, kind varchar, line_count int, last_line int, rate numeric,
            weight numeric, service varchar, r_partner float8, r_split numeric, r_delta numeric,
            r_extra numeric, r_days float8, shipment_id int, package_id int,
            PRIMARY KEY (tag, n))
        """
    )
    shares = {
        "unknown": args.unknown,
        "overcharged": args.overcharged,
        "residential": args.residential,
        "reweigh": args.reweigh,
    }
    billed = {
        "main": plan(cr, "main", args.lines, max(args.shipments, args.lines), shares, 0.17),
        "sample": plan(cr, "sample", args.sample, args.sample, shares, 0.29),
    }
    assert billed["main"] <= args.shipments, "more packages billed than shipments"
    invoices = {
        "main": instantiate(
            env, "main", "FB/", args.shipments, billed["main"], args.lines_per_invoice, scope, today
        )
    }
    for name, prefix in (("base", "FBB/"), ("copy", "FBC/")):
        cr.execute("UPDATE fb_plan SET shipment_id = NULL, package_id = NULL WHERE tag = 'sample'")
        invoices[name] = instantiate(
            env,
            "sample",
            prefix,
            billed["sample"],
            billed["sample"],
            args.lines_per_invoice,
            scope,
            today,
        )
    cr.execute("DROP TABLE fb_plan")
    for table in (
        "logistics_shipment",
        "logistics_package",
        "logistics_event",
        "logistics_carrier_invoice",
        "logistics_carrier_invoice_line",
    ):
        cr.execute(SQL("ANALYZE %s", SQL.identifier(table)))
    env.invalidate_all()
    return invoices, billed


# --- the baseline --------------------------------------------------------------------------------
def audit_per_line(env, invoices):
    """A per-line ORM audit of ``invoices`` with the rules of ``_audit``: for each line, ORM
    searches of its package (by tracking number) and of the tolerance rule, the rate converted
    with ``res.currency._convert``, a write of the line; when a package's lines are all judged,
    its exception (created, or its description rewritten) or its freight_reconciled event
    (``_ingest`` with one event) and its actual freight (``write``); the team told once."""
    Line = env["logistics.carrier.invoice.line"]
    Tolerance = env["logistics.freight.tolerance"]
    Event = env["logistics.event"]
    # Importable once the configuration gave the addons path.
    from odoo.addons.logistics_finance_sync.models.logistics_freight_audit import (  # noqa: PLC0415
        ACCESSORIAL_CODES,
    )

    for line in Line.search([("invoice_id", "in", invoices.ids)], order="invoice_id, sequence, id"):
        invoice = line.invoice_id
        package, shipment = match_line(env, line)
        if not shipment:
            line.write(
                {
                    "audit_state": "unmatched",
                    "expected_amount": 0.0,
                    "variance": line.amount,
                    "audit_note": f"No shipment has the tracking number {line.tracking_number}.",
                }
            )
            unmatched_exception(env, line)
            continue
        code = line.charge_code if line.charge_code in ACCESSORIAL_CODES else "freight"
        rule = Tolerance.search(
            [
                ("carrier_backend_id", "in", [invoice.carrier_backend_id.id, False]),
                ("code", "=", code),
            ],
            order="carrier_backend_id desc nulls last",
            limit=1,
        )
        # The package's rate, or its shipment's packages' for a line matched to a shipment.
        priced = package or shipment.package_ids
        rate = None
        if priced.rate_currency_id:
            rate = priced.rate_currency_id[:1]._convert(
                sum(priced.mapped("rate_amount")),
                invoice.currency_id,
                invoice.company_id,
                invoice.invoice_date,
                round=False,
            )
        if code == "freight":
            values = judge_freight_line(line, package, shipment, rule, rate)
        else:
            values = judge_accessorial_line(line, priced, shipment, rule, rate)
        line.write(dict(values, package_id=package.id, shipment_id=shipment.id))
        if Line.search_count(
            [
                ("invoice_id", "=", invoice.id),
                ("tracking_number", "=", line.tracking_number),
                ("audit_state", "=", "to_audit"),
            ]
        ):
            continue
        # The package's last line: its exception, or its event and actual freight.
        package_lines = Line.search(
            [("invoice_id", "=", invoice.id), ("tracking_number", "=", line.tracking_number)]
        )
        if any(state != "reconciled" for state in package_lines.mapped("audit_state")):
            package_lines.exception_id = mismatch_exception(
                env, invoice, shipment, package, package_lines
            )
            continue
        Event._ingest(
            invoice.carrier_backend_id,
            [
                {
                    "type": "freight_reconciled",
                    "event_id": f"freight-reconciled:{invoice.id}:{shipment.id}",
                    "shipment_ref": shipment.name,
                    "occurred_at": fields.Datetime.now().isoformat() + "+00:00",
                    "payload": {
                        "invoice": invoice.name,
                        "billed": round(sum(package_lines.mapped("amount")), 2),
                        "expected": round(sum(package_lines.mapped("expected_amount")), 2),
                        "currency": invoice.currency_id.name,
                    },
                }
            ],
            source_kind="finance",
        )
        actual = 0.0
        for billed in Line.search(
            [("shipment_id", "=", shipment.id), ("audit_state", "in", BILLED_STATES)]
        ):
            actual += billed.currency_id._convert(
                billed.amount,
                shipment.currency_id,
                billed.company_id,
                billed.invoice_date,
                round=False,
            )
        shipment.write({"freight_actual": actual})
    Line._notify_audit(invoices.line_ids.exception_id)
    for invoice in invoices:
        states = set(invoice.line_ids.mapped("audit_state"))
        invoice.write(
            {
                "audit_state": "exceptions" if states & {"mismatch", "unmatched"} else "reconciled",
                "audited_at": fields.Datetime.now(),
            }
        )


def match_line(env, line):
    """``_audit``'s match, by ORM searches: (package, shipment) of the line. The package of
    its tracking number, of a shipment of the invoice's carrier (else of no carrier), active,
    labelled by the invoice date, the newest; else the shipment of its reference or tracking
    number (of the carrier first, the newest), with its package when it has exactly one."""
    invoice = line.invoice_id
    carrier = invoice.carrier_backend_id
    Package = env["logistics.package"]
    Shipment = env["logistics.shipment"]
    if line.tracking_number:
        packages = Package.with_context(active_test=False).search(
            [
                ("tracking_number", "=", line.tracking_number),
                ("company_id", "=", line.company_id.id),
                ("shipment_id.carrier_backend_id", "in", [carrier.id, False]),
            ]
        )
        if packages:
            package = max(
                packages,
                key=lambda p: (
                    bool(p.shipment_id.carrier_backend_id),
                    p.active,
                    p.create_date.date() <= invoice.invoice_date,
                    p.id,
                ),
            )
            return package, package.shipment_id
    if line.shipment_id:  # matched before: kept
        return line.package_id, line.shipment_id
    if not (line.shipment_ref or line.tracking_number):
        return Package, Shipment
    shipments = Shipment.search(
        [
            ("company_id", "=", line.company_id.id),
            ("carrier_backend_id", "in", [carrier.id, False]),
            "|",
            ("name", "=", line.shipment_ref or False),
            ("tracking_number", "=", line.tracking_number or False),
        ]
    )
    if not shipments:
        return Package, Shipment
    shipment = max(shipments, key=lambda s: (bool(s.carrier_backend_id), s.id))
    return (shipment.package_ids if len(shipment.package_ids) == 1 else Package), shipment


def within(variance, rule, expected_freight, invoice):
    """``_audit``'s tolerance: the larger of the rule's percentage and amount, plus half a cent."""
    # Importable once the configuration gave the addons path.
    from odoo.addons.logistics_finance_sync.models.logistics_freight_audit import CENT  # noqa: PLC0415

    if not rule:
        return abs(variance) <= CENT
    amount = rule.currency_id._convert(
        rule.tolerance_amount,
        invoice.currency_id,
        invoice.company_id,
        invoice.invoice_date,
        round=False,
    )
    tolerance = max(abs(expected_freight) * rule.tolerance_percent / 100.0, amount)
    return abs(variance) <= tolerance + CENT


def judge_freight_line(line, package, shipment, rule, rate):
    """A freight line: its package's freight lines (searched again for each of them) together
    against the rate; the first of them carries the expected rate and the variance."""
    from odoo.addons.logistics_finance_sync.models.logistics_freight_audit import (  # noqa: PLC0415
        FREIGHT_CODES,
    )

    freight = line.search(
        [
            ("invoice_id", "=", line.invoice_id.id),
            ("tracking_number", "=", line.tracking_number),
            ("charge_code", "in", FREIGHT_CODES),
        ],
        order="sequence, id",
    )
    billed = sum(freight.mapped("amount"))
    service = package.carrier_service or line.service
    # What other invoices billed the parcel already (earlier invoices of this batch too).
    billed_before = sum(
        line.search(
            [
                ("package_id", "=", package.id) if package else ("shipment_id", "=", shipment.id),
                ("invoice_id", "!=", line.invoice_id.id),
                ("charge_code", "in", FREIGHT_CODES),
                ("audit_state", "in", BILLED_STATES),
            ]
        ).mapped("amount")
    )
    due = shipment.estimated_delivery or shipment.promised_date
    late = (
        rule.evidence_check == "guaranteed_service"
        and rule._guaranteed(service)
        and shipment.delivered_at
        and due
        and shipment.delivered_at > due
    )
    if rate is None:
        expected, state = 0.0, "mismatch"
    else:
        expected = max(rate - billed_before, 0.0) if round(billed_before, 2) else rate
        expected = 0.0 if late else expected
        state = "reconciled"
        if not within(billed - expected, rule, expected, line.invoice_id):
            state = "mismatch"
    if line != freight[0]:
        return {
            "audit_state": state,
            "expected_amount": 0.0,
            "variance": 0.0,
            "audit_note": "In the package's total.",
        }
    return {
        "audit_state": state,
        "expected_amount": expected,
        "variance": billed - expected,
        "audit_note": f"Freight billed {billed:.2f} against the label's rate {expected:.2f}"
        + (" (late on a guaranteed service)" if late else ""),
    }


def judge_accessorial_line(line, packages, shipment, rule, rate):
    """An accessorial line: all of it expected when its rule's evidence justifies it."""
    check = rule.evidence_check if rule else "none"
    if check == "commercial_address":
        # A company, or a contact of one, receives at a commercial address.
        partner = shipment.partner_id
        justified = not (partner.is_company or partner.commercial_partner_id.is_company)
        note = f"{partner.name} is {'a person' if justified else 'a company or its contact'}."
    elif check == "declared_weight":
        declared = sum(package._weight_kg() for package in packages)
        justified = bool(declared) and line.billed_weight_kg > declared * (
            1 + rule.weight_tolerance_percent / 100.0
        )
        note = f"Billed {line.billed_weight_kg:.2f} kg, declared {declared:.2f} kg."
    else:
        justified, note = False, "No evidence justifies it by itself."
    expected = line.amount if justified else 0.0
    variance = line.amount - expected
    return {
        "audit_state": "reconciled"
        if within(variance, rule, rate or 0.0, line.invoice_id)
        else "mismatch",
        "expected_amount": expected,
        "variance": variance,
        "audit_note": note,
    }


def raising(env):
    """logistics.exception as ``_raise_mismatches`` raises them: no "created" note, and the
    team told once per audit (``_notify_audit``), not once per exception."""
    return env["logistics.exception"].with_context(
        mail_create_nolog=True, logistics_notify_batch=True
    )


def mismatch_exception(env, invoice, shipment, package, lines):
    """The package's freight_mismatch exception, with its lines and its tracking events."""
    events = env["logistics.event"].search(
        [("shipment_id", "=", shipment.id)], order="occurred_at desc, id desc", limit=6
    )
    description = "\n".join(
        [
            f"Invoice {invoice.name} bills {shipment.name} {sum(lines.mapped('amount')):.2f}.",
            *(
                f"{line.charge_code} | {line.amount:.2f} | {line.expected_amount:.2f} | "
                f"{line.variance:+.2f} | {line.audit_state}: {line.audit_note}"
                for line in lines
            ),
            f"Package {package.name}: rate {package.rate_amount}, declared {package.weight} kg.",
            *(f"{event.occurred_at} {event.type_id.name}" for event in events),
        ]
    )
    return raising(env)._raise(
        "freight_mismatch",
        [
            {
                "name": f"{invoice.name}: {shipment.name} billed {sum(lines.mapped('amount')):.2f}",
                "shipment_id": shipment.id,
                "backend_id": invoice.carrier_backend_id.id,
                "source_event_id": f"carrier-invoice:{invoice.id}",
                "description": description,
                "company_id": invoice.company_id.id,
            }
        ],
    )


def unmatched_exception(env, line):
    """The invoice's freight_unmatched exception: created for its first unmatched line, its
    description rewritten for each next one."""
    invoice = line.invoice_id
    Exception_ = raising(env)
    row = f"- {line.tracking_number}: {line.charge_code} {line.amount:.2f}"
    exception = Exception_.search(
        [
            ("type_id.code", "=", "freight_unmatched"),
            ("source_event_id", "=", f"carrier-invoice:{invoice.id}"),
        ],
        limit=1,
    )
    if exception:
        exception.description = f"{exception.description}\n{row}"
    else:
        exception = Exception_._raise(
            "freight_unmatched",
            [
                {
                    "name": f"{invoice.name}: lines match no shipment",
                    "backend_id": invoice.carrier_backend_id.id,
                    "source_event_id": f"carrier-invoice:{invoice.id}",
                    "description": row,
                    "company_id": invoice.company_id.id,
                }
            ],
        )
    line.exception_id = exception


# --- comparing and timing ------------------------------------------------------------------------
def outcome(env, invoice_ids):
    """What an audit of the invoices left, comparable between two copies of the same lines:
    per line (state, expected, variance, has an exception), per package its shipment's actual
    freight, per invoice its state, and the exceptions and freight_reconciled events raised."""
    cr = env.cr
    env.flush_all()
    cr.execute(
        """
        SELECT i.name, l.sequence, l.audit_state, round(l.expected_amount, 2),
               round(l.variance, 2), l.exception_id IS NOT NULL, round(s.freight_actual, 2)
          FROM logistics_carrier_invoice_line l
          JOIN logistics_carrier_invoice i ON i.id = l.invoice_id
          LEFT JOIN logistics_shipment s ON s.id = l.shipment_id
         WHERE l.invoice_id = ANY(%s)
         ORDER BY i.id, l.sequence
        """,
        [invoice_ids],
    )
    lines = [(row[1], *row[2:]) for row in cr.fetchall()]
    cr.execute(
        "SELECT audit_state FROM logistics_carrier_invoice WHERE id = ANY(%s) ORDER BY id",
        [invoice_ids],
    )
    invoice_states = [row[0] for row in cr.fetchall()]
    cr.execute(
        """
        SELECT t.code, count(*) FROM logistics_exception x
          JOIN logistics_exception_type t ON t.id = x.type_id
         WHERE x.source_event_id = ANY(%s) GROUP BY t.code
        """,
        [[f"carrier-invoice:{invoice_id}" for invoice_id in invoice_ids]],
    )
    exceptions = dict(cr.fetchall())
    cr.execute(
        """
        SELECT count(*) FROM logistics_event e
          JOIN logistics_event_type t ON t.id = e.type_id
         WHERE t.code = 'freight_reconciled' AND e.source_event_id LIKE ANY(%s)
        """,
        [[f"freight-reconciled:{invoice_id}:%" for invoice_id in invoice_ids]],
    )
    events = cr.fetchone()[0]
    return {
        "lines": lines,
        "invoices": invoice_states,
        "exceptions": exceptions,
        "events": events,
    }


def compare(baseline, product):
    """Assert that both audits of the sample left the same outcome; :return: the lines' states
    counted."""
    assert len(baseline["lines"]) == len(product["lines"]), "not the same number of lines"
    for base_line, product_line in zip(baseline["lines"], product["lines"], strict=True):
        assert base_line == product_line, f"baseline {base_line} != product {product_line}"
    for key in ("invoices", "exceptions", "events"):
        assert baseline[key] == product[key], (
            f"{key}: baseline {baseline[key]} != product {product[key]}"
        )
    return Counter(line[1] for line in product["lines"])


def time_stages(registry):
    """Wrap the audit's steps (``STAGES``) with timers counting while ``spent["on"]`` is set;
    returns the {step: seconds} they fill."""
    spent = defaultdict(float)

    def timed(name, method):
        def wrapper(*args, **kwargs):
            if not spent.get("on"):
                return method(*args, **kwargs)
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    for model, names in STAGES.items():
        model_class = registry[model]
        for name in names:
            setattr(model_class, name, timed(name, getattr(model_class, name)))
    return spent


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--lines", type=int, default=100_000, help="invoice lines of the batch")
    parser.add_argument("--shipments", type=int, default=100_000)
    parser.add_argument("--lines-per-invoice", type=int, default=100)
    parser.add_argument("--sample", type=int, default=2000, help="lines audited by the baseline")
    parser.add_argument("--overcharged", type=float, default=0.03, help="share of packages")
    parser.add_argument("--residential", type=float, default=0.02, help="share of packages")
    parser.add_argument("--reweigh", type=float, default=0.01, help="share of packages")
    parser.add_argument("--unknown", type=float, default=0.01, help="share of packages")
    parser.add_argument("--stages", action="store_true", help="also print the time of each step")
    parser.add_argument(
        "--jit", action="store_true", help="leave PostgreSQL's JIT compiler on (see README)"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # a long run shows its progress

    config.parse_config(["-c", args.config, "-d", args.database, "--log-level", "warn"])
    registry = Registry(args.database)
    spent = time_stages(registry) if args.stages else {}
    today = date.today()
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        # Measure the audit: the demo's subscriptions would publish the freight_reconciled
        # events of both paths alike.
        env["logistics.subscription"].search([]).active = False
        if not args.jit:
            # With JIT on, PostgreSQL compiles the query of logistics.event._find_shipments
            # for every single-event _ingest of the baseline: 2.9 s a call with 200,000
            # shipments without a transfer or order, whose joins it misjudges as 200,000 rows.
            # That would measure the compiler, not the audit.
            cr.execute("SET jit = off")
        scope = create_scope(env)
        generating, (invoices, billed) = timed(lambda: generate(env, scope, args, today))
        cr.commit()
        Invoice = env["logistics.carrier.invoice"]
        Line = env["logistics.carrier.invoice.line"]
        print(
            f"generated in {generating:.1f} s: {args.shipments} shipments, {args.lines} lines on "
            f"{len(invoices['main'])} invoices billing {billed['main']} packages; a sample of "
            f"{args.sample} lines billing {billed['sample']} packages, twice"
        )

        def audit(path, invoice_ids):
            env.invalidate_all()  # each path starts with a cold record cache
            started = time.perf_counter()
            result = path(Invoice.browse(invoice_ids))
            cr.commit()
            return time.perf_counter() - started, result

        def product(batch):
            spent["on"] = True
            counts = Line._audit(batch)
            spent["on"] = False
            return counts

        copy_seconds, _counts = audit(Line._audit, invoices["copy"])
        # The baseline in two halves, before and after the batch: a busy or quiet moment of
        # a shared machine falls on both paths.
        half = len(invoices["base"]) // 2
        baseline_seconds, _none = audit(partial(audit_per_line, env), invoices["base"][:half])
        seconds, counts = audit(product, invoices["main"])
        assert counts["lines"] == args.lines, counts
        more, _none = audit(partial(audit_per_line, env), invoices["base"][half:])
        baseline_seconds += more
        states = compare(outcome(env, invoices["base"]), outcome(env, invoices["copy"]))
        print(
            f"sample: the baseline and _audit agree on {args.sample} lines "
            f"({', '.join(f'{state} {count}' for state, count in sorted(states.items()))})"
        )

    rate = args.lines / seconds
    base_rate = args.sample / baseline_seconds
    ratio = rate / base_rate
    scaled = seconds * 100_000 / args.lines
    print(
        f"_audit:   {args.lines} lines in {seconds:.2f} s, {rate:,.0f} lines/s "
        f"({', '.join(f'{key} {value}' for key, value in sorted(counts.items()))})"
    )
    print(
        f"baseline: {args.sample} lines in {baseline_seconds:.2f} s, {base_rate:,.0f} lines/s "
        f"(_audit of the same sample: {copy_seconds:.2f} s)"
    )
    ratio_ok = ratio >= TARGET_RATIO
    time_ok = scaled < TARGET_SECONDS
    verdict = {True: "PASS", False: "FAIL"}
    print(
        f"  _audit / baseline = {ratio:.1f}x   (target >= {TARGET_RATIO:.0f}x)   "
        f"{verdict[ratio_ok]}"
    )
    per = "" if args.lines == 100_000 else f", {scaled:.1f} s per 100,000 lines"
    print(
        f"  _audit: {seconds:.1f} s{per}   (target < {TARGET_SECONDS:.0f} s for 100,000 lines)   "
        f"{verdict[time_ok]}"
    )
    if args.stages:
        print("_audit of the batch, seconds per step (nested steps are inside their callers):")
        print(f"  {'the whole audit, with its commit':34s} {seconds:7.2f}")
        for name in sorted((n for n in spent if n != "on"), key=spent.get, reverse=True):
            print(f"  {name:34s} {spent[name]:7.2f}")
    return 0 if ratio_ok and time_ok else 1


if __name__ == "__main__":
    sys.exit(main())
