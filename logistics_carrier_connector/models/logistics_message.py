import logging
import mimetypes

import requests

from odoo import api, fields, models

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters import easypost
from .logistics_carrier_label import ACTIVE_STATES

_logger = logging.getLogger(__name__)

# How long after a label purchase its tracking number's early scans are looked for again.
RETRY_UNMATCHED_SECONDS = 5


class LogisticsMessage(models.Model):
    _inherit = "logistics.message"

    label_purchase_id = fields.Many2one(
        "logistics.carrier.label",
        index="btree_not_null",
        readonly=True,
        ondelete="restrict",
        help="The label purchase this carrier shipment or label purchase message is part of "
        "(its replays too).",
    )
    status_mapping_exception_id = fields.Many2one(
        "logistics.exception",
        string="Waits for Status Mapping",
        index="btree_not_null",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The mapping_missing exception of the tracking status this message carries: the "
        "message is processed again when a mapping row maps the status.",
    )

    @api.model
    def _operation_labels(self):
        labels = super()._operation_labels()
        labels.update(
            {
                "carrier_shipment_create": self.env._("Create the carrier shipment (rates)"),
                "label_buy": self.env._("Buy the label"),
                "label_refund": self.env._("Refund the label"),
            }
        )
        return labels

    # --- label purchase -----------------------------------------------------------------------
    def _replay(self, reason, payload=None):
        """A replayed message of a failed label purchase takes that purchase up again; refused
        (UserError) while its package has another purchase in progress or a label, or the
        shipment's labels are at another carrier now."""
        for purchase in self.label_purchase_id.filtered(
            lambda p: p.state in ("failed", "unconfirmed")
        ):
            shipment = purchase.shipment_id.sudo()
            if purchase.state == "failed":  # an unconfirmed one is the package's active one
                purchase._check_can_resume()
            purchase.sudo()._set_state("in_progress", failure=False)
            shipment.write(
                {"label_purchase_id": purchase.id, "carrier_backend_id": purchase.backend_id.id}
            )
        replays = super()._replay(reason, payload=payload)
        for replay in replays.filtered("label_purchase_id"):
            replay.label_purchase_id.sudo().message_id = replay
        return replays

    def _on_delivered_carrier_shipment_create(self, response):
        """Rates are in: buy the one the shipping method (or the backend's rule) chooses, with
        this package's purchase."""
        shipment = self.shipment_id
        backend = self.backend_id
        purchase = self.label_purchase_id
        try:
            carrier_shipment = easypost.parse_shipment(response)
            rate = shipment._choose_rate(backend, carrier_shipment.rates)
        except (ValueError, TypeError, KeyError) as error:
            self._label_failed(self.env._("No usable rate: %(error)s", error=error))
            return
        buy = self._create_outbound(
            backend,
            "label_buy",
            easypost.buy_request(rate.id),
            endpoint=easypost.buy_path(carrier_shipment.id),
            shipment=shipment,
            label_purchase_id=purchase.id,
        )
        purchase.write(
            {
                "carrier_shipment_ref": carrier_shipment.id,
                "message_id": buy.id,
                **purchase._rate_values(rate),
            }
        )
        shipment.write(
            {
                "carrier_shipment_ref": carrier_shipment.id,
                "carrier_name": rate.carrier,
                "carrier_service": rate.service,
                "freight_estimate": shipment._labels_cost(shipment.currency_id, ACTIVE_STATES),
            }
        )

    def _on_delivered_label_buy(self, response):
        """The package's label is bought: its tracking number, rate and label PDF on the
        package, the label_created milestone recorded, and the transfer told
        (``logistics.shipment._labels_changed``)."""
        shipment = self.shipment_id
        purchase = self.label_purchase_id
        package = purchase.package_id
        try:
            bought = easypost.parse_shipment(response)
        except (ValueError, TypeError, KeyError) as error:
            # The carrier took the purchase (2xx): the label is likely paid for, so the
            # purchase counts as bought and no second one is started from here.
            reason = self.env._("Label answer not understood: %(error)s", error=error)
            purchase._set_state("bought", failure=reason)
            self._label_failed(reason, purchase_state=None)
            return
        rate = bought.selected_rate
        tracking_url = (
            bought.tracker_public_url
            or (self.backend_id.carrier_tracking_url or "").format(tracking=bought.tracking_code)
            or False
        )
        purchase._set_state(
            "bought",
            tracking_number=bought.tracking_code,
            **(purchase._rate_values(rate) if rate else {}),
        )
        package.write(
            {
                "tracking_number": bought.tracking_code,
                "tracking_url": tracking_url,
                "carrier_name": purchase.carrier_name,
                "carrier_service": purchase.carrier_service,
                "rate_amount": purchase.rate_amount,
                "rate_currency_id": purchase.rate_currency_id.id,
            }
        )
        shipment.label_url = bought.label_url
        if bought.label_pdf_url:
            self._attach_label(bought.label_pdf_url, "application/pdf")
        else:
            self._attach_label(bought.label_url, bought.label_file_type or "application/pdf")
        if bought.tracking_code:
            Exception_ = self.env["logistics.exception"]
            Exception_._retry_unmatched({bought.tracking_code})
            # The carrier's first scan can come while this purchase is not committed yet (its
            # tracker starts at once): looked for again, a few seconds after the commit.
            Exception_.with_delay(
                **self.env["logistics.flow"]._job_options("label_buy", self.backend_id),
                eta=RETRY_UNMATCHED_SECONDS,
                description=f"Events waiting for tracking number {bought.tracking_code}",
            )._retry_unmatched([bought.tracking_code])
        shipment._labels_changed()

    def _attach_label(self, url, mimetype):
        """Download the label and attach it to the transfer. A label that can't be fetched now
        is fetched again by a job (the purchase itself is not repeated)."""
        try:
            content = self._download_label(url)
        except requests.RequestException as error:
            _logger.warning("label of %s not fetched yet: %s", self.shipment_id.name, error)
            self.with_delay(
                **self.env["logistics.flow"]._job_options("label_buy", self.backend_id),
                description=f"Fetch label of {self.shipment_id.name}",
            )._fetch_label_job(url, mimetype)
            return
        self._store_label(content, mimetype)

    def _fetch_label_job(self, url, mimetype):
        """Job: fetch a label whose first download failed, retried while the partner fails."""
        try:
            content = self._download_label(url)
        except requests.RequestException as error:
            raise RetryableJobError(f"label not fetched: {error}", seconds=60) from error
        self._store_label(content, mimetype)

    def _download_label(self, url):
        backend = self.backend_id
        response = requests.get(url, timeout=(backend.connect_timeout, backend.read_timeout))
        response.raise_for_status()
        return response.content

    def _store_label(self, content, mimetype):
        """Attach the label to the transfer (or the shipment), named after its tracking
        number, and link it to its purchase and package."""
        shipment = self.shipment_id
        purchase = self.label_purchase_id
        name = (purchase.tracking_number or purchase.package_id.name or shipment.name).replace(
            "/", "_"
        )
        attachment = self.env["ir.attachment"].create(
            {
                "name": f"Label-{name}{mimetypes.guess_extension(mimetype) or ''}",
                "raw": content,
                "mimetype": mimetype,
                "res_model": "stock.picking" if shipment.picking_id else "logistics.shipment",
                "res_id": shipment.picking_id.id or shipment.id,
            }
        )
        purchase.label_attachment_id = attachment
        if purchase.state == "bought":
            purchase.package_id.label_attachment_id = attachment
            shipment._refresh_label_pdf()

    def _on_dead_carrier_shipment_create(self, response):
        self._label_failed(self._carrier_error_text(response))

    def _on_dead_label_buy(self, response):
        if self.error_class == "transient":
            # Timeouts or 5xx until the last attempt: the carrier may have sold the label.
            self._label_failed(
                self.env._(
                    "The carrier never answered the purchase (%(error)s, %(attempts)s attempts): "
                    "the label may have been bought. Replay the message (same Idempotency-Key: "
                    "the carrier answers with the label if it sold one), or mark the purchase "
                    "failed once you checked on the carrier that it sold none.",
                    error=self.error,
                    attempts=self.attempts,
                ),
                purchase_state="unconfirmed",
            )
            return
        self._label_failed(self._carrier_error_text(response))

    # --- refunds -----------------------------------------------------------------------------
    def _on_delivered_label_refund(self, response):
        """EasyPost took the refund request: the Shipment's ``refund_status`` says where it
        stands (submitted, usually; refunded or rejected when the carrier answered at once)."""
        try:
            status = easypost.parse_shipment(response).refund_status
        except (ValueError, TypeError, KeyError):
            status = None
        self.label_purchase_id._refund_outcome(status)
        self.shipment_id._continue_reroute(settled=self)

    def _on_dead_label_refund(self, response):
        """The refund request failed for good. Refused by the carrier (4xx): rejected, the label
        stays paid for and a person asks for a credit. Never answered (timeouts, 5xx until the
        last attempt): the carrier may have taken it, so the refund stays submitted, and a
        person is told to check; EasyPost's refund.successful Event settles it either way."""
        purchase = self.label_purchase_id
        if self.error_class == "transient":
            purchase._raise_refund_rejected(
                self.env._(
                    "The carrier never answered the refund request (%(error)s, %(attempts)s "
                    "attempts): it may have taken it. Check on the carrier; its refund Event "
                    "settles the refund and closes this when it comes.",
                    error=self.error,
                    attempts=self.attempts,
                )
            )
        else:
            purchase._refund_outcome("rejected", self._carrier_error_text(response))
        self.shipment_id._continue_reroute(settled=self)

    def _carrier_error_text(self, response):
        error = easypost.parse_error(response, self.http_status)
        details = "; ".join(error.field_errors)
        return f"{error.code}: {error.message}" + (f" ({details})" if details else "")

    def _label_failed(self, reason, purchase_state="failed"):
        """Raise label_failed for a person, who can route the parcel to the next carrier; the
        purchase fails (``purchase_state``; None: leave it), which frees the shipment for the
        next one."""
        if purchase_state:
            self.label_purchase_id._set_state(purchase_state, failure=reason)
        shipment = self.shipment_id
        package = self.label_purchase_id.package_id
        ref = shipment.picking_id.name or shipment.name
        self.env["logistics.exception"].sudo()._raise(
            "label_failed",
            [
                {
                    "name": self.env._(
                        "No label for %(ref)s from %(carrier)s",
                        ref=f"{ref} ({package.name})" if len(shipment.package_ids) > 1 else ref,
                        carrier=self.backend_id.name,
                    ),
                    "shipment_id": shipment.id,
                    "backend_id": self.backend_id.id,
                    "message_id": self.id,
                    "description": reason,
                    "company_id": shipment.company_id.id,
                }
            ],
        )
