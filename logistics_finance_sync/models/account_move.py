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

    def _post(self, soft=True):
        """A customer invoice posted for an order whose COD remittance waits for one: the
        waiting payments are registered by a job (``_post_waiting_payments``), after this
        transaction, not inside the invoice's posting."""
        posted = super()._post(soft=soft)
        invoices = posted.filtered(lambda move: move.move_type == "out_invoice")
        orders = invoices.line_ids.sale_line_ids.order_id
        if orders:
            Line = self.env["logistics.cod.remittance.line"].sudo()
            waiting = Line.search_count(
                [("payment_state", "=", "waiting"), ("shipment_id.sale_id", "in", orders.ids)],
                limit=1,
            )
            if waiting:
                Line._enqueue_waiting_payments()
        return posted
