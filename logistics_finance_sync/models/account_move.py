from odoo import fields, models


class AccountMove(models.Model):
    _inherit = "account.move"

    logistics_accrual_carrier_id = fields.Many2one(
        "logistics.backend",
        string="Freight Accrual Of",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="The carrier whose shipped, not yet invoiced freight this entry accrues.",
    )
