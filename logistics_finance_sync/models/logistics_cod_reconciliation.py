import logging
from collections import defaultdict
from datetime import datetime, time, timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .logistics_backend_cod import DEFAULT_REMITTANCE_DAYS
from .logistics_freight_audit import CENT

_logger = logging.getLogger(__name__)

# The partner event id of the cod_mismatch exceptions: the lines of one remittance, and a
# shipment whose remittance is missing (one open exception per shipment, aged daily).
REMITTANCE_KEY = "cod-remittance:{}"
MISSING_KEY = "cod-missing:{}"
# Unmatched lines listed in one exception, at most.
LISTED_LINES = 200


class LogisticsCodRemittanceLine(models.Model):
    """The COD reconciliation: set-based, a handful of queries whatever the number of lines, as
    the freight audit (``logistics_freight_audit.py``): lines are matched in two statements,
    read in one query, judged in Python, written in one statement; one exception per short
    line, one per remittance for its unmatched lines, one per shipment whose remittance is
    missing."""

    _inherit = "logistics.cod.remittance.line"

    @api.model
    def _reconcile(self, remittances):
        """Reconcile the lines still to reconcile of ``remittances``
        (``logistics.cod.remittance``), then post their payments (``_post_payments``).

        1. Match each line to its shipment: by a package's tracking number, else by the
           shipment's reference or tracking number.
        2. Judge it, in the remittance's currency: expected is the shipment's cash on
           delivery (Odoo's rate of the remittance date). The line is short when the carrier
           collected less than expected, or remitted less than collected minus deducted, by
           more than the billing backend's COD Tolerance; else reconciled. What the
           shipment's earlier lines collected is taken off its cash on delivery: a line left
           nothing to collect is remitted before (paid twice: not paid in). The ageing is the
           days from the collection (the line's date, else the carrier's cod_collected event,
           else the delivery) to the remittance; beyond the backend's COD Remittance Days the
           line is late (noted on the line and in the remittance's chatter).
        3. A short line (and one remitted before) raises a ``cod_mismatch`` exception with
           expected, collected, deducted and remitted; the unmatched lines of a remittance
           raise one; the ``cod_mismatch`` "missing" of a shipment now remitted closes (noting
           how late).

        :return: {"lines": n, "reconciled": n, "short": n, "unmatched": n,
            "remitted_before": n, "late": n, "posted": n} (states no line took left out)
        """
        remittances = remittances.sudo()
        self._match_lines(remittances)
        rows = self._rows_to_reconcile(remittances)
        decisions = self._judge(rows)
        counts = defaultdict(int, lines=len(decisions))
        for decision in decisions.values():
            counts[decision["state"]] += 1
            counts["late"] += decision["late"]
        if decisions:
            self._write_decisions(decisions)
            self._raise_shortages(rows, decisions)
            self._raise_unmatched(rows, decisions)
            self._settle_missing(rows, decisions)
            self._note_late(rows, decisions)
        shipment_ids = {row["shipment_id"] for row in rows if row["shipment_id"]}
        self._recompute_cod_states(remittances, shipment_ids)
        counts["posted"] = self.browse(list(decisions))._post_payments()
        _logger.info("COD reconciliation of %s remittance(s): %s", len(remittances), dict(counts))
        return dict(counts)

    # --- 1. matching -----------------------------------------------------------------------------
    @api.model
    def _match_lines(self, remittances):
        """Link the lines to reconcile to their shipment, in two statements: only shipments
        of the carrier the remittance pays for (or of no carrier yet: no label bought in
        Odoo), and of the packages sharing a tracking number
        the newest labelled on or before the remittance date (as the freight audit's
        ``_match_lines``: numbers coincide across carriers and are recycled)."""
        for model, names in (
            ("logistics.cod.remittance.line", ["tracking_number", "shipment_ref", "state"]),
            ("logistics.cod.remittance", ["carrier_backend_id", "remittance_date"]),
            ("logistics.package", ["tracking_number", "shipment_id", "active"]),
            ("logistics.shipment", ["name", "tracking_number", "company_id", "carrier_backend_id"]),
        ):
            self.env[model].flush_model(names)
        # By a package's tracking number (a master number several packages share: one
        # shipment all the same).
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_cod_remittance_line l SET shipment_id = m.shipment_id
                  FROM (SELECT DISTINCT ON (l.id) l.id, p.shipment_id
                          FROM logistics_cod_remittance_line l
                          JOIN logistics_cod_remittance r ON r.id = l.remittance_id
                          JOIN logistics_package p
                            ON p.tracking_number = l.tracking_number
                           AND p.company_id = l.company_id
                          JOIN logistics_shipment s
                            ON s.id = p.shipment_id
                           AND COALESCE(s.carrier_backend_id, r.carrier_backend_id)
                               = r.carrier_backend_id
                         WHERE l.remittance_id = ANY(%(remittances)s)
                           AND l.state = 'to_reconcile'
                         ORDER BY l.id, s.carrier_backend_id IS NOT NULL DESC, p.active DESC,
                                  p.create_date::date <= r.remittance_date DESC, p.id DESC) m
                 WHERE l.id = m.id
                """,
                remittances=remittances.ids,
            )
        )
        # Else by the shipment's reference or tracking number.
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_cod_remittance_line l SET shipment_id = s.id
                  FROM logistics_shipment s, logistics_cod_remittance r
                 WHERE l.remittance_id = ANY(%(remittances)s) AND l.state = 'to_reconcile'
                   AND r.id = l.remittance_id
                   AND COALESCE(s.carrier_backend_id, r.carrier_backend_id) = r.carrier_backend_id
                   AND l.shipment_id IS NULL AND s.company_id = l.company_id
                   AND (s.name = l.shipment_ref OR s.tracking_number = l.tracking_number)
                """,
                remittances=remittances.ids,
            )
        )

    @api.model
    def _rows_to_reconcile(self, remittances):
        """The lines to reconcile with what judging them needs, in one query: a list of
        dicts (``collected_before``: what the shipment's lines reconciled before collected)."""
        self.env["logistics.shipment"].flush_model(
            ["cod_amount", "currency_id", "cod_collected_at", "delivered_at"]
        )
        self.env["logistics.backend"].flush_model(["cod_remittance_days", "cod_tolerance"])
        self.env["logistics.cod.remittance"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT l.id, l.remittance_id, l.tracking_number, l.shipment_ref, l.collected,
                       l.deduction, l.remitted, l.collected_at, l.shipment_id,
                       r.name AS remittance_name, r.currency_id, r.remittance_date,
                       r.company_id, r.carrier_backend_id,
                       COALESCE(b.cod_remittance_days, %(days)s) AS remittance_days,
                       COALESCE(b.cod_tolerance, 0) AS tolerance,
                       c.currency_id AS company_currency_id,
                       s.name AS shipment_name, s.cod_amount,
                       s.currency_id AS shipment_currency_id, s.cod_collected_at,
                       s.delivered_at,
                       (SELECT COALESCE(sum(e.collected), 0)
                          FROM logistics_cod_remittance_line e
                         WHERE e.shipment_id = l.shipment_id
                           AND e.state IN ('reconciled', 'short')) AS collected_before
                  FROM logistics_cod_remittance_line l
                  JOIN logistics_cod_remittance r ON r.id = l.remittance_id
                  JOIN res_company c ON c.id = r.company_id
                  LEFT JOIN logistics_backend b ON b.id = r.source_backend_id
                  LEFT JOIN logistics_shipment s ON s.id = l.shipment_id
                 WHERE l.remittance_id = ANY(%(remittances)s) AND l.state = 'to_reconcile'
                 ORDER BY l.remittance_id, l.sequence, l.id
                """,
                remittances=remittances.ids,
                days=DEFAULT_REMITTANCE_DAYS,
            )
        )
        return self.env.cr.dictfetchall()

    # --- 2. judging ------------------------------------------------------------------------------
    @api.model
    def _judge(self, rows):
        """{line id: {"state", "expected", "short", "ageing", "late", "note",
        "payment_state"}} for the rows to reconcile.

        What earlier lines of the shipment collected (reconciled before, or judged earlier in
        ``rows``) is taken off its cash on delivery: a line that finds nothing left to collect
        is ``remitted_before`` (the carrier paid the parcel twice, or re-issued a remittance
        under a new number), neither paid in nor exported; one that finds part of it left is
        judged against what is left."""
        convert = self.env["logistics.carrier.invoice.line"]._converter()
        Currency = self.env["res.currency"]
        decisions = {}
        # {shipment id: collected by the lines of ``rows`` judged so far}
        collected_now = defaultdict(float)
        for row in rows:
            currency = Currency.browse(row["currency_id"])
            collected, deduction, remitted = (
                float(row[name] or 0.0) for name in ("collected", "deduction", "remitted")
            )
            if not row["shipment_id"]:
                decisions[row["id"]] = {
                    "state": "unmatched",
                    "expected": 0.0,
                    "short": 0.0,
                    "ageing": 0,
                    "late": False,
                    "payment_state": "none",
                    "note": self.env._(
                        "No shipment has the tracking number %(number)s or the reference %(ref)s.",
                        number=row["tracking_number"] or "-",
                        ref=row["shipment_ref"] or "-",
                    ),
                }
                continue
            date = row["remittance_date"]
            expected = convert(
                float(row["cod_amount"] or 0.0),
                row["shipment_currency_id"],
                row["currency_id"],
                row["company_id"],
                date,
            )
            tolerance = convert(
                float(row["tolerance"]),
                row["company_currency_id"],
                row["currency_id"],
                row["company_id"],
                date,
            )
            before = float(row["collected_before"]) + collected_now[row["shipment_id"]]
            money = currency.round
            if before > CENT and expected - before <= tolerance + CENT:
                decisions[row["id"]] = {
                    "state": "remitted_before",
                    "expected": 0.0,
                    "short": 0.0,
                    "ageing": 0,
                    "late": False,
                    "payment_state": "none",
                    "note": self.env._(
                        "The shipment's cash on delivery (%(expected)s %(currency)s) was "
                        "collected by earlier remittance lines already (%(before)s): this line "
                        "collects %(collected)s and remits %(remitted)s again. Not paid in: ask "
                        "the carrier whether it paid twice.",
                        expected=money(expected),
                        before=money(before),
                        collected=money(collected),
                        remitted=money(remitted),
                        currency=currency.name,
                    ),
                }
                continue
            collected_now[row["shipment_id"]] += collected
            # Earlier lines collected part of it: this one owes what is left.
            expected -= before
            not_collected = expected - collected
            not_remitted = collected - deduction - remitted
            short = not_collected > tolerance + CENT or not_remitted > tolerance + CENT
            notes = [
                self.env._(
                    "Expected %(expected)s (the shipment's cash on delivery), collected "
                    "%(collected)s, deducted %(deduction)s, remitted %(remitted)s %(currency)s.",
                    expected=money(expected),
                    collected=money(collected),
                    deduction=money(deduction),
                    remitted=money(remitted),
                    currency=currency.name,
                )
            ]
            if not_collected > tolerance + CENT:
                notes.append(
                    self.env._(
                        "The carrier collected %(amount)s less than the cash on delivery.",
                        amount=money(not_collected),
                    )
                )
            elif -not_collected > tolerance + CENT:
                notes.append(
                    self.env._(
                        "The carrier collected %(amount)s more than the cash on delivery: the "
                        "customer may have paid too much.",
                        amount=money(-not_collected),
                    )
                )
            if not_remitted > tolerance + CENT:
                notes.append(
                    self.env._(
                        "The remittance pays %(amount)s less than collected minus deducted.",
                        amount=money(not_remitted),
                    )
                )
            if before > CENT:
                notes.append(
                    self.env._(
                        "Earlier remittance lines collected %(before)s of the cash on delivery: "
                        "expected is what was left.",
                        before=money(before),
                    )
                )
            ageing, late, note = self._ageing(row)
            if note:
                notes.append(note)
            decisions[row["id"]] = {
                "state": "short" if short else "reconciled",
                "expected": expected,
                "short": max(not_collected, 0.0) + max(not_remitted, 0.0) if short else 0.0,
                "ageing": ageing,
                "late": late,
                "payment_state": "to_post" if remitted > CENT else "none",
                "note": "\n".join(notes),
            }
        return decisions

    @api.model
    def _ageing(self, row):
        """(days from the collection to the remittance, late, what a person reads or "")."""
        moment = row["cod_collected_at"] or row["delivered_at"]
        collected_on = row["collected_at"] or (moment.date() if moment else None)
        if not collected_on:
            return 0, False, ""
        ageing = max((row["remittance_date"] - collected_on).days, 0)
        late = ageing > row["remittance_days"]
        if late:
            return (
                ageing,
                True,
                self.env._(
                    "Remitted %(days)s days after the collection (%(date)s): late, the carrier "
                    "has %(limit)s days.",
                    days=ageing,
                    date=collected_on,
                    limit=row["remittance_days"],
                ),
            )
        return (
            ageing,
            False,
            self.env._(
                "Remitted %(days)s days after the collection (%(date)s).",
                days=ageing,
                date=collected_on,
            ),
        )

    # --- 3. recording ----------------------------------------------------------------------------
    @api.model
    def _write_decisions(self, decisions):
        ids = list(decisions)
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_cod_remittance_line l
                   SET state = d.state, expected = d.expected, short_amount = d.short,
                       ageing_days = d.ageing, late = d.late, note = d.note,
                       payment_state = d.payment_state,
                       write_date = now() AT TIME ZONE 'UTC', write_uid = %(uid)s
                  FROM unnest(%(ids)s::int[], %(states)s::varchar[], %(expected)s::numeric[],
                              %(short)s::numeric[], %(ageing)s::int[], %(late)s::bool[],
                              %(notes)s::text[], %(payment_states)s::varchar[])
                       AS d(id, state, expected, short, ageing, late, note, payment_state)
                 WHERE l.id = d.id
                """,
                uid=self.env.uid,
                ids=ids,
                states=[decisions[i]["state"] for i in ids],
                expected=[round(decisions[i]["expected"], 2) for i in ids],
                short=[round(decisions[i]["short"], 2) for i in ids],
                ageing=[decisions[i]["ageing"] for i in ids],
                late=[decisions[i]["late"] for i in ids],
                notes=[decisions[i]["note"] for i in ids],
                payment_states=[decisions[i]["payment_state"] for i in ids],
            )
        )
        self.invalidate_model()

    @api.model
    def _raise_shortages(self, rows, decisions):
        """One ``cod_mismatch`` per short line (a shipment of a remittance), showing expected,
        collected, deducted and remitted, and per line remitted before (a shipment paid
        twice); the line links it."""
        short = [
            row for row in rows if decisions[row["id"]]["state"] in ("short", "remitted_before")
        ]
        if not short:
            return
        raised = (
            self.env["logistics.exception"]
            .sudo()
            ._raise(
                "cod_mismatch",
                [
                    self._shortage_vals(row, decisions[row["id"]])
                    if decisions[row["id"]]["state"] == "short"
                    else self._remitted_before_vals(row, decisions[row["id"]])
                    for row in short
                ],
            )
        )
        self._link_exceptions(
            {row["id"]: exception.id for row, exception in zip(short, raised, strict=True)}
        )

    @api.model
    def _shortage_vals(self, row, decision):
        currency = self.env["res.currency"].browse(row["currency_id"])
        figures = {
            "expected": currency.round(decision["expected"]),
            "collected": currency.round(float(row["collected"])),
            "deducted": currency.round(float(row["deduction"])),
            "remitted": currency.round(float(row["remitted"])),
            "short": currency.round(decision["short"]),
        }
        table = [
            self.env._("Expected | Collected | Deducted | Remitted | Short"),
            " | ".join(f"{figures[name]:.2f}" for name in figures),
        ]
        return {
            "name": self.env._(
                "%(remittance)s: %(shipment)s short %(short)s %(currency)s (expected "
                "%(expected)s, collected %(collected)s, deducted %(deducted)s, remitted "
                "%(remitted)s)",
                remittance=row["remittance_name"],
                shipment=row["shipment_name"],
                currency=currency.name,
                **figures,
            )[:200],
            "shipment_id": row["shipment_id"],
            "backend_id": row["carrier_backend_id"],
            "source_event_id": REMITTANCE_KEY.format(row["remittance_id"]),
            "description": "\n".join(
                [
                    self.env._(
                        "COD remittance %(remittance)s of %(date)s pays %(shipment)s less than "
                        "it should (%(currency)s):",
                        remittance=row["remittance_name"],
                        date=row["remittance_date"],
                        shipment=row["shipment_name"],
                        currency=currency.name,
                    ),
                    "",
                    *table,
                    "",
                    decision["note"],
                ]
            ),
            "company_id": row["company_id"],
        }

    @api.model
    def _remitted_before_vals(self, row, decision):
        currency = self.env["res.currency"].browse(row["currency_id"])
        return {
            "name": self.env._(
                "%(remittance)s: %(shipment)s remitted before (%(remitted)s %(currency)s again)",
                remittance=row["remittance_name"],
                shipment=row["shipment_name"],
                remitted=currency.round(float(row["remitted"])),
                currency=currency.name,
            )[:200],
            "shipment_id": row["shipment_id"],
            "backend_id": row["carrier_backend_id"],
            "source_event_id": REMITTANCE_KEY.format(row["remittance_id"]),
            "description": "\n".join(
                [
                    self.env._(
                        "COD remittance %(remittance)s of %(date)s pays %(shipment)s, whose cash "
                        "on delivery earlier remittances paid:",
                        remittance=row["remittance_name"],
                        date=row["remittance_date"],
                        shipment=row["shipment_name"],
                    ),
                    "",
                    decision["note"],
                ]
            ),
            "company_id": row["company_id"],
        }

    @api.model
    def _raise_unmatched(self, rows, decisions):
        """One ``cod_mismatch`` per remittance whose lines match no shipment: cash paid for
        parcels we don't know of."""
        by_remittance = defaultdict(list)
        for row in rows:
            if decisions[row["id"]]["state"] == "unmatched":
                by_remittance[row["remittance_id"]].append(row)
        links = {}
        Exception_ = self.env["logistics.exception"].sudo()
        for group in by_remittance.values():
            first = group[0]
            currency = self.env["res.currency"].browse(first["currency_id"])
            listed = [
                f"- {row['tracking_number'] or row['shipment_ref'] or '-'}: collected "
                f"{float(row['collected']):.2f}, remitted {float(row['remitted']):.2f}"
                for row in group[:LISTED_LINES]
            ]
            if len(group) > LISTED_LINES:
                listed.append(f"… {len(group) - LISTED_LINES} more")
            exception = Exception_._raise(
                "cod_mismatch",
                [
                    {
                        "name": self.env._(
                            "%(remittance)s: %(count)s COD line(s) match no shipment",
                            remittance=first["remittance_name"],
                            count=len(group),
                        ),
                        "backend_id": first["carrier_backend_id"],
                        "source_event_id": REMITTANCE_KEY.format(first["remittance_id"]),
                        "description": self.env._(
                            "These lines of the remittance (%(currency)s) name a tracking number "
                            "or shipment reference no shipment of the company has: ask the "
                            "carrier what they are.\n\n",
                            currency=currency.name,
                        )
                        + "\n".join(listed),
                        "company_id": first["company_id"],
                    }
                ],
            )
            links.update(dict.fromkeys((row["id"] for row in group), exception.id))
        self._link_exceptions(links)

    @api.model
    def _link_exceptions(self, links):
        if not links:
            return
        ids = list(links)
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_cod_remittance_line l SET exception_id = x.exception_id
                  FROM unnest(%s::int[], %s::int[]) AS x(id, exception_id)
                 WHERE l.id = x.id
                """,
                ids,
                [links[i] for i in ids],
            )
        )
        self.invalidate_model(["exception_id"])

    @api.model
    def _settle_missing(self, rows, decisions):
        """The shipments now remitted are no longer overdue: their open ``cod_mismatch``
        "missing" exceptions close, saying which remittance paid and how late."""
        remitted = {
            row["shipment_id"]: row
            for row in rows
            if decisions[row["id"]]["state"] in ("reconciled", "short")
        }
        if not remitted:
            return
        ids = sorted(remitted)
        self.env.cr.execute(
            SQL(
                "UPDATE logistics_shipment SET cod_overdue = FALSE"
                " WHERE id = ANY(%s) AND cod_overdue",
                ids,
            )
        )
        self.env["logistics.shipment"].invalidate_model(["cod_overdue"])
        missing = (
            self.env["logistics.exception"]
            .sudo()
            .search(
                [
                    ("type_code", "=", "cod_mismatch"),
                    ("is_closed", "=", False),
                    ("source_event_id", "in", [MISSING_KEY.format(i) for i in ids]),
                ]
            )
        )
        for exception in missing:
            row = remitted[exception.shipment_id.id]
            decision = decisions[row["id"]]
            exception._close_automatically(
                self.env._(
                    "Remitted by %(remittance)s of %(date)s, %(days)s days after the "
                    "collection%(late)s.",
                    remittance=row["remittance_name"],
                    date=row["remittance_date"],
                    days=decision["ageing"],
                    late=self.env._(": late") if decision["late"] else "",
                )
            )

    @api.model
    def _note_late(self, rows, decisions):
        """A remittance that pays shipments later than the carrier's days says so in its
        chatter (each line has its ageing and late flag)."""
        late = defaultdict(list)
        for row in rows:
            decision = decisions[row["id"]]
            if decision["late"]:
                late[row["remittance_id"]].append(f"{row['shipment_name']} ({decision['ageing']})")
        Remittance = self.env["logistics.cod.remittance"].sudo()
        for remittance_id, shipments in late.items():
            Remittance.browse(remittance_id).message_post(
                body=self.env._(
                    "Remitted late (days after the collection): %(shipments)s.",
                    shipments=", ".join(shipments),
                )
            )

    @api.model
    def _recompute_cod_states(self, remittances, shipment_ids):
        """What the lines written in SQL change: the remittances' state and amounts, the
        shipments' COD state."""
        self.env.invalidate_all()
        Remittance = self.env["logistics.cod.remittance"].sudo()
        for name in (
            "state",
            "amount_expected",
            "amount_collected",
            "amount_deduction",
            "amount_remitted",
            "amount_short",
        ):
            self.env.add_to_compute(Remittance._fields[name], remittances)
        shipments = self.env["logistics.shipment"].sudo().browse(sorted(shipment_ids))
        if shipments:
            self.env.add_to_compute(shipments._fields["cod_state"], shipments)
        remittances.filtered(lambda r: r.state != "to_reconcile").write(
            {"reconciled_at": fields.Datetime.now()}
        )
        remittances.flush_recordset()
        shipments.flush_recordset()

    # --- missing remittances ---------------------------------------------------------------------
    @api.model
    def _age_missing_remittances(self, today=None):
        """Daily: a shipment of a billed carrier collected (its cod_collected event), or
        delivered with a cash on delivery, more than the billing backend's COD Remittance
        Days ago, that no remittance line pays, raises one ``cod_mismatch`` "missing"; the
        exception's name gives the days since the collection and is brought up to date each
        day, never raised twice while it is open. It closes when a remittance pays the
        shipment (``_settle_missing``).

        :param date today: the day measured against (default: today)
        :return: {"missing": shipments overdue, "raised": new exceptions}
        """
        today = today or fields.Date.context_today(self)
        backends = (
            self.env["logistics.backend"]
            .sudo()
            .search([("adapter", "=", "freight_billing"), ("billed_carrier_id", "!=", False)])
        )
        # The shortest days of the carrier's billing backends, per carrier and company.
        days = {}
        for backend in backends:
            key = (backend.billed_carrier_id.id, backend.company_id.id)
            days[key] = min(days.get(key, backend.cod_remittance_days), backend.cod_remittance_days)
        rows = []
        for (carrier_id, company_id), limit in days.items():
            rows += self._overdue_rows(carrier_id, company_id, today, limit)
        if not rows:
            return {"missing": 0, "raised": 0}
        raised = self._raise_or_age_missing(rows, today)
        ids = sorted({row["id"] for row in rows})
        self.env.cr.execute(
            SQL(
                "UPDATE logistics_shipment SET cod_overdue = TRUE"
                " WHERE id = ANY(%s) AND cod_overdue IS NOT TRUE",
                ids,
            )
        )
        shipments = self.env["logistics.shipment"].sudo().browse(ids)
        self.env["logistics.shipment"].invalidate_model(["cod_overdue"])
        self.env.add_to_compute(shipments._fields["cod_state"], shipments)
        shipments.flush_recordset()
        return {"missing": len(ids), "raised": raised}

    @api.model
    def _overdue_rows(self, carrier_id, company_id, today, limit):
        """The carrier's shipments overdue for a remittance on ``today`` (more than ``limit``
        days since the collection), in one query on the COD state's index."""
        self.env["logistics.shipment"].flush_model(
            ["cod_state", "cod_collected_at", "delivered_at", "carrier_backend_id"]
        )
        self.env["logistics.cod.remittance.line"].flush_model(["shipment_id"])
        # Overdue: more than ``limit`` whole days between the collection day and today.
        cutoff = datetime.combine(today - timedelta(days=limit), time.min)
        self.env.cr.execute(
            SQL(
                """
                SELECT s.id, s.name, s.company_id, s.currency_id, s.cod_amount,
                       s.cod_collected_amount, s.cod_collected_at, s.delivered_at,
                       COALESCE(s.cod_collected_at, s.delivered_at) AS collected_at,
                       %(limit)s AS remittance_days, %(carrier)s AS carrier_backend_id
                  FROM logistics_shipment s
                 WHERE s.carrier_backend_id = %(carrier)s AND s.company_id = %(company)s
                   AND s.cod_state IN ('expected', 'collected', 'missing')
                   AND COALESCE(s.cod_collected_at, s.delivered_at) < %(cutoff)s
                   AND NOT EXISTS (SELECT 1 FROM logistics_cod_remittance_line l
                                    WHERE l.shipment_id = s.id)
                 ORDER BY s.id
                """,
                carrier=carrier_id,
                company=company_id,
                cutoff=cutoff,
                limit=limit,
            )
        )
        return self.env.cr.dictfetchall()

    @api.model
    def _raise_or_age_missing(self, rows, today):
        """Raise the missing shipments' exceptions that are not open yet, bring the open
        ones' names to today's ageing; returns how many were raised."""
        Exception_ = self.env["logistics.exception"].sudo()
        open_ = {
            exception.source_event_id: exception
            for exception in Exception_.search(
                [
                    ("type_code", "=", "cod_mismatch"),
                    ("is_closed", "=", False),
                    ("source_event_id", "in", [MISSING_KEY.format(row["id"]) for row in rows]),
                ]
            )
        }
        new = []
        seen = set()
        for row in rows:
            key = MISSING_KEY.format(row["id"])
            if key in seen:
                continue
            seen.add(key)
            vals = self._missing_vals(row, today)
            exception = open_.get(key)
            if not exception:
                new.append(vals)
            elif exception.name != vals["name"]:
                # Each day's new age is no news for the chatter.
                exception.with_context(mail_notrack=True).write({"name": vals["name"]})
        if new:
            Exception_._raise("cod_mismatch", new)
        return len(new)

    @api.model
    def _missing_vals(self, row, today):
        currency = self.env["res.currency"].browse(row["currency_id"])
        collected = row["cod_collected_at"] is not None
        amount = row["cod_collected_amount"] if collected else row["cod_amount"]
        since = row["collected_at"].date()
        ageing = (today - since).days
        what = self.env._("collected") if collected else self.env._("delivered (cash on delivery)")
        return {
            "name": self.env._(
                "%(shipment)s: COD %(amount)s %(currency)s %(what)s %(date)s, no remittance: "
                "%(days)s days",
                shipment=row["name"],
                amount=currency.round(float(amount or 0.0)),
                currency=currency.name,
                what=what,
                date=since,
                days=ageing,
            ),
            "shipment_id": row["id"],
            "backend_id": row["carrier_backend_id"],
            "source_event_id": MISSING_KEY.format(row["id"]),
            "description": self.env._(
                "The carrier %(what)s %(shipment)s on %(date)s with a cash on delivery of "
                "%(amount)s %(currency)s, and no remittance has paid it out after "
                "%(limit)s days (the billing backend's COD Remittance Days). Ask the carrier "
                "for its remittance; the exception closes when one pays the shipment, and its "
                "name counts the days meanwhile.",
                what=what,
                shipment=row["name"],
                date=since,
                amount=currency.round(float(amount or 0.0)),
                currency=currency.name,
                limit=row["remittance_days"],
            ),
            "company_id": row["company_id"],
        }
