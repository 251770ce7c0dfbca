from odoo import fields, models


class CrmTeam(models.Model):
    _inherit = "crm.team"

    logistics_analytic_account_id = fields.Many2one(
        "account.analytic.account",
        string="Freight Analytic Account",
        help="The analytic account of the freight of this sales channel's shipments (vendor "
        "bills and accruals of carriers whose analytic distribution is by sales channel).",
    )
