import logging

from odoo import models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_backend_inbound import (
    InboundNotApplied,
)

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
            ship_to=wms_rest.partner_address(self.partner_id),
            lines=[
                {
                    "line_id": move.id,
                    "sku": move._logistics_sku(),
                    "quantity": move.product_uom_qty,
                    "uom": move._logistics_unit_name(move.product_uom),
                    "quantity_base": move.product_uom._compute_quantity(
                        move.product_uom_qty, move._logistics_reference_unit(), False
                    ),
                    "base_uom": move._logistics_unit_name(move._logistics_reference_unit()),
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
        """Apply what the WMS shipped (it owns execution, DESIGN §2) and validate the transfer;
        what was not shipped stays on a backorder. Every difference with the order is named
        for a person, never dropped or "corrected" without a word:

        - shipped less than ordered: applied, ``partial_shipment_mismatch``;
        - more than ordered, or other lots than Odoo reserved: applied (the goods left),
          ``wms_confirmation_difference``;
        - what can't be applied as reported (a line the order doesn't have, another product's
          SKU, an unknown unit, a quantity whose unit is ambiguous, a tracked product without
          its lot, a lot Odoo can't use): nothing is applied, the transfer keeps its
          reservation, and the message ends dead with a ``wms_confirmation_unapplied``
          exception listing each line and why, to replay once the cause is fixed;
        - shipped while the transfer is cancelled in Odoo: ``shipped_after_cancel``.

        :param lines: canonical confirmation lines (``wms_rest.canonical_line``)
        :raises InboundNotApplied: the confirmation can't be applied as reported
        """
        self.ensure_one()
        if self.state == "cancel":
            self._logistics_shipped_after_cancel(
                event.shipment_id,
                event.backend_id,
                self.env._(
                    "The WMS reported %(ref)s shipped at %(at)s (event %(event)s), after the "
                    "order was cancelled in Odoo:\n%(lines)s",
                    ref=self.name,
                    at=event.occurred_at,
                    event=event.source_event_id,
                    lines="\n".join(
                        f"{line.get('sku')}: {line.get('quantity_done', 0):g}" for line in lines
                    ),
                ),
            )
            return
        if self.state == "done":
            _logger.info("shipped confirmation for %s ignored: transfer is done", self.name)
            return
        moves = self.move_ids.filtered(lambda m: m.state not in ("done", "cancel"))
        shipped, problems, differences = moves._logistics_reconcile(lines)
        if problems:
            raise InboundNotApplied(
                self.env._(
                    "The WMS's shipped confirmation for %(ref)s was not applied (the transfer "
                    "keeps its reservation): %(problems)s",
                    ref=self.name,
                    problems="; ".join(problems),
                ),
                "wms_confirmation_unapplied",
            )
        short = []
        for move in moves:
            quantity, lots = shipped.get(move, (0.0, []))
            if move.product_uom.compare(quantity, move.product_uom_qty) < 0:
                short.append(
                    f"{move.product_id.display_name}: ordered {move.product_uom_qty:g} "
                    f"{move.product_uom.name}, shipped {quantity:g}"
                )
            move._logistics_set_shipped(quantity, lots)
        if any(move.quantity for move in moves):
            try:
                with self.env.cr.savepoint():
                    # The goods have left: no wizard to answer (an expired lot, say).
                    self.with_context(
                        skip_backorder=True, skip_sms=True, skip_expired=True
                    ).button_validate()
                    if self.state != "done":
                        raise UserError(
                            self.env._("the transfer asks for a confirmation by a person")
                        )
            except UserError as error:
                raise InboundNotApplied(
                    self.env._(
                        "The WMS's shipped confirmation for %(ref)s was not applied: Odoo "
                        "refused to validate the transfer with what the WMS shipped: %(error)s",
                        ref=self.name,
                        error=error.args[0] if error.args else error,
                    ),
                    "wms_confirmation_unapplied",
                ) from error
        shipment = event.shipment_id
        raised = []
        if short:
            raised.append(
                (
                    "partial_shipment_mismatch",
                    self.env._("%(ref)s shipped partially", ref=self.name),
                    self.env._(
                        "The WMS shipped less than ordered; the rest is on backorder "
                        "%(backorder)s.\n%(lines)s",
                        backorder=", ".join(self.backorder_ids.mapped("name")) or "-",
                        lines="\n".join(short),
                    ),
                )
            )
        if differences:
            raised.append(
                (
                    "wms_confirmation_difference",
                    self.env._("%(ref)s shipped differently than ordered", ref=self.name),
                    self.env._(
                        "Applied as the WMS reported it (the WMS owns what leaves the "
                        "warehouse):\n%(lines)s",
                        lines="\n".join(differences),
                    ),
                )
            )
        for type_code, name, description in raised:
            self.env["logistics.exception"].sudo()._raise(
                type_code,
                [
                    {
                        "name": name,
                        "shipment_id": shipment.id,
                        "backend_id": event.backend_id.id,
                        "source_event_id": event.source_event_id,
                        "description": description,
                    }
                ],
            )

    def _logistics_shipped_after_cancel(self, shipment, backend, description):
        """Goods left the warehouse for an order cancelled in Odoo: one exception per shipment
        for a person (the transfer stays cancelled; nothing is delivered in Odoo)."""
        self.env["logistics.exception"].sudo()._raise_once(
            "shipped_after_cancel",
            {
                "name": self.env._("%(ref)s shipped after it was cancelled", ref=self.name),
                "shipment_id": shipment.id,
                "backend_id": backend.id,
                "description": description,
            },
        )
