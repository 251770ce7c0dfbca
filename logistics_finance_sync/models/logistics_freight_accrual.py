import logging
from collections import defaultdict
from datetime import timedelta

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# The first status of a shipment that has left: shipped, or any later step of the main
# progression (a carrier's first scan may be in transit).
SHIPPED_RANK = 70


class LogisticsBackend(models.Model):
    """Freight accruals (carriers with the accrual model).

    Each day, one entry per carrier accrues the expected freight (the label rates, in the
    company's currency) of the shipments that shipped on or before that day and that no
    vendor bill booked yet: debit the freight expense (one line per analytic account),
    credit the accrued freight account. Odoo reverses it the next day (``_reverse_moves`` with
    that date; the reversal waits as a draft with *auto post at date*, and Odoo's own cron
    *Post draft entries with auto_post enabled* posts it). The books therefore hold, at any
    day's end and at the month's end, the freight of what shipped and is not invoiced,
    and the vendor bills book the actual cost."""

    _inherit = "logistics.backend"

    @api.model
    def _cron_accrue_freight(self, day=None):
        """Daily: accrue yesterday's (or ``day``'s) freight of every carrier with the accrual
        model. A carrier whose settings are missing raises ``freight_posting_failed``.

        :param day: a date (default: yesterday in UTC)
        :return: the accrual entries created (``account.move``)"""
        day = day or fields.Date.today() - timedelta(days=1)
        moves = self.env["account.move"]
        for carrier in self.search(
            [("kind", "=", "carrier"), ("freight_accounting", "=", "accrual")]
        ):
            try:
                with self.env.cr.savepoint():
                    moves |= carrier._accrue_freight(day)
            except UserError as error:
                carrier._raise_accrual_failed(day, str(error))
        return moves

    def _raise_accrual_failed(self, day, reason):
        self.env["logistics.exception"].sudo()._raise(
            "freight_posting_failed",
            [
                {
                    "name": self.env._(
                        "%(carrier)s: freight of %(day)s not accrued", carrier=self.name, day=day
                    ),
                    "backend_id": self.id,
                    "cause": f"accrual:{self.id}:{reason}"[:200],
                    "occurrence": str(day),
                    "description": reason,
                    "company_id": self.company_id.id,
                }
            ],
        )

    def _accrued_shipments(self, day):
        """[(shipment id, analytic account id or None, freight in the company's currency)] of
        the shipments this carrier took on or before ``day`` (within ``freight_accrual_days``)
        whose freight no vendor bill dated on or before ``day`` booked, in one query. An
        invoice that waits for a person (a mismatch), or whose lines of the shipment are held
        back (disputed), books nothing: the shipment stays accrued until a bill books it."""
        self.ensure_one()
        analytic = {
            "warehouse": SQL("w.logistics_analytic_account_id"),
            "channel": SQL("t.logistics_analytic_account_id"),
        }.get(self.freight_analytic_by, SQL("NULL::int"))
        for model in (
            "logistics.shipment",
            "logistics.event",
            "logistics.carrier.invoice.line",
            "account.move",
        ):
            self.env[model].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT s.id, %(analytic)s, s.freight_estimate
                  FROM logistics_shipment s
                  LEFT JOIN stock_warehouse w ON w.id = s.warehouse_id
                  LEFT JOIN crm_team t ON t.id = s.channel_id
                 WHERE s.carrier_backend_id = %(carrier)s AND s.company_id = %(company)s
                   AND s.freight_estimate > 0
                   AND COALESCE(s.status_code, '') != 'cancelled'
                   AND EXISTS (
                       SELECT 1 FROM logistics_event e
                         JOIN logistics_event_type et ON et.id = e.type_id
                        WHERE e.shipment_id = s.id AND et.category = 'execution'
                          AND et.rank >= %(shipped)s
                          AND e.occurred_at < %(end)s AND e.occurred_at >= %(start)s)
                   AND NOT EXISTS (
                       SELECT 1 FROM logistics_carrier_invoice_line l
                         JOIN account_move m ON m.id = l.bill_id
                        WHERE l.shipment_id = s.id AND m.date <= %(day)s AND m.state != 'cancel')
                """,
                analytic=analytic,
                carrier=self.id,
                company=self.company_id.id,
                shipped=SHIPPED_RANK,
                day=day,
                end=day + timedelta(days=1),
                start=day - timedelta(days=self.freight_accrual_days),
            )
        )
        return self.env.cr.fetchall()

    def _accrue_freight(self, day):
        """The accrual entry of ``day`` for this carrier (and its reversal the next day), unless
        it exists or nothing is to accrue.

        :return: the accrual entry, or an empty recordset
        :raises UserError: the carrier's accrual journal or an account is missing"""
        self.ensure_one()
        Move = self.env["account.move"].sudo()
        if Move.search_count(
            [
                ("logistics_accrual_carrier_id", "=", self.id),
                ("date", "=", day),
                ("reversed_entry_id", "=", False),
                ("move_type", "=", "entry"),
            ],
            limit=1,
        ):
            return Move
        rows = self._accrued_shipments(day)
        if not rows:
            return Move
        accounts = self._require_freight_accounts(["accrual_journal", "expense", "accrual"])
        by_analytic = defaultdict(float)
        for _shipment_id, analytic_id, amount in rows:
            by_analytic[analytic_id] += float(amount)
        currency = self.company_id.currency_id
        by_analytic = {key: currency.round(amount) for key, amount in by_analytic.items()}
        total = currency.round(sum(by_analytic.values()))
        Analytic = self.env["account.analytic.account"]
        label = self.env._(
            "Freight accrual %(carrier)s %(day)s (%(count)s shipments)",
            carrier=self.name,
            day=day,
            count=len(rows),
        )
        move = Move.with_company(self.company_id).create(
            {
                "move_type": "entry",
                "journal_id": accounts["accrual_journal"].id,
                "date": day,
                "ref": label,
                "logistics_accrual_carrier_id": self.id,
                "line_ids": [
                    *[
                        Command.create(
                            {
                                "name": label,
                                "account_id": accounts["expense"].id,
                                "debit": amount,
                                "analytic_distribution": self._analytic_distribution(
                                    Analytic.browse(analytic_id)
                                ),
                            }
                        )
                        for analytic_id, amount in sorted(
                            by_analytic.items(), key=lambda item: item[0] or 0
                        )
                    ],
                    Command.create(
                        {"name": label, "account_id": accounts["accrual"].id, "credit": total}
                    ),
                ],
            }
        )
        move._post()
        reversal = move._reverse_moves(
            default_values_list=[
                {
                    "date": day + timedelta(days=1),
                    "ref": self.env._("Reversal of: %(label)s", label=label),
                    "logistics_accrual_carrier_id": self.id,
                }
            ]
        )
        # Odoo's cron posts it on its date (auto post at date): a reversal dated in a period
        # still open for the accrual is never posted ahead of time.
        reversal.auto_post = "at_date"
        _logger.info("%s: %s", label, total)
        return move
