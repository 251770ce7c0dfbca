import logging
import re

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.logistics_integration_base.models.logistics_access import check_manager

from ..adapters import freight_billing
from .logistics_finance_export import SENT_STATES

_logger = logging.getLogger(__name__)

EXPORT_OPERATION = "finance_export"
PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


class LogisticsBackend(models.Model):
    """The finance export: each period's reconciled freight (and cash on delivery), per
    company and currency, to the finance system's API (``POST /v1/exports``), as outbound
    messages of operation ``finance_export``: retried, dead-lettered and replayed like every
    partner call, with the message's Idempotency-Key.

    Each export is recorded (``logistics.finance.export``: period, kind, currency, message
    and the lines it carries). A line goes once, with the first export of its period or of a
    later one after it is settled (a dispute credited in December goes with December); a
    period goes once, unless a person sends it again (a correction)."""

    _inherit = "logistics.backend"

    adapter = fields.Selection(
        selection_add=[("finance_export", "Finance system (export)")],
        ondelete={"finance_export": "set default"},
    )

    @api.model
    def _cron_export_finance(self):
        """Monthly: last month's freight and COD to every finance export backend not paused.
        A kind of the period that went before (a Manager sent it already) is left out; an
        export that fails is logged and the others go on.

        :return: the messages queued"""
        period = (fields.Date.today() - relativedelta(months=1)).strftime("%Y-%m")
        messages = self.env["logistics.message"]
        for backend in self.search([("adapter", "=", "finance_export"), ("paused", "=", False)]):
            for kind in freight_billing.EXPORT_KINDS:
                if backend._sent_exports(period, kind):
                    continue
                try:
                    with self.env.cr.savepoint():
                        messages |= backend._export_finance(period, kind)
                except (UserError, ValueError):
                    _logger.exception(
                        "The %s of %s could not be exported to %s", kind, period, backend.name
                    )
        return messages

    def action_export_finance(self, period, kinds=freight_billing.EXPORT_KINDS, again=False):
        """Export ``period`` now (RPC and the export wizard).

        :param str period: the month, "2026-11"
        :param kinds: among "freight" and "cod"
        :param bool again: send a period that went before (a correction): what its exports
            carried goes again, with what was settled since
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
        """Queue the export of ``kind`` for ``period``: one message per currency (each
        recorded as a ``logistics.finance.export`` with its lines), nothing when there is
        nothing to export. The lines are the settled ones dated before the period's end that
        no export of this backend sent; sent ``again``, those the period's exports sent too.

        :raises UserError: not a finance export backend, or the period went before and
            ``again`` is false
        """
        self.ensure_one()
        if self.adapter != "finance_export":
            raise UserError(
                self.env._("%(backend)s is no finance export backend.", backend=self.name)
            )
        sent = self._sent_exports(period, kind)
        if sent and not again:
            raise UserError(
                self.env._(
                    "The %(kind)s of %(period)s went before (message %(message)s): send it "
                    "again only as a correction.",
                    kind=kind,
                    period=period,
                    message=sent[-1].message_id.name,
                )
            )
        lines_field = "carrier_invoice_line_ids" if kind == "freight" else "cod_line_ids"
        start = fields.Date.to_date(f"{period}-01")
        lines_by_currency = getattr(self, f"_finance_export_lines_{kind}")(
            start + relativedelta(months=1), sent[lines_field].ids
        )
        Message = self.env["logistics.message"].sudo()
        Export = self.env["logistics.finance.export"].sudo()
        Currency = self.env["res.currency"].with_context(active_test=False)
        messages = Message
        for currency, (lines, line_ids) in sorted(lines_by_currency.items()):
            payload = freight_billing.export_request(
                period, kind, self.company_id.name, currency, lines
            )
            message = Message._create_outbound(
                self, EXPORT_OPERATION, payload, endpoint=freight_billing.EXPORTS_PATH
            )
            Export.create(
                {
                    "backend_id": self.id,
                    "period": period,
                    "kind": kind,
                    "currency_id": Currency.search([("name", "=", currency)], limit=1).id,
                    "message_id": message.id,
                    lines_field: [fields.Command.set(line_ids)],
                }
            )
            messages |= message
        return messages

    def _sent_exports(self, period, kind):
        """The exports (``logistics.finance.export``, oldest first) of this backend that sent
        (or are sending) ``kind`` of ``period``, in any currency."""
        return (
            self.env["logistics.finance.export"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", self.id),
                    ("period", "=", period),
                    ("kind", "=", kind),
                    ("message_id.state", "in", SENT_STATES),
                ],
                order="id",
            )
        )

    def _finance_exported(self, relation):
        """SQL: line ``l`` went to this backend's finance system: an export that carries it
        (through the relation table ``relation``) went, or is going."""
        return SQL(
            """
            EXISTS (SELECT 1 FROM %(relation)s r
                      JOIN logistics_finance_export e ON e.id = r.export_id
                      JOIN logistics_message m ON m.id = e.message_id
                     WHERE r.line_id = l.id AND e.backend_id = %(backend)s
                       AND m.state IN %(sent)s)
            """,
            relation=SQL.identifier(relation),
            backend=self.id,
            sent=SENT_STATES,
        )

    def _finance_export_lines_freight(self, end, again_ids=()):
        """{currency code: ([line], [invoice line id])}: the freight the carriers billed,
        reconciled (or accepted, or credited), of the invoices dated before ``end`` that no
        export of this backend sent (and the invoice lines ``again_ids``: a period sent
        again), one line per carrier and shipment, in one query."""
        self.env["logistics.carrier.invoice.line"].flush_model()
        self.env["logistics.finance.export"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT cur.name, b.name, s.name, min(l.tracking_number), sum(l.amount),
                       min(a.code_store->>%(company_key)s), array_agg(l.id)
                  FROM logistics_carrier_invoice_line l
                  JOIN logistics_shipment s ON s.id = l.shipment_id
                  JOIN logistics_backend b ON b.id = l.carrier_backend_id
                  JOIN res_currency cur ON cur.id = l.currency_id
                  LEFT JOIN account_account a ON a.id = b.freight_expense_account_id
                 WHERE l.company_id = %(company)s AND l.invoice_date < %(end)s
                   AND l.audit_state IN ('reconciled', 'accepted', 'credited')
                   AND (l.id = ANY(%(again)s) OR NOT %(exported)s)
                 GROUP BY cur.name, b.name, s.name
                HAVING round(sum(l.amount), 2) != 0
                 ORDER BY b.name, s.name
                """,
                company=self.company_id.id,
                company_key=str(self.company_id.root_id.id),
                end=end,
                again=list(again_ids),
                exported=self._finance_exported("logistics_finance_export_invoice_line_rel"),
            )
        )
        lines = {}
        for currency, carrier, ref, tracking, amount, account, ids in self.env.cr.fetchall():
            exported, line_ids = lines.setdefault(currency, ([], []))
            exported.append(
                {
                    "carrier": carrier,
                    "shipment_ref": ref,
                    "tracking_number": tracking,
                    "amount": round(float(amount), 2),
                    "account": account,
                }
            )
            line_ids.extend(ids)
        return lines

    def _finance_export_lines_cod(self, end, again_ids=()):
        """{currency code: ([line], [remittance line id])}: the cash on delivery of the
        remittances dated before ``end`` whose lines are reconciled or short and that no
        export of this backend sent (and the remittance lines ``again_ids``: a period sent
        again), one line per carrier and shipment (amount: what was remitted; ``collected``,
        ``deduction`` and ``short``, what is missing, beside it), in one query. A line
        remitted before (a shipment paid twice) is a person's, not exported."""
        self.env["logistics.cod.remittance.line"].flush_model()
        self.env["logistics.finance.export"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT cur.name, b.name, s.name, min(l.tracking_number), sum(l.remitted),
                       sum(l.collected), sum(l.deduction), sum(l.short_amount), array_agg(l.id)
                  FROM logistics_cod_remittance_line l
                  JOIN logistics_shipment s ON s.id = l.shipment_id
                  JOIN logistics_backend b ON b.id = l.carrier_backend_id
                  JOIN res_currency cur ON cur.id = l.currency_id
                 WHERE l.company_id = %(company)s AND l.state IN ('reconciled', 'short')
                   AND l.remittance_date < %(end)s
                   AND (l.id = ANY(%(again)s) OR NOT %(exported)s)
                 GROUP BY cur.name, b.name, s.name
                 ORDER BY b.name, s.name
                """,
                company=self.company_id.id,
                end=end,
                again=list(again_ids),
                exported=self._finance_exported("logistics_finance_export_cod_line_rel"),
            )
        )
        lines = {}
        for row in self.env.cr.fetchall():
            currency, carrier, ref, tracking, remitted, collected, deduction, short, ids = row
            exported, line_ids = lines.setdefault(currency, ([], []))
            exported.append(
                {
                    "carrier": carrier,
                    "shipment_ref": ref,
                    "tracking_number": tracking,
                    "amount": round(float(remitted), 2),
                    "collected": f"{collected:.2f}",
                    "deduction": f"{deduction:.2f}",
                    "short": f"{short or 0:.2f}",
                    "account": None,
                }
            )
            line_ids.extend(ids)
        return lines
