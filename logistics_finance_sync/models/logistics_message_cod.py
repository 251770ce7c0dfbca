import json

from odoo import models

from odoo.addons.logistics_integration_base.models.logistics_message import AnswerNotUnderstood

from ..adapters import freight_billing


class LogisticsMessage(models.Model):
    _inherit = "logistics.message"

    def _on_delivered_cod_remittance_fetch(self, response):
        """A page of the billing API's COD remittances (``GET /v1/remittances``): each
        remittance becomes an inbound ``cod_remittance`` message, the cursor moves past the
        page, and the next page is asked for while the API says it has more.

        A remittance the parser refuses (``freight_billing.remittance``) is kept as a
        rejected inbound message with the reason (``_reject_fetched_document``): the others of
        the page are imported and the cursor moves past it all the same.

        :raises AnswerNotUnderstood: the answer is no page of remittances (the message ends
            dead, the cursor stays: nothing of the page is imported)
        """
        backend = self.backend_id.sudo()
        try:
            cursor, has_more = freight_billing.next_page(response, "remittances")
        except ValueError as error:
            raise AnswerNotUnderstood(f"not a page of remittances: {error}") from error
        remittances, raw = [], {}
        for position, document in enumerate(response["remittances"], start=1):
            try:
                remittance = freight_billing.remittance(document, position)
            except ValueError as error:
                self._reject_fetched_document(backend, "cod_remittance", document, error)
                continue
            remittances.append(remittance)
            raw[remittance["remittance_number"]] = json.dumps(document)
        backend._store_cod_remittances(remittances, raw, "api")
        if cursor:
            backend.cod_remittance_cursor = cursor
        if has_more and response["remittances"]:
            backend._import_cod_remittances()
