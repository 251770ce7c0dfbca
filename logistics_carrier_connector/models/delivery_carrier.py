"""A shipping method (Odoo's ``delivery.carrier``) backed by a carrier backend of the suite.

Odoo calls a provider's methods by its ``delivery_type`` (``<type>_rate_shipment``,
``<type>_send_shipping``, ``<type>_get_tracking_link``, ``<type>_cancel_shipment``; see the
docstring of ``delivery.carrier`` in addons/delivery). The rate is asked synchronously of the
backend (EasyPost's ``POST /v2/shipments`` answers with the rates of every carrier of the
account); the labels are bought by the pipeline (``logistics.shipment``), which asks this method
which rate to buy (``_logistics_choose_rate``).
"""

import json
import logging
import secrets

import requests

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..adapters import easypost

_logger = logging.getLogger(__name__)


class DeliveryCarrier(models.Model):
    _inherit = "delivery.carrier"

    delivery_type = fields.Selection(
        selection_add=[("logistics", "Logistics Suite carrier backend")],
        # Uninstalled, the methods stay usable at their fixed price (the delivery product's).
        ondelete={"logistics": "set default"},
    )
    logistics_backend_id = fields.Many2one(
        "logistics.backend",
        string="Carrier Backend",
        ondelete="restrict",
        domain="[('kind', '=', 'carrier'), ('adapter', '=', 'easypost')]",
        check_company=True,
        help="The carrier backend (an EasyPost account) that rates the orders of this method and "
        "buys its labels. Its timeouts, circuit breaker and Rate Choice apply.",
    )
    logistics_carrier = fields.Char(
        string="Carrier",
        help="The carrier this method ships with, as the backend names it (e.g. USPS, UPSDAP): "
        "its cheapest rate (for the service, when one is set) is used. With carrier and service "
        "empty, the backend's Rate Choice picks among every carrier of its account.",
    )
    logistics_service = fields.Char(
        string="Service",
        help="The carrier's service this method ships with (e.g. Priority, Ground). Empty: the "
        "carrier's cheapest service. When the carrier and service are not offered for a "
        "parcel, the backend's Rate Choice applies and the rate says so in a warning.",
    )

    logistics_rate_rule = fields.Selection(
        related="logistics_backend_id.carrier_rate_rule",
        string="Backend's Rate Choice",
        help="How the backend chooses among its carriers' rates when this method's carrier "
        "and service are empty or not offered (set on the backend).",
    )
    logistics_preferred_carrier = fields.Char(
        related="logistics_backend_id.carrier_preferred",
        string="Backend's Preferred Carrier",
    )

    @api.constrains("delivery_type", "logistics_backend_id", "company_id")
    def _check_logistics_backend(self):
        for carrier in self.filtered(lambda c: c.delivery_type == "logistics"):
            backend = carrier.sudo().logistics_backend_id
            if not backend:
                raise ValidationError(
                    self.env._(
                        "The shipping method %(method)s needs a carrier backend.",
                        method=carrier.name,
                    )
                )
            if backend.kind != "carrier" or backend.adapter != "easypost":
                raise ValidationError(
                    self.env._(
                        "%(backend)s is not a carrier backend with the EasyPost adapter: it "
                        "cannot rate the orders of %(method)s.",
                        backend=backend.name,
                        method=carrier.name,
                    )
                )
            if carrier.company_id and backend.company_id != carrier.company_id:
                raise ValidationError(
                    self.env._(
                        "The shipping method %(method)s (company %(company)s) cannot use the "
                        "carrier backend %(backend)s of another company.",
                        method=carrier.name,
                        company=carrier.company_id.name,
                        backend=backend.name,
                    )
                )

    # --- the rate to buy --------------------------------------------------------------------------
    def _logistics_choose_rate(self, rates):
        """The rate to buy for this shipping method, among the rates the backend offered.

        The method's carrier and service (``logistics_carrier``, ``logistics_service``, either
        or both, compared case-insensitively) choose first: the cheapest rate offered for them.
        When they are empty, or nothing offered matches them, the backend's Rate Choice applies
        (``carrier_rate_rule`` with its preferred carrier and service,
        ``easypost.choose_rate``: cheapest, fastest or preferred).

        The same rule serves the rate on the sale order (``logistics_rate_shipment``) and the
        label purchase, so the customer pays for the service that is bought.

        :param rates: iterable of ``easypost.Rate`` (amounts in the rate's own currency)
        :return: the ``easypost.Rate`` to buy
        :raises ValueError: no rate was offered, or the backend's rule is unknown (the reason
            in words)
        """
        self.ensure_one()
        rates = list(rates or [])
        if not rates:
            raise ValueError("the carrier offered no rate to choose from")
        offered = [rate for rate in rates if self._logistics_is_method_rate(rate)]
        if offered and (self.logistics_carrier or self.logistics_service):
            return easypost.choose_rate(offered, "cheapest")
        backend = self.sudo().logistics_backend_id
        if not backend:
            raise ValueError(f"the shipping method {self.name} has no carrier backend")
        return backend._choose_rate(rates)

    def _logistics_is_method_rate(self, rate):
        """True when ``rate`` is of the method's carrier and service (an empty one matches
        any)."""
        self.ensure_one()
        return all(
            not wanted or (offered or "").casefold() == wanted.strip().casefold()
            for wanted, offered in (
                (self.logistics_carrier, rate.carrier),
                (self.logistics_service, rate.service),
            )
        )

    # --- Odoo's provider API ----------------------------------------------------------------------
    def logistics_rate_shipment(self, order):
        """The carrier's cost of shipping ``order``, asked of the backend now (Odoo's
        ``rate_shipment`` calls it, then applies the fiscal position, the margins and *free
        over*: they are not applied here).

        One parcel: the order's estimated weight (``sale.order._get_estimated_weight``, in
        Odoo's weight unit, or the weight the *Add shipping* wizard passes as ``order_weight``
        in the context, as Odoo's own providers read it) in kg, or the backend's default
        parcel weight when that is 0; from the warehouse's address (the company's when the
        warehouse has none) to the order's delivery address. The body is EasyPost's
        ``POST /v2/shipments``, sent through the backend's transport (its base URL,
        credentials and timeouts) without storing a message; nothing is bought.

        No call is made while the backend is paused, refuses our credentials, has its circuit
        open or has reached its rate limit. The outcome of a call feeds the backend's health
        and circuit breaker (``logistics.backend._record_call``, in this transaction) like a
        pipeline call's; a caller that raises on a failure (the *Add shipping* wizard's *Get
        rate*) rolls that record back with its error.

        :param order: a ``sale.order``
        :return: Odoo's rate dict: ``success`` (bool), ``price`` (float, the chosen rate's
            amount converted from the rate's currency to the order's currency at the order's
            date; 0.0 on failure), ``error_message`` (str or False: why there is no price, and
            what to do), ``warning_message`` (str or False: e.g. the method's service was not
            offered and the backend's Rate Choice gave the price)
        """
        self.ensure_one()
        backend = self.sudo().logistics_backend_id
        if not backend:
            return self._logistics_rate_failure(
                self.env._(
                    "The shipping method %(method)s has no carrier backend.", method=self.name
                )
            )
        if backend.company_id != order.company_id:
            return self._logistics_rate_failure(
                self.env._(
                    "The carrier backend %(backend)s belongs to another company than the order.",
                    backend=backend.name,
                )
            )
        unavailable = self._logistics_unavailable_message(backend)
        if unavailable:
            return self._logistics_rate_failure(unavailable)
        try:
            body = self._logistics_rate_request(order, backend)
        except ValueError as error:
            return self._logistics_rate_failure(
                self.env._("The order cannot be rated: %(reason)s.", reason=error)
            )
        shipment, error = self._logistics_post_shipment(backend, body)
        if error:
            return self._logistics_rate_failure(error)
        try:
            rate = self._logistics_choose_rate(shipment.rates)
        except ValueError as error:
            reasons = "; ".join(shipment.messages)
            return self._logistics_rate_failure(
                self.env._(
                    "%(backend)s gave no rate for this order: %(reason)s%(carriers)s.",
                    backend=backend.name,
                    reason=error,
                    carriers=f" ({reasons})" if reasons else "",
                )
            )
        currency = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", (rate.currency or "").upper())], limit=1)
        )
        if not currency.active:
            return self._logistics_rate_failure(
                self.env._(
                    "%(backend)s priced the parcel in %(currency)s, which is not an active "
                    "currency of this database: activate it (with its rates) to get prices.",
                    backend=backend.name,
                    currency=rate.currency or "-",
                )
            )
        price = currency._convert(
            rate.amount,
            order.currency_id,
            order.company_id,
            order.date_order or fields.Date.context_today(self),
        )
        warning = False
        if (self.logistics_carrier or self.logistics_service) and not (
            self._logistics_is_method_rate(rate)
        ):
            warning = self.env._(
                "%(wanted)s is not offered for this parcel: the price is of %(carrier)s "
                "%(service)s, by the backend's Rate Choice.",
                wanted=" ".join(filter(None, (self.logistics_carrier, self.logistics_service))),
                carrier=rate.carrier or "",
                service=rate.service or "",
            )
        return {"success": True, "price": price, "error_message": False, "warning_message": warning}

    def logistics_send_shipping(self, pickings):
        """Odoo's ``send_shipping`` (validation of a transfer): one result per picking, see
        ``stock.picking._logistics_send_to_carrier``.

        :return: list of dicts with ``exact_price`` and ``tracking_number``
        """
        return [picking._logistics_send_to_carrier() for picking in pickings]

    def logistics_cancel_shipment(self, pickings):
        """Odoo's ``cancel_shipment``: voids or refunds the pickings' unused labels, see
        ``stock.picking._logistics_cancel_labels``."""
        return pickings._logistics_cancel_labels()

    def logistics_get_tracking_link(self, picking):
        """Odoo's ``get_tracking_link``: the carrier's public tracking page of ``picking``, see
        ``stock.picking._logistics_tracking_link``.

        :return: str URL or False
        """
        return picking._logistics_tracking_link()

    # --- internals of the rate --------------------------------------------------------------------
    def _logistics_rate_failure(self, message):
        return {"success": False, "price": 0.0, "error_message": message, "warning_message": False}

    def _logistics_unavailable_message(self, backend):
        """Why no rate may be asked of ``backend`` now (paused, credentials refused, circuit
        open, rate limit), as a sentence for the salesperson, or None to go ahead."""
        if backend.paused:
            return self.env._(
                "%(backend)s is paused by a Logistics Manager: no rates until it is resumed. "
                "Choose another shipping method.",
                backend=backend.name,
            )
        if backend.circuit_state == "credentials_refused":
            return self.env._(
                "%(backend)s refuses our credentials: no rates until a Logistics Manager sets a "
                "new API key on the backend. Choose another shipping method.",
                backend=backend.name,
            )
        wait = backend._wait_before_call()
        if not wait:
            return None
        if backend.circuit_state == "open":
            return self.env._(
                "%(backend)s is unavailable: its last calls failed (%(error)s), so it is not "
                "called for about %(seconds)s s. Choose another shipping method, or try again "
                "later.",
                backend=backend.name,
                error=backend.last_error or "-",
                seconds=round(wait),
            )
        return self.env._(
            "%(backend)s has reached its rate limit: try again in %(seconds)s s.",
            backend=backend.name,
            seconds=max(round(wait), 1),
        )

    def _logistics_rate_request(self, order, backend):
        """The body of ``POST /v2/shipments`` that rates ``order`` (see
        ``logistics_rate_shipment``). Raises ValueError when it cannot be built."""
        weight = self.env.context.get("order_weight") or order._get_estimated_weight()
        weight_kg = self.env["logistics.package"]._weight_in(
            weight, self.env["logistics.shipment"]._odoo_weight_unit()
        )
        if not weight_kg:
            weight_kg = backend.carrier_default_weight
        sender = order.warehouse_id.partner_id or order.company_id.partner_id
        return easypost.shipment_request(
            order.name,
            easypost.partner_address(sender),
            easypost.partner_address(order.partner_shipping_id),
            easypost.parcel_from_kg(weight_kg),
        )

    def _logistics_post_shipment(self, backend, body):
        """Send the rate request through the backend's transport and record the outcome on its
        health. Returns (``easypost.CarrierShipment``, None) or (None, the failure in words)."""
        probe = backend.env["logistics.message"].new(
            {
                "direction": "outbound",
                "backend_id": backend.id,
                "operation": "rate",
                "endpoint": easypost.SHIPMENTS_PATH,
                "http_method": "POST",
                "correlation_id": secrets.token_hex(16),
                "company_id": backend.company_id.id,
            }
        )
        try:
            status, text, _retry_after, failure, error = backend._send_http(
                probe, json.dumps(body), probe._request_headers(backend)
            )
        except requests.RequestException as exc:  # an invalid URL, too many redirects...
            status, text, failure = None, "", "connection"
            error = f"request failed: {exc.__class__.__name__}"
        if not failure:
            try:
                shipment = easypost.parse_shipment(text)
            except ValueError as exc:
                failure, error = "http", f"unexpected answer: {exc}"
            else:
                backend._record_call(None)
                return shipment, None
        error_class = self.env["logistics.error.rule"].sudo()._classify(failure, status)
        _logger.info(
            "rate request to %s failed (%s, correlation %s): %s",
            backend.code,
            error_class,
            probe.correlation_id,
            error,
        )
        backend._record_call(error_class, error=error)
        if error_class == "transient":
            return None, self.env._(
                "%(backend)s is unavailable (%(error)s): no rate now. Try again in a few "
                "minutes, or choose another shipping method.",
                backend=backend.name,
                error=error,
            )
        answer = easypost.parse_error(probe._redact(text, backend), status)
        details = "; ".join(answer.field_errors)
        return None, self.env._(
            "%(backend)s refused the rate request (HTTP %(status)s): %(message)s%(details)s",
            backend=backend.name,
            status=status or "-",
            message=answer.message
            if answer.code == "UNKNOWN"
            else f"{answer.code}: {answer.message}",
            details=f" ({details})" if details else "",
        )
