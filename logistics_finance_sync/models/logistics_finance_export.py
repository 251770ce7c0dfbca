from odoo import fields, models

from ..adapters import freight_billing

# Outbound states of an export that went, or is going: another export of the period would be
# sent twice (a dead or discarded one never reached the finance system: its lines go again).
SENT_STATES = ("received", "queued", "processing", "retrying", "done")


class LogisticsFinanceExport(models.Model):
    """One export queued for the finance system (``logistics_backend_finance_export.py``):
    the period, kind and currency it sends, its outbound message, and the carrier invoice
    lines or COD remittance lines it carries.

    The record, not the message's payload (which Odoo's payload retention empties after its
    days), is what says a period went and which lines did: a line goes with the first export
    after it is settled, whatever its date, and once, as long as its export's message is
    sent (``SENT_STATES``)."""

    _name = "logistics.finance.export"
    _description = "Finance Export"
    _order = "id desc"

    backend_id = fields.Many2one(
        "logistics.backend", required=True, readonly=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="backend_id.company_id", store=True, index=True)
    period = fields.Char(required=True, readonly=True, help="The month sent, YYYY-MM.")
    kind = fields.Selection(
        [(kind, kind.capitalize()) for kind in freight_billing.EXPORT_KINDS],
        required=True,
        readonly=True,
    )
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    message_id = fields.Many2one(
        "logistics.message", required=True, readonly=True, index=True, ondelete="cascade"
    )
    message_state = fields.Selection(related="message_id.state", string="Message State")
    carrier_invoice_line_ids = fields.Many2many(
        "logistics.carrier.invoice.line",
        "logistics_finance_export_invoice_line_rel",
        "export_id",
        "line_id",
        readonly=True,
    )
    cod_line_ids = fields.Many2many(
        "logistics.cod.remittance.line",
        "logistics_finance_export_cod_line_rel",
        "export_id",
        "line_id",
        readonly=True,
    )

    _period_kind_idx = models.Index("(backend_id, period, kind)")
