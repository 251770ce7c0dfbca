from odoo import api, fields, models

from odoo.addons.logistics_integration_base.models.logistics_message import AnswerNotUnderstood

from ..adapters import wms_rest


class LogisticsMessage(models.Model):
    _inherit = "logistics.message"

    @api.model
    def _operation_labels(self):
        labels = super()._operation_labels()
        labels.update(
            {
                "order_release": self.env._("Release the order to the WMS"),
                "order_cancel": self.env._("Cancel the order in the WMS"),
                "stock_snapshot": self.env._("WMS stock snapshot"),
                "file_import": self.env._("WMS confirmation file"),
            }
        )
        return labels

    def _on_delivered_order_release(self, _response):
        """The WMS accepted the release: the order is released (an Odoo milestone)."""
        shipment = self.shipment_id
        if not shipment:
            return
        now = fields.Datetime.now()
        shipment.write({"wms_released_at": now})
        self.env["logistics.event"]._record_odoo_events(
            self.backend_id,
            [
                {
                    "type": "order_released",
                    "event_id": f"odoo-release-{self.uuid}",
                    "occurred_at": now.isoformat() + "+00:00",
                    "shipment_ref": shipment.name,
                    "payload": {
                        "order_ref": (self.payload or {}).get("order_ref"),
                        "message": self.id,
                    },
                }
            ],
        )

    def _on_dead_order_release(self, _response):
        """A release that died on transient errors (the WMS down or not answering until the
        last attempt) leaves an order the warehouse may not have: a person checks the WMS and
        replays it. Refusals raise their own exception (``_raise_dead_letter_alert``)."""
        shipment = self.shipment_id
        if self.error_class != "transient" or not shipment:
            return
        order_ref = (self.payload or {}).get("order_ref") or shipment.name
        self.env["logistics.exception"]._raise(
            "order_release_failed",
            [
                {
                    "name": self.env._(
                        "%(ref)s not released to %(wms)s", ref=order_ref, wms=self.backend_id.name
                    ),
                    "shipment_id": shipment.id,
                    "backend_id": self.backend_id.id,
                    "message_id": self.id,
                    "description": self.env._(
                        "%(ref)s was not released to %(wms)s: the WMS did not answer "
                        "(%(error)s after %(attempts)s attempts), so it may not have the order, "
                        "or took it and its answer was lost. Check that the WMS is up (the "
                        "backend's health), then replay the release message (Dead Letters): "
                        "it keeps its Idempotency-Key, so a WMS that took the order answers "
                        "with it instead of taking it twice. The order_released milestone of "
                        "the replay closes this exception.",
                        ref=order_ref,
                        wms=self.backend_id.name,
                        error=self.error,
                        attempts=self.attempts,
                    ),
                    "company_id": self.company_id.id,
                }
            ],
        )

    def _on_dead_order_cancel(self, response):
        """The WMS refused to cancel an order cancelled in Odoo because it has shipped: the
        goods are on their way to a customer whose order Odoo cancelled. That exception stands
        instead of the generic "refused by the partner" one (returns True)."""
        picking = self.shipment_id.picking_id
        if not (
            self.backend_id.kind == "wms"
            and picking
            and wms_rest.cancel_refused_as_shipped(self.http_status, response)
        ):
            return False
        picking._logistics_shipped_after_cancel(
            self.shipment_id,
            self.backend_id,
            self.env._(
                "The WMS refused to cancel %(ref)s, cancelled in Odoo: HTTP %(status)s, %(answer)s",
                ref=picking.name,
                status=self.http_status,
                answer=(isinstance(response, dict) and response.get("message"))
                or self.response_body
                or "-",
            ),
        )
        return True

    def _on_delivered_stock_snapshot(self, response):
        """Compare the WMS's stock with Odoo's (``logistics.backend._compare_stock_snapshot``):
        the WMS owns quantities, but a difference is raised for a person, never overwritten
        silently.

        :raises AnswerNotUnderstood: the answer is no stock snapshot (the message ends dead)
        """
        try:
            items = wms_rest.stock_items(response)
        except ValueError as error:
            raise AnswerNotUnderstood(f"not a stock snapshot: {error}") from error
        self.backend_id._compare_stock_snapshot(items, self)
