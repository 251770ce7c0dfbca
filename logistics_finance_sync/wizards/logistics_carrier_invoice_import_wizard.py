import base64

from odoo import fields, models
from odoo.exceptions import UserError


class LogisticsCarrierInvoiceImportWizard(models.TransientModel):
    """Upload a carrier invoice file (CSV or X12 210): imported as if dropped in the billing
    backend's directory, one inbound message per invoice, then audited in the batch."""

    _name = "logistics.carrier.invoice.import.wizard"
    _description = "Import Carrier Invoices"

    backend_id = fields.Many2one(
        "logistics.backend",
        string="Billing Backend",
        required=True,
        domain=[("adapter", "=", "freight_billing")],
        default=lambda self: self.env["logistics.backend"].search(
            [("adapter", "=", "freight_billing")], limit=1
        ),
        help="The carrier billing backend the file comes from: its Carrier Billed is the "
        "carrier the invoices bill.",
    )
    file = fields.Binary(required=True)
    file_name = fields.Char()
    audit_now = fields.Boolean(
        default=True, help="Audit the invoices at once rather than in the nightly batch."
    )

    def action_import(self):
        """Import the file: the invoices' list, or a notification of why the parser refused it
        (kept as a rejected message with the file and the reason).

        :raises UserError: the billing backend names no carrier"""
        self.ensure_one()
        backend = self.backend_id.sudo()
        if not backend.billed_carrier_id:
            raise UserError(
                self.env._(
                    "%(backend)s doesn't say which carrier it bills: set its Carrier Billed.",
                    backend=backend.name,
                )
            )
        stored, duplicates, error = backend._import_invoice_text(
            base64.b64decode(self.file), self.file_name or ""
        )
        if error:
            # Not raised: the rejected message keeps the file and the reason (a raise would roll
            # it back); the person reads the reason at once.
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "title": self.env._("The file was not imported"),
                    "message": error,
                    "type": "danger",
                    "sticky": True,
                },
            }
        if stored:
            backend._process_inbound(stored)
        invoices = self.env["logistics.carrier.invoice"].search([("message_id", "in", stored.ids)])
        if self.audit_now and invoices:
            self.env["logistics.carrier.invoice.line"]._audit(invoices)
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "logistics_finance_sync.logistics_carrier_invoice_action"
        )
        action["domain"] = [("id", "in", invoices.ids)]
        if duplicates:
            action["help"] = self.env._(
                "Already imported, refused: %(numbers)s", numbers=", ".join(duplicates)
            )
        return action
