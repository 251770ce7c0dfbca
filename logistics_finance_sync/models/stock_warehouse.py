from odoo import fields, models


class StockWarehouse(models.Model):
    _inherit = "stock.warehouse"

    logistics_analytic_account_id = fields.Many2one(
        "account.analytic.account",
        string="Freight Analytic Account",
        help="The analytic account of the freight of shipments from this warehouse (vendor "
        "bills and accruals of carriers whose analytic distribution is by warehouse).",
    )
