import json

from odoo import api, fields, models
from odoo.exceptions import UserError


def open_pdf_action(attachment):
    """A client action that opens ``attachment`` (a PDF) in a new browser tab, served inline by
    Odoo's ``/web/content`` (the browser's PDF viewer, not the attachment's form)."""
    return {
        "type": "ir.actions.act_url",
        "url": f"/web/content/{attachment.id}?download=false",
        "target": "new",
    }


class StockPicking(models.Model):
    """A transfer shipped with a shipping method of the ``logistics`` provider: the three calls
    of Odoo's shipping framework (``delivery.carrier.logistics_send_shipping``,
    ``logistics_cancel_shipment``, ``logistics_get_tracking_link``) land here.

    How Odoo's synchronous ``send_shipping`` meets the asynchronous pipeline: Odoo calls
    ``send_shipping`` when the transfer is validated and expects the price and tracking number
    back. Labels are bought through the pipeline (queue_job, retries, one Idempotency-Key per
    message), usually earlier, when the WMS reports the parcels packed. So ``send_shipping``
    never calls the carrier: it starts the purchases the packages still lack (none when they
    were bought at packing) and answers with what is bought. When a purchase is still running,
    ``send_to_shipper`` says so in the chatter instead of writing a tracking reference of
    nothing; the pipeline calls ``send_to_shipper`` again once every package has its label, and
    Odoo books price and tracking reference as for any provider."""

    _inherit = "stock.picking"

    logistics_label_attachment_id = fields.Many2one(
        "ir.attachment",
        string="Carrier Labels",
        compute="_compute_logistics_label_attachment_id",
        help="Every package's label, in one PDF.",
    )

    @api.depends("logistics_shipment_ids.label_attachment_id")
    def _compute_logistics_label_attachment_id(self):
        for picking in self:
            picking.logistics_label_attachment_id = (
                picking.sudo().logistics_shipment_ids[:1].label_attachment_id
            )

    def _logistics_shipment(self):
        self.ensure_one()
        shipment = self.sudo().logistics_shipment_ids[:1]
        if not shipment:
            shipment = self.env["logistics.shipment"]._create_for_pickings(self).sudo()
        if not shipment:
            raise UserError(
                self.env._(
                    "%(picking)s is not an outgoing transfer: no label is bought for it.",
                    picking=self.name,
                )
            )
        return shipment

    def _logistics_send_to_carrier(self):
        """``send_shipping`` for one transfer: start the label purchases its packages lack (see
        ``logistics.shipment._request_labels``) and answer with the labels bought.

        :return: Odoo's shipment dict: ``exact_price`` (the labels' cost in the sale order's
            currency, else the company's; 0.0 until every package has its label) and
            ``tracking_number`` (the packages' tracking numbers joined with commas, as Odoo
            joins them; False until every package has one)"""
        self.ensure_one()
        shipment = self._logistics_shipment()
        # The shipment's carrier backend first (a reroute moves it), else the method's. A
        # purchase that waits for a person (outcome unknown, a reroute) doesn't stop the
        # validation of the goods: ``send_to_shipper`` says why in the chatter.
        carrier = shipment._label_backend()
        if carrier and not shipment._labels_refusal(carrier):
            shipment._request_labels(carrier)
        packages = shipment.package_ids
        if not shipment._all_packages_tracked():
            return {"exact_price": 0.0, "tracking_number": False}
        currency = self.sale_id.currency_id or self.company_id.currency_id
        return {
            "exact_price": shipment._labels_cost(currency),
            "tracking_number": ",".join(packages.mapped("tracking_number")),
        }

    def send_to_shipper(self):
        """Odoo's booking of a shipment at its carrier; for the ``logistics`` provider, the
        booking waits for the labels bought through the pipeline (see the class docstring)."""
        self.ensure_one()
        if self.carrier_id.delivery_type != "logistics":
            return super().send_to_shipper()
        if not self.carrier_id.send_shipping(self)[0]["tracking_number"]:
            shipment = self._logistics_shipment()
            carrier = shipment._label_backend()
            refusal = carrier and shipment._labels_refusal(carrier)
            self.message_post(
                body=refusal
                or self.env._(
                    "Labels asked from %(carrier)s: the tracking reference and the price come "
                    "when the carrier has sold a label for every package.",
                    carrier=self.carrier_id.name,
                )
            )
            return None
        return super().send_to_shipper()

    def _logistics_free_booked_delivery_line(self):
        """Before the labels are booked again (a reroute, a cancel then a new label): the sale
        order's delivery line the previous booking priced goes back to 0, so that Odoo's booking
        (``_add_delivery_cost_to_so``, which matches delivery lines priced 0 only) updates it
        instead of adding a second one. A line invoiced already is left as it is."""
        self.ensure_one()
        if not self.carrier_price or not self.sale_id:
            return
        currency = self.sale_id.currency_id
        lines = self.sale_id.order_line.filtered(
            lambda line: (
                line.is_delivery
                and line.product_id == self.carrier_id.product_id
                and not line.qty_invoiced
                and currency.compare_amounts(line.price_unit, self.carrier_price) == 0
            )
        )
        lines[:1].price_unit = 0.0

    def _logistics_cancel_labels(self):
        """``cancel_shipment``: refund the transfers' bought labels (asynchronous at EasyPost:
        submitted, then refunded or rejected).

        :raises UserError: a purchase is still in progress or its outcome is unknown"""
        for picking in self:
            picking._logistics_shipment()._cancel_labels(
                self.env._(
                    "shipment of %(picking)s cancelled by %(user)s",
                    picking=picking.name,
                    user=self.env.user.name,
                )
            )

    def _logistics_tracking_link(self):
        """``get_tracking_link``: the carrier's tracking page of the one package, or, for
        several, the JSON list of ``[tracking number, page]`` pairs Odoo's *Tracking* button
        shows one by one (``stock.picking.open_website_url``); False when none is known."""
        self.ensure_one()
        packages = self.sudo().logistics_shipment_ids[:1].package_ids.filtered("tracking_number")
        links = [
            [package.tracking_number, package.tracking_url]
            for package in packages
            if package.tracking_url
        ]
        if not links:
            return False
        if len(links) == 1:
            return links[0][1]
        return json.dumps(links)

    def action_open_logistics_labels(self):
        """Open the transfer's labels (every package, one PDF) in the browser.

        :raises UserError: no label is bought yet"""
        self.ensure_one()
        if not self.logistics_label_attachment_id:
            raise UserError(self.env._("%(picking)s has no label yet.", picking=self.name))
        return open_pdf_action(self.logistics_label_attachment_id)
