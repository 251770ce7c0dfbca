from odoo import fields, models, tools
from odoo.tools import SQL


class LogisticsFreightReconciliationReport(models.Model):
    """Freight reconciliation by carrier and month (of the invoice date), in each invoice
    currency: what the carriers billed, what the labels' rates expected, the variance, what is
    disputed and what their credit notes recovered. A read-only view over the invoice lines."""

    _name = "logistics.freight.reconciliation.report"
    _description = "Freight Reconciliation Report"
    _auto = False
    _order = "month desc, carrier_backend_id"

    month = fields.Date(readonly=True)
    period = fields.Char(readonly=True, help="The month, as YYYY-MM.")
    carrier_backend_id = fields.Many2one("logistics.backend", string="Carrier", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    line_count = fields.Integer(string="Lines", readonly=True)
    mismatch_count = fields.Integer(string="Lines to Work", readonly=True)
    billed = fields.Monetary(readonly=True)
    expected = fields.Monetary(readonly=True)
    variance = fields.Monetary(readonly=True)
    disputed = fields.Monetary(readonly=True, help="Credits asked of the carrier, still open.")
    recovered = fields.Monetary(readonly=True, help="What the carrier's credit notes gave back.")

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
                CREATE VIEW %s AS (
                    SELECT min(l.id) AS id,
                           date_trunc('month', l.invoice_date)::date AS month,
                           to_char(date_trunc('month', l.invoice_date), 'YYYY-MM') AS period,
                           l.carrier_backend_id, l.company_id, l.currency_id,
                           count(*) FILTER (WHERE i.credit_of_id IS NULL) AS line_count,
                           count(*) FILTER (WHERE l.audit_state IN ('mismatch', 'unmatched'))
                               AS mismatch_count,
                           COALESCE(sum(l.amount) FILTER (WHERE i.credit_of_id IS NULL), 0)
                               AS billed,
                           COALESCE(sum(l.expected_amount)
                                    FILTER (WHERE i.credit_of_id IS NULL), 0) AS expected,
                           COALESCE(sum(l.variance) FILTER (WHERE i.credit_of_id IS NULL), 0)
                               AS variance,
                           COALESCE(sum(l.dispute_credit)
                                    FILTER (WHERE l.audit_state = 'disputed'), 0) AS disputed,
                           COALESCE(sum(l.credited_amount), 0) AS recovered
                      FROM logistics_carrier_invoice_line l
                      JOIN logistics_carrier_invoice i ON i.id = l.invoice_id
                     GROUP BY 2, 3, l.carrier_backend_id, l.company_id, l.currency_id
                )
                """,
                SQL.identifier(self._table),
            )
        )
