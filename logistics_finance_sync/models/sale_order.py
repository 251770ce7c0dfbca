from odoo import models

# Odoo's cash on delivery payment method (addon ``delivery``): a payment provider of code
# "custom" and this custom mode; the order's transaction stays pending until the cash is paid.
COD_PROVIDER_MODE = "cash_on_delivery"
# Transactions that no longer stand for a payment of the order.
VOID_TRANSACTION_STATES = ("cancel", "error")


class SaleOrder(models.Model):
    _inherit = "sale.order"

    def _logistics_paid_by_cod(self):
        """Whether the order is paid with Odoo's cash on delivery payment method: one of its
        transactions, not cancelled nor failed, is of a provider whose custom mode is
        ``cash_on_delivery`` (addon ``delivery``)."""
        self.ensure_one()
        return any(
            transaction.provider_id.custom_mode == COD_PROVIDER_MODE
            and transaction.state not in VOID_TRANSACTION_STATES
            for transaction in self.sudo().transaction_ids
        )
