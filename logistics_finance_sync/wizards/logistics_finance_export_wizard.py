from dateutil.relativedelta import relativedelta

from odoo import fields, models


def _last_month():
    return (fields.Date.today() - relativedelta(months=1)).strftime("%Y-%m")


class LogisticsFinanceExportWizard(models.TransientModel):
    """Send a period's reconciled freight (and COD) to the finance system now."""

    _name = "logistics.finance.export.wizard"
    _description = "Export to the Finance System"

    backend_id = fields.Many2one(
        "logistics.backend",
        string="Finance System",
        required=True,
        domain=[("adapter", "=", "finance_export")],
        default=lambda self: self.env["logistics.backend"].search(
            [("adapter", "=", "finance_export")], limit=1
        ),
    )
    period = fields.Char(
        required=True, default=lambda self: _last_month(), help="The month, as YYYY-MM."
    )
    freight = fields.Boolean(default=True, help="The freight the carriers billed, reconciled.")
    cod = fields.Boolean(string="Cash on Delivery", default=True)
    again = fields.Boolean(
        string="Send Again",
        help="The period went before: send it again, as a correction.",
    )

    def action_export(self):
        self.ensure_one()
        kinds = [kind for kind in ("freight", "cod") if self[kind]]
        ids = self.backend_id.action_export_finance(self.period, kinds, again=self.again)
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "logistics_integration_base.logistics_message_action"
        )
        action["domain"] = [("id", "in", ids)]
        action["context"] = {}
        return action
