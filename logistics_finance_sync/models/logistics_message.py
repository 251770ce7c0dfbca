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

        An invoice the parser refuses (``freight_billing.invoice``) is kept as a rejected
        inbound message with the reason, as a file drop keeps a bad file: the others of the
        page are imported and the cursor moves past it all the same (asking for the page again
        would be refused again, and would hold back every invoice after it for ever).

        :raises AnswerNotUnderstood: the answer is no page of invoices (the message ends dead,
            the cursor stays: nothing of the page is imported)
        """
        backend = self.backend_id.sudo()
        try:
            cursor, has_more = freight_billing.next_page(response, "invoices")
        except ValueError as error:
            raise AnswerNotUnderstood(f"not a page of invoices: {error}") from error
        invoices, raw = [], {}
        for position, document in enumerate(response["invoices"], start=1):
            try:
                invoice = freight_billing.invoice(document, position)
            except ValueError as error:
                self._reject_fetched_document(backend, "carrier_invoice", document, error)
                continue
            invoices.append(invoice)
            raw[invoice["invoice_number"]] = json.dumps(document)
        backend._store_carrier_invoices(invoices, raw, "api")
        if cursor:
            backend.freight_invoice_cursor = cursor
        if has_more and response["invoices"]:
            backend._import_carrier_invoices()

    def _reject_fetched_document(self, backend, operation, document, error):
        """Keep a document of a fetched page that its parser refused as a rejected inbound
        message of ``operation`` (``carrier_invoice``, ``cod_remittance``), with the parser's
        reason and the partner's text, where a person finds it (and can ask the carrier for a
        corrected copy)."""
        return self.sudo().create(
            {
                "direction": "inbound",
                "backend_id": backend.id,
                "operation": operation,
                "state": "rejected",
                "error_class": "business",
                "error": f"{self.name}: {error}",
                "request_body": json.dumps(document)[:65536],
                "company_id": backend.company_id.id,
            }
        )
