import logging

from odoo import models

_logger = logging.getLogger(__name__)


class LogisticsEvent(models.Model):
    _inherit = "logistics.event"

    def _on_event_cod_collected(self):
        """The carrier collected the cash on delivery: its shipment records when and how much
        (the event's ``amount`` in its ``currency``, converted to the shipment's currency at
        Odoo's rate of the collection day; the shipment's own amount when the carrier gives
        none). An older collection than the one recorded changes nothing. The remittance that
        pays it out is reconciled against it later."""
        result = super()._on_event_cod_collected()
        Currency = self.env["res.currency"].with_context(active_test=False)
        for event in self.sudo().sorted("occurred_at"):
            shipment = event.shipment_id
            if shipment.cod_collected_at and shipment.cod_collected_at > event.occurred_at:
                continue
            payload = event.payload or {}
            amount = payload.get("amount")
            currency = shipment.currency_id
            if payload.get("currency"):
                currency = Currency.search([("name", "=", payload["currency"])], limit=1)
            if not isinstance(amount, int | float) or isinstance(amount, bool) or not currency:
                _logger.info(
                    "[%s] cod_collected event %s of %s gives no amount in a known currency: "
                    "the shipment's cash on delivery is taken as collected",
                    event.correlation_id,
                    event.source_event_id,
                    shipment.name,
                )
                amount, currency = shipment.cod_amount, shipment.currency_id
            shipment.write(
                {
                    "cod_collected_at": event.occurred_at,
                    "cod_collected_amount": currency._convert(
                        amount, shipment.currency_id, shipment.company_id, event.occurred_at.date()
                    ),
                }
            )
        return result
