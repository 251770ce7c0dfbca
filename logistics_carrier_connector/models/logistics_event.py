from odoo import models


class LogisticsEvent(models.Model):
    _inherit = "logistics.event"

    def _on_event_packed(self):
        """Packed parcels of a transfer get their labels, one per package, once (a second
        packed event buys nothing; after a failed purchase, a person chooses: Route to
        Alternate Carrier, or a replay)."""
        result = super()._on_event_packed()
        self.shipment_id._request_labels_when_possible()
        return result

    def _on_event_shipped(self):
        """Shipped without a packed confirmation before it (a WMS that skips it, or one lost):
        the labels are bought then, by the same rule as at packing, so that no parcel leaves
        without a label and none gets two. Shipped and tracked: the customer is told."""
        result = super()._on_event_shipped()
        self.filtered(
            lambda e: e.backend_id.kind == "wms"
        ).shipment_id._request_labels_when_possible()
        # Shipped and every package tracked: tell the customer. Not yet: the last label will.
        self.shipment_id.filtered("tracking_number").filtered(
            lambda s: s._all_packages_tracked()
        )._notify_customer("shipped")
        return result

    def _on_event_delivered(self):
        """Proof of delivery: when and who signed, and the customer is told."""
        result = super()._on_event_delivered()
        for event in self.filtered(lambda e: e.backend_id.kind == "carrier"):
            shipment = event.shipment_id
            if shipment.status_code != "delivered":
                continue  # one package of several: the shipment is delivered with the last
            shipment.sudo().write(
                {
                    "delivered_at": event.occurred_at,
                    "pod_signed_by": (event.payload or {}).get("signed_by") or False,
                }
            )
            shipment._notify_customer("delivered")
        return result

    def _on_event_exception(self):
        """A failed delivery is a business exception with the carrier's reason."""
        result = super()._on_event_exception()
        for event in self._from_carrier_applied():
            shipment = event.shipment_id
            payload = event.payload or {}
            reason = payload.get("reason") or payload.get("status_detail") or "delivery_failed"
            shipment.sudo().delivery_issue = reason
            event._raise_shipment_exception(
                "delivery_failed",
                self.env._(
                    "Delivery of %(ref)s failed: %(reason)s",
                    ref=shipment.picking_id.name or shipment.name,
                    reason=reason,
                ),
                payload.get("message") or reason,
            )
            shipment._notify_customer("exception")
        return result

    def _on_event_returning(self):
        result = super()._on_event_returning()
        for event in self._from_carrier_applied():
            shipment = event.shipment_id
            event._raise_shipment_exception(
                "returned_shipment",
                self.env._(
                    "%(ref)s is returning to sender", ref=shipment.picking_id.name or shipment.name
                ),
                (event.payload or {}).get("message") or "",
            )
        return result

    def _from_carrier_applied(self):
        return self.filtered(lambda e: e.backend_id.kind == "carrier" and e.state == "applied")

    def _raise_shipment_exception(self, type_code, name, description):
        self.ensure_one()
        shipment = self.shipment_id
        return (
            self.env["logistics.exception"]
            .sudo()
            ._raise_once(
                type_code,
                {
                    "name": name,
                    "shipment_id": shipment.id,
                    "backend_id": self.backend_id.id,
                    "source_event_id": self.source_event_id,
                    "description": description,
                    "company_id": shipment.company_id.id,
                },
            )
        )
