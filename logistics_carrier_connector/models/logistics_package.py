from odoo import models
from odoo.exceptions import UserError

from .stock_picking import open_pdf_action


class LogisticsPackage(models.Model):
    _inherit = "logistics.package"

    def action_open_label(self):
        """Open this package's label in the browser's PDF viewer.

        :raises UserError: the package has no label bought"""
        self.ensure_one()
        if not self.label_attachment_id:
            raise UserError(self.env._("Package %(ref)s has no label.", ref=self.name))
        return open_pdf_action(self.label_attachment_id)
