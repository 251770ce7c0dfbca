from odoo import models


class LogisticsEvent(models.Model):
    _inherit = "logistics.event"

    def _on_event_packed(self):
        """A packed parcel gets its label, once (a second packed event buys nothing)."""
        result = getattr(super(), "_on_event_packed", lambda: None)()
        shipment = self.shipment_id
        if not shipment.label_message_id and not shipment.tracking_number:
            shipment._buy_label(packages=(self.payload or {}).get("packages"))
        return result

    def _on_event_shipped(self):
        result = getattr(super(), "_on_event_shipped", lambda: None)()
        self.shipment_id._notify_shipped_when_tracked()
        return result

    def _on_event_delivered(self):
        """Proof of delivery: when and who signed, and the customer is told."""
        result = getattr(super(), "_on_event_delivered", lambda: None)()
        shipment = self.shipment_id
        if self.backend_id.kind == "carrier":
            shipment.sudo().write(
                {
                    "delivered_at": self.occurred_at,
                    "pod_signed_by": (self.payload or {}).get("signed_by") or False,
                }
            )
            shipment._notify_customer("delivered")
        return result

    def _on_event_exception(self):
        """A failed delivery is a business exception with the carrier's reason."""
        result = getattr(super(), "_on_event_exception", lambda: None)()
        shipment = self.shipment_id
        if self.backend_id.kind == "carrier" and self.state == "applied":
            payload = self.payload or {}
            reason = payload.get("reason") or payload.get("status_detail") or "delivery_failed"
            shipment.sudo().delivery_issue = reason
            self.env["logistics.exception"].sudo()._raise_once(
                "delivery_failed",
                {
                    "name": self.env._(
                        "Delivery of %(ref)s failed: %(reason)s",
                        ref=shipment.picking_id.name or shipment.name,
                        reason=reason,
                    ),
                    "shipment_id": shipment.id,
                    "backend_id": self.backend_id.id,
                    "source_event_id": self.source_event_id,
                    "description": payload.get("message") or reason,
                    "company_id": shipment.company_id.id,
                },
            )
            shipment._notify_customer("exception")
        return result

    def _on_event_returning(self):
        result = getattr(super(), "_on_event_returning", lambda: None)()
        shipment = self.shipment_id
        if self.backend_id.kind == "carrier" and self.state == "applied":
            self.env["logistics.exception"].sudo()._raise_once(
                "returned_shipment",
                {
                    "name": self.env._(
                        "%(ref)s is returning to sender",
                        ref=shipment.picking_id.name or shipment.name,
                    ),
                    "shipment_id": shipment.id,
                    "backend_id": self.backend_id.id,
                    "source_event_id": self.source_event_id,
                    "description": (self.payload or {}).get("message") or "",
                    "company_id": shipment.company_id.id,
                },
            )
        return result
