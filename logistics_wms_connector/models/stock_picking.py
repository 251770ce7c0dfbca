import logging

from odoo import models

from ..adapters import wms_rest

_logger = logging.getLogger(__name__)


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _logistics_release_ready(self):
        """Release the ready ones among these transfers, unless order releases run in batch
        (then the release cron takes them)."""
        ready = self.filtered(lambda p: p.state == "assigned" and p.picking_type_code == "outgoing")
        if ready and self.env["logistics.flow"]._mode("order_release") != "batch":
            ready._logistics_release_to_wms()

    def _logistics_release_to_wms(self):
        """Release ready outgoing transfers to their warehouse's WMS, once each."""
        shipments = (
            self.env["logistics.shipment"]
            .sudo()
            .search(
                [
                    ("picking_id", "in", self.ids),
                    ("direction", "=", "outgoing"),
                    ("wms_release_message_id", "=", False),
                    # A shipment that already moved on (e.g. recorded by hand) is not released.
                    ("status_id", "=", False),
                ]
            )
        )
        Message = self.env["logistics.message"].sudo()
        for shipment in shipments:
            picking = shipment.picking_id
            backend = picking.picking_type_id.warehouse_id.logistics_wms_backend_id
            if not backend or picking.state != "assigned":
                continue
            message = Message._create_outbound(
                backend,
                "order_release",
                picking._logistics_release_document(shipment),
                endpoint=wms_rest.ORDERS_PATH,
                shipment=shipment,
            )
            shipment.write({"wms_release_message_id": message.id, "wms_backend_id": backend.id})
        return shipments

    def _logistics_release_document(self, shipment):
        self.ensure_one()
        return wms_rest.release_request(
            order_ref=self.name,
            shipment_ref=shipment.name,
            warehouse=self.picking_type_id.warehouse_id.code,
            ship_to=shipment._postal_address(self.partner_id),
            lines=[
                {
                    "line_id": move.id,
                    "sku": move.product_id.default_code or f"ODOO-{move.product_id.id}",
                    "quantity": move.product_uom_qty,
                }
                for move in self.move_ids
                if move.state not in ("cancel", "done")
            ],
        )

    def action_cancel(self):
        released = (
            self.env["logistics.shipment"]
            .sudo()
            .search([("picking_id", "in", self.ids), ("wms_release_message_id", "!=", False)])
        )
        result = super().action_cancel()
        released.filtered(lambda s: s.picking_id.state == "cancel")._logistics_cancel_in_wms()
        return result

    def _logistics_apply_shipped(self, lines, event):
        """Apply the WMS's shipped quantities and validate the transfer; what was not shipped
        stays on a backorder, and a mismatch with the order is raised for a person."""
        self.ensure_one()
        if self.state in ("done", "cancel"):
            _logger.info(
                "shipped confirmation for %s ignored: transfer is %s", self.name, self.state
            )
            return
        done = {line["line_id"]: line["quantity_done"] for line in lines}
        short = []
        for move in self.move_ids.filtered(lambda m: m.state not in ("done", "cancel")):
            quantity = done.get(str(move.id), 0.0)
            if quantity < move.product_uom_qty:
                short.append(
                    f"{move.product_id.display_name}: ordered {move.product_uom_qty:g}, "
                    f"shipped {quantity:g}"
                )
            move.quantity = quantity
            move.picked = True
        picking = self.with_context(skip_backorder=True, skip_sms=True)
        if any(move.quantity for move in self.move_ids):
            picking.button_validate()
        if short:
            shipment = event.shipment_id
            self.env["logistics.exception"].sudo()._raise(
                "partial_shipment_mismatch",
                [
                    {
                        "name": self.env._("%(ref)s shipped partially", ref=self.name),
                        "shipment_id": shipment.id,
                        "backend_id": event.backend_id.id,
                        "source_event_id": event.source_event_id,
                        "description": self.env._(
                            "The WMS shipped less than ordered; the rest is on backorder "
                            "%(backorder)s.\n%(lines)s",
                            backorder=", ".join(self.backorder_ids.mapped("name")) or "-",
                            lines="\n".join(short),
                        ),
                        "company_id": shipment.company_id.id,
                    }
                ],
            )
