import re

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.logistics_integration_base.models.logistics_access import check_manager

from ..adapters import freight_billing

EXPORT_OPERATION = "finance_export"
PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
# Outbound states of an export that went, or is going: another export of the period would be
# sent twice (a dead or discarded one never reached the finance system).
SENT_STATES = ("received", "queued", "processing", "retrying", "done")


class LogisticsBackend(models.Model):
    """The finance export: each period's reconciled freight (and cash on delivery), per
    company and currency, to the finance system's API (``POST /v1/exports``), as outbound
    messages of operation ``finance_export``: retried, dead-lettered and replayed like every
    partner call, with the message's Idempotency-Key. A period goes once, unless a person sends
    it again (a correction)."""

    _inherit = "logistics.backend"

    adapter = fields.Selection(
        selection_add=[("finance_export", "Finance system (export)")],
        ondelete={"finance_export": "set default"},
    )

    @api.model
    def _cron_export_finance(self):
        """Monthly: last month's freight and COD to every finance export backend not paused.

        :return: the messages queued"""
        period = (fields.Date.today() - relativedelta(months=1)).strftime("%Y-%m")
        messages = self.env["logistics.message"]
        for backend in self.search([("adapter", "=", "finance_export"), ("paused", "=", False)]):
            for kind in freight_billing.EXPORT_KINDS:
                messages |= backend._export_finance(period, kind)
        return messages

    def action_export_finance(self, period, kinds=freight_billing.EXPORT_KINDS, again=False):
        """Export ``period`` now (RPC and the export wizard).

        :param str period: the month, "2026-11"
        :param kinds: among "freight" and "cod"
        :param bool again: send a period that went before (a correction)
        :return: the ids of the outbound messages queued (list of int)
        :raises AccessError: not a Logistics Manager
        :raises UserError: no finance export backend, a malformed period, or a period that
            went before without ``again``
        """
        check_manager(self.env, self.env._("export to the finance system"))
        if not isinstance(period, str) or not PERIOD.fullmatch(period):
            raise UserError(self.env._("A period is a month, YYYY-MM, not %(p)r.", p=period))
        messages = self.env["logistics.message"]
        for backend in self:
            for kind in kinds:
                messages |= backend._export_finance(period, kind, again=again)
        return messages.ids

    def _export_finance(self, period, kind, again=False):
        """Queue the export of ``kind`` for ``period``: one message per currency, nothing
        when there is nothing to export.

        :raises UserError: not a finance export backend, or the period went before and
            ``again`` is false
        """
        self.ensure_one()
        if self.adapter != "finance_export":
            raise UserError(
                self.env._("%(backend)s is no finance export backend.", backend=self.name)
            )
        start = fields.Date.to_date(f"{period}-01")
        lines_by_currency = getattr(self, f"_finance_export_lines_{kind}")(
            start, start + relativedelta(months=1)
        )
        Message = self.env["logistics.message"].sudo()
        messages = Message
        for currency, lines in sorted(lines_by_currency.items()):
            sent = self._sent_exports(period, kind, currency)
            if sent and not again:
                raise UserError(
                    self.env._(
                        "The %(kind)s of %(period)s in %(currency)s went before (message "
                        "%(message)s): send it again only as a correction.",
                        kind=kind,
                        period=period,
                        currency=currency,
                        message=sent[0].name,
                    )
                )
            payload = freight_billing.export_request(
                period, kind, self.company_id.name, currency, lines
            )
            messages |= Message._create_outbound(
                self, EXPORT_OPERATION, payload, endpoint=freight_billing.EXPORTS_PATH
            )
        return messages

    def _sent_exports(self, period, kind, currency):
        """The outbound export messages of this backend that sent (or are sending) ``kind``
        of ``period`` in ``currency``."""
        self.env["logistics.message"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT id FROM logistics_message
                 WHERE backend_id = %s AND operation = %s AND direction = 'outbound'
                   AND state IN %s AND payload->>'period' = %s AND payload->>'kind' = %s
                   AND payload->>'currency' = %s
                 ORDER BY id
                """,
                self.id,
                EXPORT_OPERATION,
                SENT_STATES,
                period,
                kind,
                currency,
            )
        )
        return self.env["logistics.message"].browse([row[0] for row in self.env.cr.fetchall()])

    def _finance_export_lines_freight(self, start, end):
        """{currency code: [line]}: the freight the carriers billed, reconciled (or accepted,
        or credited), of the invoices dated in [start, end), one line per carrier and
        shipment, in one query."""
        self.env["logistics.carrier.invoice.line"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT cur.name, b.name, s.name, min(l.tracking_number), sum(l.amount),
                       min(a.code_store->>%(company_key)s)
                  FROM logistics_carrier_invoice_line l
                  JOIN logistics_shipment s ON s.id = l.shipment_id
                  JOIN logistics_backend b ON b.id = l.carrier_backend_id
                  JOIN res_currency cur ON cur.id = l.currency_id
                  LEFT JOIN account_account a ON a.id = b.freight_expense_account_id
                 WHERE l.company_id = %(company)s
                   AND l.invoice_date >= %(start)s AND l.invoice_date < %(end)s
                   AND l.audit_state IN ('reconciled', 'accepted', 'credited')
                 GROUP BY cur.name, b.name, s.name
                HAVING round(sum(l.amount), 2) != 0
                 ORDER BY b.name, s.name
                """,
                company=self.company_id.id,
                company_key=str(self.company_id.root_id.id),
                start=start,
                end=end,
            )
        )
        lines = {}
        for currency, carrier, ref, tracking, amount, account in self.env.cr.fetchall():
            lines.setdefault(currency, []).append(
                {
                    "carrier": carrier,
                    "shipment_ref": ref,
                    "tracking_number": tracking,
                    "amount": round(float(amount), 2),
                    "account": account,
                }
            )
        return lines

    def _finance_export_lines_cod(self, start, end):
        """{currency code: [line]}: the cash on delivery of the remittances dated in
        [start, end) whose lines are reconciled, one line per carrier and shipment (amount: what
        was remitted; ``collected`` and ``deduction`` beside it), in one query."""
        self.env["logistics.cod.remittance.line"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT cur.name, b.name, s.name, min(l.tracking_number), sum(l.remitted),
                       sum(l.collected), sum(l.deduction)
                  FROM logistics_cod_remittance_line l
                  JOIN logistics_shipment s ON s.id = l.shipment_id
                  JOIN logistics_backend b ON b.id = l.carrier_backend_id
                  JOIN res_currency cur ON cur.id = l.currency_id
                 WHERE l.company_id = %(company)s AND l.state = 'reconciled'
                   AND l.remittance_date >= %(start)s AND l.remittance_date < %(end)s
                 GROUP BY cur.name, b.name, s.name
                 ORDER BY b.name, s.name
                """,
                company=self.company_id.id,
                start=start,
                end=end,
            )
        )
        lines = {}
        for row in self.env.cr.fetchall():
            currency, carrier, ref, tracking, remitted, collected, deduction = row
            lines.setdefault(currency, []).append(
                {
                    "carrier": carrier,
                    "shipment_ref": ref,
                    "tracking_number": tracking,
                    "amount": round(float(remitted), 2),
                    "collected": f"{collected:.2f}",
                    "deduction": f"{deduction:.2f}",
                    "account": None,
                }
            )
        return lines
