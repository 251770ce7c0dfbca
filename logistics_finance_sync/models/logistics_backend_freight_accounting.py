from odoo import api, fields, models
from odoo.exceptions import UserError

FREIGHT_ACCOUNTING = [
    ("invoice", "On the carrier's invoice"),
    ("accrual", "Accrued at shipping, then the carrier's invoice"),
]
ANALYTIC_BY = [("none", "None"), ("warehouse", "Warehouse"), ("channel", "Sales Channel")]


class LogisticsBackend(models.Model):
    """How a carrier's freight reaches accounting (Odoo's ``account``): a vendor bill per
    carrier invoice, and, with the accrual model, a daily accrual of what shipped and is not
    invoiced yet. Accounts and journals default to the company's own (its expense account,
    its expense accrual account, its first purchase and miscellaneous journals)."""

    _inherit = "logistics.backend"

    freight_accounting = fields.Selection(
        FREIGHT_ACCOUNTING,
        default="invoice",
        required=True,
        help="On the carrier's invoice: freight is booked when the invoice is audited (a vendor "
        "bill). Accrued at shipping: each day, the freight expected of what shipped and is "
        "not invoiced yet is accrued in one entry, reversed the next day by Odoo; the vendor "
        "bill books the actual cost. The month's cost is then complete before the invoices "
        "arrive.",
    )
    freight_vendor_id = fields.Many2one(
        "res.partner", string="Vendor", help="The carrier as a vendor: the bills' partner."
    )
    freight_bill_state = fields.Selection(
        [("draft", "Draft"), ("posted", "Posted")],
        string="Vendor Bills",
        default="draft",
        required=True,
        help="Draft: a person checks and posts each bill. Posted: audited bills are posted.",
    )
    freight_purchase_journal_id = fields.Many2one(
        "account.journal",
        string="Bill Journal",
        domain=[("type", "=", "purchase")],
        help="Empty: the company's first purchase journal.",
    )
    freight_expense_account_id = fields.Many2one(
        "account.account",
        help="Empty: the company's default expense account.",
    )
    freight_analytic_by = fields.Selection(
        ANALYTIC_BY,
        string="Analytic Distribution By",
        default="warehouse",
        required=True,
        help="The analytic account of each freight line: its shipment's warehouse's, or its "
        "sales channel's (set on the warehouse or the sales team).",
    )
    freight_accrual_journal_id = fields.Many2one(
        "account.journal",
        string="Accrual Journal",
        domain=[("type", "=", "general")],
        help="Empty: the company's journal for automatic entries, else its first "
        "miscellaneous journal.",
    )
    freight_accrual_account_id = fields.Many2one(
        "account.account",
        string="Accrued Freight Account",
        help="Empty: the company's expense accrual account (Accounting settings).",
    )
    freight_accrual_days = fields.Integer(
        string="Accrue For (days)",
        default=60,
        help="A shipment not invoiced this many days after it shipped is no longer accrued: "
        "its carrier invoice is overdue, a person looks at it.",
    )

    def _freight_accounts(self):
        """{"journal", "expense", "accrual_journal", "accrual"}: the carrier's settings, else
        the company's defaults; a missing one is None.

        :rtype: dict of recordsets"""
        self.ensure_one()
        company = self.company_id
        Journal = self.env["account.journal"].sudo()
        return {
            "journal": self.freight_purchase_journal_id
            or Journal.search(
                [("type", "=", "purchase"), ("company_id", "=", company.id)], limit=1
            ),
            "expense": self.freight_expense_account_id or company.expense_account_id,
            "accrual_journal": self.freight_accrual_journal_id
            or company.automatic_entry_default_journal_id
            or Journal.search([("type", "=", "general"), ("company_id", "=", company.id)], limit=1),
            "accrual": self.freight_accrual_account_id or company.expense_accrual_account_id,
        }

    def _require_freight_accounts(self, names):
        """The accounts and journals ``names`` (keys of ``_freight_accounts``) or a UserError
        naming what to set."""
        accounts = self._freight_accounts()
        labels = {
            "journal": self.env._("Bill Journal"),
            "expense": self.env._("Freight Expense Account"),
            "accrual_journal": self.env._("Accrual Journal"),
            "accrual": self.env._("Accrued Freight Account"),
        }
        missing = [labels[name] for name in names if not accounts[name]]
        if not self.freight_vendor_id and "journal" in names:
            missing.insert(0, self.env._("Vendor"))
        if missing:
            raise UserError(
                self.env._(
                    "%(carrier)s: set %(missing)s on the carrier's Finance tab (no company "
                    "default either).",
                    carrier=self.name,
                    missing=", ".join(missing),
                )
            )
        return accounts

    @api.model
    def _analytic_distribution(self, account):
        """Odoo's analytic distribution of one analytic account (100 %), or False."""
        return {str(account.id): 100.0} if account else False

    def _demo_freight_accounts(self):
        """Demo data: the generic chart's expense (600000) and bills-to-receive (211100)
        accounts as the carrier's freight expense and accrued freight accounts, when the
        company has that chart."""
        Account = self.env["account.account"]
        for backend in self:
            company = backend.company_id
            expense = Account.search(
                [("code", "=", "600000"), ("company_ids", "in", company.id)], limit=1
            )
            accrued = Account.search(
                [("code", "=", "211100"), ("company_ids", "in", company.id)], limit=1
            )
            backend.write(
                {
                    "freight_expense_account_id": expense.id,
                    "freight_accrual_account_id": accrued.id,
                }
            )
