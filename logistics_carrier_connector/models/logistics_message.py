import logging
import mimetypes

import requests

from odoo import api, fields, models

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters import easypost

_logger = logging.getLogger(__name__)


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
            }
        )
        return labels

    # --- label purchase -----------------------------------------------------------------------
    def _replay(self, reason, payload=None):
        """A replayed message of a failed label purchase takes that purchase up again; refused
        (UserError) while the shipment has another purchase in progress or a label."""
        for purchase in self.label_purchase_id.filtered(
            lambda p: p.state in ("failed", "unconfirmed")
        ):
            shipment = purchase.shipment_id.sudo()
            if purchase.state == "failed":  # an unconfirmed one is the shipment's active one
                shipment._check_no_label_purchase()
            purchase.sudo()._set_state("in_progress", failure=False)
            shipment.write(
                {"label_purchase_id": purchase.id, "carrier_backend_id": purchase.backend_id.id}
            )
        replays = super()._replay(reason, payload=payload)
        for replay in replays.filtered("label_purchase_id"):
            replay.label_purchase_id.sudo().message_id = replay
        return replays

    def _on_delivered_carrier_shipment_create(self, response):
        """Rates are in: buy the one the backend's rule chooses, with this shipment's key."""
        shipment = self.shipment_id
        backend = self.backend_id
        purchase = self.label_purchase_id
        try:
            carrier_shipment = easypost.parse_shipment(response)
            rate = easypost.choose_rate(
                carrier_shipment.rates,
                backend.carrier_rate_rule or "cheapest",
                backend.carrier_preferred,
                backend.carrier_preferred_service,
            )
        except (ValueError, TypeError, KeyError) as error:
            self._label_failed(self.env._("No usable rate: %(error)s", error=error))
            return
        shipment.write(
            {
                "carrier_shipment_ref": carrier_shipment.id,
                "carrier_name": rate.carrier,
                "carrier_service": rate.service,
                "freight_estimate": rate.amount,
            }
        )
        buy = self._create_outbound(
            backend,
            "label_buy",
            easypost.buy_request(rate.id),
            endpoint=easypost.buy_path(carrier_shipment.id),
            shipment=shipment,
            label_purchase_id=purchase.id,
        )
        purchase.write({"carrier_shipment_ref": carrier_shipment.id, "message_id": buy.id})

    def _on_delivered_label_buy(self, response):
        """The label is bought: tracking number on the transfer, the label PDF attached, and
        the label_created milestone recorded."""
        shipment = self.shipment_id
        try:
            bought = easypost.parse_shipment(response)
        except (ValueError, TypeError, KeyError) as error:
            # The carrier took the purchase (2xx): the label is likely paid for, so the
            # purchase counts as bought and no second one is started from here.
            reason = self.env._("Label answer not understood: %(error)s", error=error)
            self.label_purchase_id._set_state("bought", failure=reason)
            self._label_failed(reason, purchase_state=None)
            return
        self.label_purchase_id._set_state("bought", tracking_number=bought.tracking_code)
        picking = shipment.picking_id
        values = {
            "tracking_number": bought.tracking_code,
            "label_url": bought.label_url,
            "tracking_url": bought.tracker_public_url
            or (self.backend_id.carrier_tracking_url or "").format(tracking=bought.tracking_code)
            or False,
        }
        if bought.selected_rate:
            values["freight_actual"] = bought.selected_rate.amount
        shipment.write(values)
        if picking:
            picking.carrier_tracking_ref = bought.tracking_code
        if bought.label_pdf_url:
            self._attach_label(bought.label_pdf_url, "application/pdf")
        else:
            self._attach_label(bought.label_url, bought.label_file_type or "application/pdf")
        self.env["logistics.event"]._ingest(
            self.backend_id,
            [
                {
                    "type": "label_created",
                    "event_id": f"{bought.id}:label",
                    "occurred_at": fields.Datetime.now().isoformat() + "+00:00",
                    "shipment_ref": shipment.name,
                    "payload": {
                        "tracking_number": bought.tracking_code,
                        "carrier": shipment.carrier_name,
                        "service": shipment.carrier_service,
                        "label_url": bought.label_url,
                    },
                }
            ],
        )
        shipment._notify_shipped_when_tracked()

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
        shipment = self.shipment_id
        name = (shipment.tracking_number or shipment.name).replace("/", "_")
        shipment.label_attachment_id = self.env["ir.attachment"].create(
            {
                "name": f"Label-{name}{mimetypes.guess_extension(mimetype) or ''}",
                "raw": content,
                "mimetype": mimetype,
                "res_model": "stock.picking" if shipment.picking_id else "logistics.shipment",
                "res_id": shipment.picking_id.id or shipment.id,
            }
        )

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
        self.env["logistics.exception"].sudo()._raise(
            "label_failed",
            [
                {
                    "name": self.env._(
                        "No label for %(ref)s from %(carrier)s",
                        ref=shipment.picking_id.name or shipment.name,
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
