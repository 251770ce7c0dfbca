import json

from odoo import models

from odoo.addons.logistics_integration_base.models.logistics_message import AnswerNotUnderstood

from ..adapters import freight_billing


class LogisticsMessage(models.Model):
    _inherit = "logistics.message"

    def _on_delivered_carrier_invoice_fetch(self, response):
        """A page of the billing API's invoices (``GET /v1/invoices``): each invoice becomes
        an inbound ``carrier_invoice`` message, the cursor moves past the page, and the next
        page is asked for while the API says it has more.

        :raises AnswerNotUnderstood: the answer is no page of invoices (the message ends dead,
            the cursor stays: nothing of the page is imported)
        """
        backend = self.backend_id.sudo()
        try:
            invoices = freight_billing.invoices(response)
            cursor, has_more = freight_billing.next_page(response, "invoices")
        except ValueError as error:
            raise AnswerNotUnderstood(f"not a page of invoices: {error}") from error
        raw = {
            invoice["invoice_number"]: json.dumps(document)
            for invoice, document in zip(invoices, response.get("invoices") or [], strict=False)
        }
        backend._store_carrier_invoices(invoices, raw, "api")
        if cursor:
            backend.freight_invoice_cursor = cursor
        if has_more and invoices:
            backend._import_carrier_invoices()
