import logging
from collections import defaultdict

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.logistics_integration_base.models.logistics_event import plain_text
from odoo.addons.logistics_integration_base.models.logistics_package import WEIGHT_UNITS

from .logistics_carrier_invoice_line import ACCESSORIAL_CODES, FREIGHT_CODES

_logger = logging.getLogger(__name__)

# What a person reads for a package's freight charges other than the one carrying the total.
IN_PACKAGE_TOTAL = "In the package's freight total (the label's rate covers base, fuel and other)."
# Events shown as evidence of a mismatch, newest first.
EVIDENCE_EVENTS = 6
# Amounts closer than this are equal (half a cent: amounts are rounded to cents).
CENT = 0.005


class LogisticsCarrierInvoiceLine(models.Model):
    """The freight audit: set-based, a handful of queries whatever the number of lines.

    One audit of 100,000 lines reads them in one query, judges them in Python, writes them in
    one statement, and raises one exception per shipment outside tolerance
    (``setup/bench freight`` measures it against a per-line ORM audit)."""

    _inherit = "logistics.carrier.invoice.line"

    @api.model
    def _audit(self, invoices):
        """Audit the lines still to audit of ``invoices`` (``logistics.carrier.invoice``).

        1. Match each line to its package by tracking number, else to its shipment by
           reference or tracking number (and to the shipment's package when it has one).
        2. Judge them with the carrier's tolerance rules (``logistics.freight.tolerance``):
           per package, the freight charges (base, fuel, other) together against the label's
           rate converted to the invoice's currency at the invoice date (Odoo's rates), less
           what other invoices billed the package already (double billing); each accessorial
           charge by its own rule and evidence. A guaranteed service delivered after the
           carrier's delivery date expects no freight.
        3. Lines within tolerance are reconciled; a shipment whose lines of the invoice are all
           reconciled gets a ``freight_reconciled`` event and its actual freight (what the
           carrier billed it, in the company's currency). Lines outside tolerance raise one
           ``freight_mismatch`` exception per invoice and shipment, with expected against
           billed per charge and the evidence; lines matching no shipment raise one
           ``freight_unmatched`` exception per invoice.
        4. Credit notes settle the disputed lines they credit (``_apply_credit_notes``).

        :return: {"lines": audited, "reconciled": n, "mismatch": n, "unmatched": n}
        """
        invoices = invoices.sudo()
        credit_notes = invoices.filtered("credit_of_id")
        invoices -= credit_notes
        counts = defaultdict(int)
        if invoices:
            rows = self._rows_to_audit(invoices)
            decisions = self._judge(rows)
            self._write_decisions(rows, decisions)
            self._raise_mismatches(rows, decisions)
            reconciled = self._record_reconciled(rows, decisions)
            self._record_actual_freight(reconciled)
            for decision in decisions.values():
                counts[decision["state"]] += 1
            counts["lines"] = len(decisions)
        if credit_notes:
            counts["credited"] = self._apply_credit_notes(credit_notes)
        all_invoices = invoices | credit_notes | credit_notes.credit_of_id
        self.env.invalidate_all()
        all_invoices._update_audit_state()
        _logger.info("freight audit of %s invoice(s): %s", len(all_invoices), dict(counts))
        return dict(counts)

    # --- 1. matching and reading -----------------------------------------------------------------
    @api.model
    def _rows_to_audit(self, invoices):
        """The lines to audit, each matched to its package and shipment, with what judging them
        needs, in one query: a list of dicts (``package_id`` and ``shipment_id`` are the match,
        written with the decisions by ``_write_decisions``).

        Matching: a line matches the package of its tracking number, else the shipment of its
        reference or tracking number (with the shipment's package when it has exactly one);
        only shipments of the carrier the invoice bills, or of no carrier yet (short numeric
        tracking numbers of two carriers coincide); of the packages sharing a tracking number,
        the newest labelled on or before the invoice date (carriers recycle numbers: FedEx and
        UPS after months). The match is not written by an UPDATE of its own: a second UPDATE
        of a row this transaction already updated checks every foreign key of the row again
        (PostgreSQL's referential integrity triggers); in ``setup/bench freight`` (100,000
        lines) matching by UPDATE cost 5.1 s, and the checks it caused about 5 s more. The
        lines without a package go to the shipments by two joins, each on its column's index
        (an ``OR`` of both in one join read 100,000 lines in 43 s instead of a few).

        ``billed_before`` is the freight (base, fuel, other) that settled lines (reconciled,
        accepted, credited, credit notes included) of invoices out of this batch billed the
        package, or the shipment for a line without a package: what is left of the label's
        rate (``_judge`` adds what this batch reconciles, invoice by invoice), read by
        ``_billed_before`` once per package: a correlated sum per line, or a join the planner
        misjudged while the table's statistics knew no settled line, made reading 100,000
        lines take 25 to 91 s instead of a few (``setup/bench freight --stages``).
        ``guarantee_at`` is the carrier's delivery date (``estimated_delivery``), else the
        date promised to the customer (``guarantee_is_carrier`` says which)."""
        for model, names in (
            (
                "logistics.carrier.invoice.line",
                [
                    "tracking_number",
                    "shipment_ref",
                    "audit_state",
                    "carrier_backend_id",
                    "invoice_date",
                    "amount",
                    "charge_code",
                    "package_id",
                    "shipment_id",
                ],
            ),
            (
                "logistics.package",
                [
                    "tracking_number",
                    "shipment_id",
                    "active",
                    "company_id",
                    "rate_amount",
                    "rate_currency_id",
                    "weight",
                    "weight_unit",
                    "carrier_service",
                ],
            ),
            (
                "logistics.shipment",
                [
                    "name",
                    "tracking_number",
                    "company_id",
                    "carrier_backend_id",
                    "partner_id",
                    "delivered_at",
                    "promised_date",
                    "estimated_delivery",
                    "currency_id",
                ],
            ),
        ):
            self.env[model].flush_model(names)
        self.env.cr.execute(
            SQL(
                """
                WITH by_package AS (
                    SELECT DISTINCT ON (l.id) l.id, p.id AS package_id, p.shipment_id
                      FROM logistics_carrier_invoice_line l
                      JOIN logistics_package p
                        ON p.tracking_number = l.tracking_number
                       AND p.company_id = l.company_id
                      JOIN logistics_shipment s
                        ON s.id = p.shipment_id
                       AND COALESCE(s.carrier_backend_id, l.carrier_backend_id)
                           = l.carrier_backend_id
                     WHERE l.invoice_id = ANY(%(invoices)s) AND l.audit_state = 'to_audit'
                     ORDER BY l.id, s.carrier_backend_id IS NOT NULL DESC, p.active DESC,
                              p.create_date::date <= l.invoice_date DESC, p.id DESC
                ), rest AS MATERIALIZED (
                    SELECT l.id, l.shipment_ref, l.tracking_number, l.company_id,
                           l.carrier_backend_id
                      FROM logistics_carrier_invoice_line l
                     WHERE l.invoice_id = ANY(%(invoices)s) AND l.audit_state = 'to_audit'
                       AND l.shipment_id IS NULL
                       AND NOT EXISTS (SELECT FROM by_package b WHERE b.id = l.id)
                ), shipment_candidates AS (
                    SELECT r.id, s.id AS shipment_id, s.carrier_backend_id
                      FROM rest r
                      JOIN logistics_shipment s
                        ON s.name = r.shipment_ref AND s.company_id = r.company_id
                       AND COALESCE(s.carrier_backend_id, r.carrier_backend_id)
                           = r.carrier_backend_id
                    UNION ALL
                    SELECT r.id, s.id, s.carrier_backend_id
                      FROM rest r
                      JOIN logistics_shipment s
                        ON s.tracking_number = r.tracking_number
                       AND s.company_id = r.company_id
                       AND COALESCE(s.carrier_backend_id, r.carrier_backend_id)
                           = r.carrier_backend_id
                ), by_shipment AS (
                    SELECT DISTINCT ON (c.id) c.id, c.shipment_id,
                           (SELECT CASE WHEN count(*) = 1 THEN min(p.id) END
                              FROM logistics_package p
                             WHERE p.shipment_id = c.shipment_id AND p.active) AS package_id
                      FROM shipment_candidates c
                     ORDER BY c.id, c.carrier_backend_id IS NOT NULL DESC, c.shipment_id DESC
                ), matched AS (
                    SELECT l.id,
                           CASE WHEN b.id IS NOT NULL THEN b.package_id
                                WHEN m.id IS NOT NULL THEN m.package_id
                                ELSE l.package_id END AS package_id,
                           COALESCE(b.shipment_id, m.shipment_id, l.shipment_id) AS shipment_id
                      FROM logistics_carrier_invoice_line l
                      LEFT JOIN by_package b ON b.id = l.id
                      LEFT JOIN by_shipment m ON m.id = l.id
                     WHERE l.invoice_id = ANY(%(invoices)s) AND l.audit_state = 'to_audit'
                ), shipment_rates AS (
                    SELECT p.shipment_id, sum(p.rate_amount) AS rate_amount,
                           min(p.rate_currency_id) AS rate_currency_id,
                           sum(p.weight * CASE p.weight_unit
                               WHEN 'g' THEN 0.001 WHEN 'lb' THEN %(lb)s WHEN 'oz' THEN %(oz)s
                               ELSE 1 END) AS weight_kg
                      FROM logistics_package p
                     WHERE p.active AND p.shipment_id IN (
                           SELECT shipment_id FROM matched
                            WHERE shipment_id IS NOT NULL AND package_id IS NULL)
                     GROUP BY p.shipment_id
                )
                SELECT l.id, l.invoice_id, l.charge_code, l.amount, l.billed_weight_kg,
                       l.service AS line_service, l.tracking_number, l.shipment_ref,
                       m.package_id, m.shipment_id, i.currency_id, i.invoice_date,
                       i.carrier_backend_id, i.company_id, i.name AS invoice_name,
                       COALESCE(p.rate_amount, r.rate_amount) AS rate_amount,
                       COALESCE(p.rate_currency_id, r.rate_currency_id) AS rate_currency_id,
                       COALESCE(p.weight * CASE p.weight_unit
                           WHEN 'g' THEN 0.001 WHEN 'lb' THEN %(lb)s WHEN 'oz' THEN %(oz)s
                           ELSE 1 END, r.weight_kg) AS declared_kg,
                       p.name AS package_name, p.carrier_name, p.carrier_service,
                       s.name AS shipment_name, s.delivered_at,
                       COALESCE(s.estimated_delivery, s.promised_date) AS guarantee_at,
                       s.estimated_delivery IS NOT NULL AS guarantee_is_carrier,
                       partner.name AS partner_name,
                       partner.is_company OR commercial.is_company AS is_company,
                       s.currency_id AS shipment_currency_id
                  FROM matched m
                  JOIN logistics_carrier_invoice_line l ON l.id = m.id
                  JOIN logistics_carrier_invoice i ON i.id = l.invoice_id
                  LEFT JOIN logistics_package p ON p.id = m.package_id
                  LEFT JOIN logistics_shipment s ON s.id = m.shipment_id
                  LEFT JOIN shipment_rates r ON r.shipment_id = m.shipment_id
                                            AND m.package_id IS NULL
                  LEFT JOIN res_partner partner ON partner.id = s.partner_id
                  LEFT JOIN res_partner commercial
                         ON commercial.id = partner.commercial_partner_id
                 ORDER BY l.invoice_id, l.sequence, l.id
                """,
                invoices=invoices.ids,
                freight_codes=FREIGHT_CODES,
                lb=self._kg_per_unit()["lb"],
                oz=self._kg_per_unit()["oz"],
            )
        )
        rows = self.env.cr.dictfetchall()
        packages = {row["package_id"] for row in rows if row["package_id"]}
        shipments = {row["shipment_id"] for row in rows if row["shipment_id"]} - {
            row["shipment_id"] for row in rows if row["package_id"]
        }
        by_package = self._billed_before("package_id", packages, invoices)
        by_shipment = self._billed_before("shipment_id", shipments, invoices)
        for row in rows:
            row["billed_before"] = (
                by_package.get(row["package_id"], 0.0)
                if row["package_id"]
                else by_shipment.get(row["shipment_id"], 0.0)
            )
        return rows

    @api.model
    def _billed_before(self, column, ids, invoices):
        """{package or shipment id: the freight (base, fuel, other) that settled lines of
        invoices out of ``invoices`` billed it}, for ``column`` ``package_id`` or
        ``shipment_id``: one index probe per id (a join the planner can't misjudge, whatever
        the statistics say of settled lines)."""
        if not ids:
            return {}
        self.env.cr.execute(
            SQL(
                """
                SELECT b.%(column)s, sum(b.amount)
                  FROM unnest(%(ids)s::int[]) AS x(id)
                  JOIN logistics_carrier_invoice_line b ON b.%(column)s = x.id
                 WHERE b.charge_code IN %(freight_codes)s
                   AND b.audit_state IN ('reconciled', 'accepted', 'credited')
                   AND b.invoice_id != ALL(%(invoices)s)
                 GROUP BY b.%(column)s
                """,
                column=SQL.identifier(column),
                ids=sorted(ids),
                freight_codes=FREIGHT_CODES,
                invoices=invoices.ids,
            )
        )
        return {key: float(amount) for key, amount in self.env.cr.fetchall()}

    @api.model
    def _kg_per_unit(self):
        """{weight unit: kg in one unit}, from Odoo's units of measure."""
        kg = self.env.ref(WEIGHT_UNITS["kg"])
        return {
            unit: self.env.ref(xmlid)._compute_quantity(1.0, kg, round=False)
            for unit, xmlid in WEIGHT_UNITS.items()
        }

    # --- 2. judging ------------------------------------------------------------------------------
    @api.model
    def _judge(self, rows):
        """{line id: {"state", "expected", "variance", "note"}} for the rows to audit."""
        rules = self.env["logistics.freight.tolerance"]._rules_for(
            sorted({row["carrier_backend_id"] for row in rows})
        )
        convert = self._converter()
        groups = defaultdict(list)  # (invoice, package or shipment): its rows
        decisions = {}
        for row in rows:
            if not row["shipment_id"]:
                decisions[row["id"]] = {
                    "state": "unmatched",
                    "expected": 0.0,
                    "variance": row["amount"],
                    "note": self.env._(
                        "No shipment has the tracking number %(number)s or the reference %(ref)s.",
                        number=row["tracking_number"] or "-",
                        ref=row["shipment_ref"] or "-",
                    ),
                }
                continue
            key = (row["invoice_id"], row["package_id"] or f"shipment-{row['shipment_id']}")
            groups[key].append(row)
        # What this audit reconciled so far, by package or shipment: an earlier invoice of the
        # same batch billed it as surely as one audited before (a double billing in one file).
        billed_now = defaultdict(float)
        for (_invoice_id, billed_key), group in groups.items():
            first = group[0]
            expected_freight = self._expected_freight(first, rules, convert)
            freight = [row for row in group if row["charge_code"] in FREIGHT_CODES]
            if freight:
                billed_before = float(first["billed_before"] or 0.0) + billed_now[billed_key]
                judged = self._judge_freight(
                    freight, expected_freight, rules, convert, billed_before
                )
                decisions.update(judged)
                if judged[freight[0]["id"]]["state"] == "reconciled":
                    billed_now[billed_key] += sum(row["amount"] for row in freight)
            for row in group:
                if row["charge_code"] in ACCESSORIAL_CODES:
                    decisions[row["id"]] = self._judge_accessorial(
                        row, expected_freight, rules, convert
                    )
        return decisions

    @api.model
    def _converter(self):
        """convert(amount, from currency id, to currency id, company id, date) with Odoo's
        rates, each rate read once per audit."""
        Currency = self.env["res.currency"]
        Company = self.env["res.company"]
        cache = {}

        def convert(amount, from_id, to_id, company_id, date):
            if not amount or from_id == to_id:
                return amount or 0.0
            key = (from_id, to_id, company_id, date)
            if key not in cache:
                cache[key] = Currency._get_conversion_rate(
                    Currency.browse(from_id),
                    Currency.browse(to_id),
                    Company.browse(company_id),
                    date or fields.Date.today(),
                )
            return amount * cache[key]

        return convert

    @api.model
    def _tolerance(self, rule, expected_freight, row, convert):
        """The largest variance within the rule, in the invoice's currency."""
        if not rule:
            return 0.0
        amount = convert(
            rule.tolerance_amount,
            rule.currency_id.id,
            row["currency_id"],
            row["company_id"],
            row["invoice_date"],
        )
        return max(abs(expected_freight or 0.0) * rule.tolerance_percent / 100.0, amount)

    @api.model
    def _expected_freight(self, row, rules, convert):
        """The label's rate in the invoice's currency, or None when no rate was recorded."""
        if row["rate_amount"] is None or not row["rate_currency_id"]:
            return None
        return convert(
            row["rate_amount"],
            row["rate_currency_id"],
            row["currency_id"],
            row["company_id"],
            row["invoice_date"],
        )

    @api.model
    def _judge_freight(self, freight, expected, rules, convert, billed_before=0.0):
        """One package's freight charges, judged together against the label's rate less what
        other invoices billed the package already (``billed_before``, in the invoice's
        currency): a second bill of one parcel expects nothing."""
        first = freight[0]
        rule = rules.get((first["carrier_backend_id"], "freight"))
        billed = sum(row["amount"] for row in freight)
        currency = self.env["res.currency"].browse(first["currency_id"])
        notes = []
        service = first["carrier_service"] or first["line_service"]
        if expected is None:
            expected_value = 0.0
            state = "mismatch"
            notes.append(
                self.env._(
                    "No label rate is recorded for %(what)s: the carrier bills a parcel we "
                    "bought no label for.",
                    what=first["package_name"] or first["shipment_name"],
                )
            )
        else:
            expected_value = expected
            if currency.round(billed_before):
                expected_value = max(expected - billed_before, 0.0)
                notes.append(
                    self.env._(
                        "Other invoices billed %(what)s %(before)s already: %(left)s of the "
                        "label's rate is left to bill.",
                        what=first["package_name"] or first["shipment_name"],
                        before=currency.round(billed_before),
                        left=currency.round(expected_value),
                    )
                )
            # The money-back guarantee is the carrier's delivery date; the date promised to
            # the customer only stands in when the carrier's is not recorded.
            late = (
                rule
                and rule.evidence_check == "guaranteed_service"
                and rule._guaranteed(service)
                and first["delivered_at"]
                and first["guarantee_at"]
                and first["delivered_at"] > first["guarantee_at"]
            )
            if late:
                expected_value = 0.0
                notes.append(
                    self.env._(
                        "Late delivery on a guaranteed service (%(service)s): delivered "
                        "%(delivered)s, due %(due)s (%(by)s); the guarantee refunds the "
                        "freight.",
                        service=service,
                        delivered=first["delivered_at"],
                        due=first["guarantee_at"],
                        by=self.env._("the carrier's delivery date")
                        if first["guarantee_is_carrier"]
                        else self.env._("the date promised to the customer"),
                    )
                )
            tolerance = self._tolerance(rule, expected_value, first, convert)
            variance = billed - expected_value
            within = abs(variance) <= tolerance + CENT
            state = "reconciled" if within else "mismatch"
            notes.append(
                self.env._(
                    "Freight billed %(billed)s against the label's rate %(expected)s "
                    "(%(carrier)s %(service)s): variance %(variance)s, tolerance %(tolerance)s.",
                    billed=currency.round(billed),
                    expected=currency.round(expected_value),
                    carrier=first["carrier_name"] or "",
                    service=service or "",
                    variance=currency.round(variance),
                    tolerance=currency.round(tolerance),
                )
            )
        note = "\n".join(notes)
        decisions = {
            first["id"]: {
                "state": state,
                "expected": expected_value,
                "variance": billed - expected_value,
                "note": note,
            }
        }
        for row in freight[1:]:
            decisions[row["id"]] = {
                "state": state,
                "expected": 0.0,
                "variance": 0.0,
                "note": IN_PACKAGE_TOTAL,
            }
        return decisions

    @api.model
    def _judge_accessorial(self, row, expected_freight, rules, convert):
        """One accessorial charge: all of it is expected when its rule's evidence justifies
        it, none of it otherwise; then the rule's tolerance decides."""
        code = row["charge_code"]
        rule = rules.get((row["carrier_backend_id"], code))
        check = rule.evidence_check if rule else "none"
        justified, note = False, ""
        if check == "commercial_address":
            if row["is_company"]:
                note = self.env._(
                    "Residential surcharge on an address marked commercial: %(partner)s is a "
                    "company, or a contact of one.",
                    partner=row["partner_name"],
                )
            else:
                justified = True
                note = self.env._(
                    "Residential address: %(partner)s is a person.", partner=row["partner_name"]
                )
        elif check == "declared_weight":
            declared, billed = row["declared_kg"] or 0.0, row["billed_weight_kg"] or 0.0
            limit = declared * (1 + rule.weight_tolerance_percent / 100.0)
            if not declared:
                note = self.env._("No declared weight to compare the reweigh with.")
            elif billed > limit:
                justified = True
                note = self.env._(
                    "Billed weight %(billed).2f kg is over the declared %(declared).2f kg by "
                    "more than %(percent)s %%.",
                    billed=billed,
                    declared=declared,
                    percent=rule.weight_tolerance_percent,
                )
            else:
                note = self.env._(
                    "Billed weight %(billed).2f kg is within %(percent)s %% of the declared "
                    "%(declared).2f kg: the reweigh is not justified.",
                    billed=billed,
                    declared=declared,
                    percent=rule.weight_tolerance_percent,
                )
        else:
            note = self.env._(
                "Not in the label's rate; no evidence justifies it by itself: check it against "
                "the tracking events."
            )
        expected = row["amount"] if justified else 0.0
        variance = row["amount"] - expected
        tolerance = self._tolerance(rule, expected_freight, row, convert)
        within = abs(variance) <= tolerance + CENT
        return {
            "state": "reconciled" if within else "mismatch",
            "expected": expected,
            "variance": variance,
            "note": note,
        }

    # --- 3. recording ----------------------------------------------------------------------------
    @api.model
    def _write_decisions(self, rows, decisions):
        """Write each line's match (``rows``) and decision, in one statement."""
        ids = [row["id"] for row in rows]
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_carrier_invoice_line l
                   SET package_id = d.package_id, shipment_id = d.shipment_id,
                       audit_state = d.state, expected_amount = d.expected,
                       variance = d.variance, audit_note = d.note,
                       write_date = now() AT TIME ZONE 'UTC', write_uid = %(uid)s
                  FROM unnest(%(ids)s::int[], %(packages)s::int[], %(shipments)s::int[],
                              %(states)s::varchar[], %(expected)s::numeric[],
                              %(variances)s::numeric[], %(notes)s::text[])
                       AS d(id, package_id, shipment_id, state, expected, variance, note)
                 WHERE l.id = d.id
                """,
                uid=self.env.uid,
                ids=ids,
                packages=[row["package_id"] for row in rows],
                shipments=[row["shipment_id"] for row in rows],
                states=[decisions[i]["state"] for i in ids],
                expected=[round(decisions[i]["expected"], 2) for i in ids],
                variances=[round(decisions[i]["variance"], 2) for i in ids],
                notes=[decisions[i]["note"] for i in ids],
            )
        )
        self.invalidate_model()

    @api.model
    def _raise_mismatches(self, rows, decisions):
        """One ``freight_mismatch`` per invoice and shipment with a line outside tolerance, one
        ``freight_unmatched`` per invoice with lines matching no shipment; the lines link
        their exception."""
        by_shipment = defaultdict(list)
        unmatched = defaultdict(list)
        for row in rows:
            state = decisions[row["id"]]["state"]
            if state == "unmatched":
                unmatched[row["invoice_id"]].append(row)
            elif row["shipment_id"]:
                by_shipment[row["invoice_id"], row["shipment_id"]].append(row)
        mismatched = {
            key: group
            for key, group in by_shipment.items()
            if any(decisions[row["id"]]["state"] == "mismatch" for row in group)
        }
        events = self._evidence_events({shipment for _i, shipment in mismatched})
        # No "created" note in each exception's chatter: its description tells its story, and
        # the note was 46 % of raising one (200 exceptions: 2.5 s with it, 1.4 s without).
        Exception_ = (
            self.env["logistics.exception"]
            .sudo()
            .with_context(mail_create_nolog=True, logistics_notify_batch=True)
        )
        links = {}
        vals_list, keys = [], []
        for key, group in mismatched.items():
            vals_list.append(self._mismatch_vals(group, decisions, events.get(key[1], [])))
            keys.append(key)
        raised = Exception_._raise("freight_mismatch", vals_list) if vals_list else Exception_
        for key, exception in zip(keys, raised, strict=True):
            for row in mismatched[key]:
                links[row["id"]] = exception.id
        for group in unmatched.values():
            exception = Exception_._raise("freight_unmatched", [self._unmatched_vals(group)])
            for row in group:
                links[row["id"]] = exception.id
        self._notify_audit(self.env["logistics.exception"].browse(set(links.values())))
        if links:
            ids = list(links)
            self.env.cr.execute(
                SQL(
                    """
                    UPDATE logistics_carrier_invoice_line l SET exception_id = x.exception_id
                      FROM unnest(%s::int[], %s::int[]) AS x(id, exception_id)
                     WHERE l.id = x.id
                    """,
                    ids,
                    [links[i] for i in ids],
                )
            )
            self.invalidate_model(["exception_id"])

    @api.model
    def _notify_audit(self, exceptions):
        """Tell the Finance team once per audit, on its first exception, rather than one email
        per exception (a nightly batch may raise thousands: 4,000 notifications were a third
        of auditing 100,000 lines in ``setup/bench freight``, and no inbox wants them)."""
        first = exceptions.sorted("id")[:1]
        users = first.type_id.team_id.member_ids.filtered(
            lambda user: first.company_id in user.company_ids
        )
        if not users:
            return
        first.message_subscribe(partner_ids=users.partner_id.ids)
        first.message_post(
            body=self.env._(
                "Freight audit: %(count)s exception(s) to work (freight outside tolerance, "
                "lines without a shipment). They are on the exception board, team %(team)s, "
                "and in Finance → Invoice Lines to Work.",
                count=len(exceptions),
                team=first.type_id.team_id.name,
            ),
            partner_ids=users.partner_id.ids,
            subtype_xmlid="mail.mt_comment",
        )

    @api.model
    def _evidence_events(self, shipment_ids):
        """{shipment id: [(occurred_at, event type name, the partner's words)]}, newest
        first, at most ``EVIDENCE_EVENTS`` each: the tracking events a person checks a charge
        against."""
        if not shipment_ids:
            return {}
        self.env["logistics.event"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT e.shipment_id, e.occurred_at, t.name->>'en_US', e.payload->'message'
                  FROM unnest(%s::int[]) AS s(id)
                  CROSS JOIN LATERAL (
                        SELECT shipment_id, occurred_at, type_id, payload
                          FROM logistics_event
                         WHERE shipment_id = s.id
                         ORDER BY occurred_at DESC, id DESC LIMIT %s) e
                  JOIN logistics_event_type t ON t.id = e.type_id
                 ORDER BY e.shipment_id, e.occurred_at DESC
                """,
                sorted(shipment_ids),
                EVIDENCE_EVENTS,
            )
        )
        events = defaultdict(list)
        for shipment_id, occurred_at, name, message in self.env.cr.fetchall():
            events[shipment_id].append((occurred_at, name, plain_text(message)))
        return events

    @api.model
    def _mismatch_vals(self, group, decisions, events):
        first = group[0]
        currency = self.env["res.currency"].browse(first["currency_id"])
        billed = sum(row["amount"] for row in group)
        expected = sum(decisions[row["id"]]["expected"] for row in group)
        table = [self.env._("Charge | Package | Billed | Expected | Variance | State")]
        evidence = []
        for row in group:
            decision = decisions[row["id"]]
            table.append(
                " | ".join(
                    (
                        dict(self._fields["charge_code"].selection)[row["charge_code"]],
                        row["package_name"] or row["tracking_number"] or "-",
                        f"{row['amount']:.2f}",
                        f"{decision['expected']:.2f}",
                        f"{decision['variance']:+.2f}",
                        decision["state"],
                    )
                )
            )
            if decision["note"] != IN_PACKAGE_TOTAL:
                evidence.append(f"- {decision['note']}")
        packages = {row["package_name"]: row for row in group if row["package_name"]}
        for name, row in packages.items():
            evidence.append(
                self.env._(
                    "- Package %(package)s: tracking %(number)s, label %(carrier)s "
                    "%(service)s at %(rate)s, declared %(weight).2f kg, billed %(billed).2f kg.",
                    package=name,
                    number=row["tracking_number"] or "-",
                    carrier=row["carrier_name"] or "",
                    service=row["carrier_service"] or "",
                    rate=row["rate_amount"] if row["rate_amount"] is not None else "-",
                    weight=row["declared_kg"] or 0.0,
                    billed=max((r["billed_weight_kg"] or 0.0) for r in group),
                )
            )
        tracking = [
            f"- {occurred_at:%Y-%m-%d %H:%M} {name}{f': {description}' if description else ''}"
            for occurred_at, name, description in events
        ] or [self.env._("- (no tracking events)")]
        description = "\n".join(
            [
                self.env._(
                    "Invoice %(invoice)s bills %(shipment)s %(billed)s %(currency)s, expected "
                    "%(expected)s.",
                    invoice=first["invoice_name"],
                    shipment=first["shipment_name"],
                    billed=currency.round(billed),
                    currency=currency.name,
                    expected=currency.round(expected),
                ),
                "",
                *table,
                "",
                self.env._("Evidence:"),
                *evidence,
                "",
                self.env._("Tracking events (newest first):"),
                *tracking,
            ]
        )
        return {
            "name": self.env._(
                "%(invoice)s: %(shipment)s billed %(billed)s, expected %(expected)s %(currency)s",
                invoice=first["invoice_name"],
                shipment=first["shipment_name"],
                billed=currency.round(billed),
                expected=currency.round(expected),
                currency=currency.name,
            )[:200],
            "shipment_id": first["shipment_id"],
            "backend_id": first["carrier_backend_id"],
            "source_event_id": f"carrier-invoice:{first['invoice_id']}",
            "description": description,
            "company_id": first["company_id"],
        }

    @api.model
    def _unmatched_vals(self, group):
        first = group[0]
        lines = [
            f"- {row['tracking_number'] or row['shipment_ref'] or '-'}: {row['charge_code']} "
            f"{row['amount']:.2f}"
            for row in group[:200]
        ]
        if len(group) > 200:
            lines.append(f"… {len(group) - 200} more")
        return {
            "name": self.env._(
                "%(invoice)s: %(count)s line(s) match no shipment",
                invoice=first["invoice_name"],
                count=len(group),
            ),
            "backend_id": first["carrier_backend_id"],
            "source_event_id": f"carrier-invoice:{first['invoice_id']}",
            "description": self.env._(
                "These lines name a tracking number or shipment reference no shipment of the "
                "company has: a parcel we didn't ship with this carrier, or a typo on the "
                "carrier's side. Accept them, or dispute them with the carrier.\n\n"
            )
            + "\n".join(lines),
            "company_id": first["company_id"],
        }

    @api.model
    def _record_reconciled(self, rows, decisions):
        """A ``freight_reconciled`` event for each invoice and shipment whose lines are all
        reconciled; returns the shipments' ids."""
        by_shipment = defaultdict(list)
        for row in rows:
            if row["shipment_id"]:
                by_shipment[row["invoice_id"], row["shipment_id"]].append(row)
        now = fields.Datetime.now().isoformat() + "+00:00"
        events_by_carrier = defaultdict(list)
        reconciled = set()
        for (invoice_id, shipment_id), group in by_shipment.items():
            if any(decisions[row["id"]]["state"] != "reconciled" for row in group):
                continue
            first = group[0]
            reconciled.add(shipment_id)
            events_by_carrier[first["carrier_backend_id"]].append(
                {
                    "type": "freight_reconciled",
                    "event_id": f"freight-reconciled:{invoice_id}:{shipment_id}",
                    "shipment_ref": first["shipment_name"],
                    "occurred_at": now,
                    "payload": {
                        "invoice": first["invoice_name"],
                        "billed": round(sum(row["amount"] for row in group), 2),
                        "expected": round(
                            sum(decisions[row["id"]]["expected"] for row in group), 2
                        ),
                        "currency": self.env["res.currency"].browse(first["currency_id"]).name,
                    },
                }
            )
        Event = self.env["logistics.event"].sudo()
        for carrier_id, events in events_by_carrier.items():
            backend = self.env["logistics.backend"].sudo().browse(carrier_id)
            Event._ingest(backend, events, source_kind="finance")
        return reconciled

    @api.model
    def _record_actual_freight(self, shipment_ids):
        """The shipments' actual freight: what their carriers billed them (reconciled,
        accepted and credited lines, credits included), in each shipment's currency."""
        if not shipment_ids:
            return
        self.flush_model(["shipment_id", "audit_state", "amount", "currency_id", "invoice_date"])
        self.env.cr.execute(
            SQL(
                """
                SELECT l.shipment_id, l.currency_id, l.company_id, max(l.invoice_date),
                       sum(l.amount), s.currency_id
                  FROM logistics_carrier_invoice_line l
                  JOIN logistics_shipment s ON s.id = l.shipment_id
                 WHERE l.shipment_id = ANY(%s)
                   AND l.audit_state IN ('reconciled', 'accepted', 'credited')
                 GROUP BY l.shipment_id, l.currency_id, l.company_id, s.currency_id
                """,
                sorted(shipment_ids),
            )
        )
        convert = self._converter()
        actual = defaultdict(float)
        for shipment_id, currency_id, company_id, date, amount, to_id in self.env.cr.fetchall():
            actual[shipment_id] += convert(float(amount), currency_id, to_id, company_id, date)
        ids = list(actual)
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_shipment s SET freight_actual = a.amount
                  FROM unnest(%s::int[], %s::numeric[]) AS a(id, amount) WHERE s.id = a.id
                """,
                ids,
                [round(actual[i], 2) for i in ids],
            )
        )
        self.env["logistics.shipment"].invalidate_model(["freight_actual"])

    # --- 4. credit notes -------------------------------------------------------------------------
    @api.model
    def _apply_credit_notes(self, credit_notes):
        """Each line of a credit note credits the disputed line of the credited invoice with
        the same tracking number (or reference): the dispute is closed, the credit recorded.
        A credit line that credits no disputed line is left to a person (unmatched).

        :return: the number of disputed lines closed"""
        closed = 0
        for note in credit_notes:
            disputed = note.credit_of_id.line_ids.filtered(
                lambda line: line.audit_state == "disputed"
            )
            for line in note.line_ids.filtered(lambda line: line.audit_state == "to_audit"):
                target = disputed.filtered(
                    lambda d, line=line: (
                        (line.tracking_number and d.tracking_number == line.tracking_number)
                        or (line.shipment_ref and d.shipment_ref == line.shipment_ref)
                    )
                )[:1]
                if not target:
                    line.write(
                        {
                            "audit_state": "unmatched",
                            "audit_note": self.env._(
                                "Credits no disputed line of %(invoice)s.",
                                invoice=note.credit_of_id.name,
                            ),
                        }
                    )
                    continue
                credited = target.credited_amount - line.amount
                line.write(
                    {
                        "audit_state": "credited",
                        "credited_line_id": target.id,
                        "shipment_id": target.shipment_id.id,
                        "package_id": target.package_id.id,
                        "audit_note": self.env._("Credits %(line)s.", line=target.display_name),
                    }
                )
                target.write(
                    {
                        "audit_state": "credited",
                        "credited_amount": credited,
                        "audit_note": (target.audit_note or "")
                        + "\n"
                        + self.env._(
                            "Credit note %(note)s credited %(credited)s of the %(expected)s asked.",
                            note=note.name,
                            credited=round(credited, 2),
                            expected=round(target.dispute_credit, 2),
                        ),
                    }
                )
                disputed -= target
                closed += 1
            note.credit_of_id.message_post(
                body=self.env._("Credit note %(note)s received.", note=note.name)
            )
        self._record_actual_freight(
            set(credit_notes.line_ids.filtered("shipment_id").shipment_id.ids)
        )
        return closed
