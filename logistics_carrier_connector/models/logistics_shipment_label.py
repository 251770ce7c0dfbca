import logging

from odoo import fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL
from odoo.tools.pdf import merge_pdf

from ..adapters import easypost
from .logistics_carrier_label import ACTIVE_STATES
from .stock_picking import open_pdf_action

_logger = logging.getLogger(__name__)


class LogisticsShipment(models.Model):
    """Labels, one per package: which carrier, the purchases, their refunds, and what the
    transfer shows of them (carrier, tracking reference, price, labels as one PDF).

    Every path to a label goes through ``_request_labels``: the WMS's packed confirmation, its
    shipped confirmation without a packed one before it, Odoo's validation of the transfer
    (the shipping method's ``send_shipping``), a reroute, a replay. It buys for the packages that
    have no label yet, and the database's unique index (one active purchase per package) stops
    any second one."""

    _inherit = "logistics.shipment"

    def _request_labels(self, backend=None, retry_failed=False):
        """Start a label purchase for each package of the shipment that has none in progress,
        unconfirmed or bought (nor a failed one, unless ``retry_failed``: after a failure a
        person chooses, by a replay or a reroute), from ``backend`` (default: the shipment's
        carrier backend, else the transfer's shipping method's, else the first carrier backend
        by priority). Packages come from ``_packages_to_ship`` (the WMS's list, Odoo's
        packages, or the whole transfer).

        :return: the purchases started (``logistics.carrier.label``), empty when every package
            has its label or there is no carrier backend
        :raises UserError: see ``_labels_refusal``

        Two transactions starting purchases at the same time: the shipment's row lock makes
        the second wait, then fail with a serialization error, which Odoo's request and job
        runners retry, and the retry sees the first one's purchases; the unique index stops any
        path that would skip the lock."""
        Label = self.env["logistics.carrier.label"].sudo()
        started = Label
        held_states = ACTIVE_STATES if retry_failed else (*ACTIVE_STATES, "failed")
        for shipment in self.sudo():
            shipment._lock_for_labels()
            carrier = backend or shipment._label_backend()
            if not carrier:
                continue
            refusal = shipment._labels_refusal(carrier)
            if refusal:
                raise UserError(refusal)
            held = shipment.label_purchase_ids.filtered(lambda p: p.state in held_states)
            new = Label
            # A package with its tracking number has its label (bought here, or printed by
            # the WMS itself): it gets no other.
            to_label = shipment._packages_to_ship().filtered(lambda p: not p.tracking_number)
            for package in to_label - held.package_id:
                new |= shipment._start_label_purchase(carrier, package)
            if new:
                shipment.write({"carrier_backend_id": carrier.id, "label_purchase_id": new[-1].id})
                shipment._set_transfer_carrier(carrier)
            started |= new
        return started

    def _request_labels_when_possible(self):
        """``_request_labels`` for what happens without a person (a WMS confirmation): a
        shipment with no carrier backend, an unconfirmed purchase or labels at another carrier
        is left as it is (its exception, or its labels, already tell)."""
        for shipment in self.sudo().filtered("picking_id"):
            carrier = shipment._label_backend()
            if carrier and not shipment._labels_refusal(carrier):
                shipment._request_labels(carrier)

    def _labels_refusal(self, carrier):
        """Why no label purchase may start for this shipment at ``carrier``, in a person's
        words, or None: the shipment waits for refunds before a reroute, a purchase's outcome is
        unknown (the carrier may have sold the label: a person decides), or the shipment's
        labels are at another carrier (reroute it, or cancel them first)."""
        self.ensure_one()
        if self.reroute_backend_id:
            return self.env._(
                "%(ref)s is being routed to %(carrier)s: its labels are bought there once the "
                "first carrier has taken the refunds of its labels.",
                ref=self.name,
                carrier=self.reroute_backend_id.name,
            )
        active = self.label_purchase_ids.filtered(lambda p: p.state in ACTIVE_STATES)
        unconfirmed = active.filtered(lambda p: p.state == "unconfirmed")
        if unconfirmed:
            return unconfirmed[0]._refusal()
        elsewhere = active.filtered(lambda p: p.backend_id != carrier)
        if elsewhere:
            return self.env._(
                "%(ref)s has labels at %(carrier)s: route it to another carrier from its "
                "label_failed exception, or cancel its labels first.",
                ref=self.name,
                carrier=elsewhere[0].backend_id.name,
            )
        return None

    def _lock_without_pending_purchase(self):
        """``_lock_for_labels``, then refuse (UserError, with the reason) while a purchase is in
        progress or its outcome is unknown: its labels can't be refunded or moved yet."""
        self.ensure_one()
        self._lock_for_labels()
        pending = self.label_purchase_ids.filtered(
            lambda p: p.state in ("in_progress", "unconfirmed")
        )
        if pending:
            raise UserError(pending[0]._refusal())

    def _packages_settled(self):
        """A shipment's packages are settled while a label of theirs is in progress,
        unconfirmed or bought (a new package list would need new labels)."""
        self.ensure_one()
        return (
            any(purchase.state in ACTIVE_STATES for purchase in self.sudo().label_purchase_ids)
            or super()._packages_settled()
        )

    def _lock_for_labels(self):
        """Lock the shipment's row until the transaction ends (see ``_request_labels``). Under
        REPEATABLE READ, a transaction that changed the row meanwhile makes the lock fail with
        a serialization error instead of this reading stale purchases. NO KEY UPDATE: events
        and messages may still reference the shipment meanwhile."""
        self.ensure_one()
        self.flush_recordset()
        self.env["logistics.carrier.label"].flush_model()
        self.env["logistics.package"].flush_model()
        self.env.cr.execute(
            SQL("SELECT id FROM logistics_shipment WHERE id = %s FOR NO KEY UPDATE", self.id)
        )
        self.invalidate_recordset(["label_purchase_ids", "package_ids"])

    def _label_backend(self):
        """The carrier backend labels are bought from: the shipment's, else the transfer's
        shipping method's (of the shipment's company only), else the first by priority."""
        self.ensure_one()
        method = self.picking_id.carrier_id
        method_backend = (
            method.delivery_type == "logistics"
            and method.sudo().logistics_backend_id.filtered(
                lambda b: b.company_id == self.company_id
            )
        )
        return (
            self.carrier_backend_id
            or method_backend
            or self.env["logistics.backend"]._next_carrier(self.company_id)
        )

    def _start_label_purchase(self, carrier, package):
        purchase = self.env["logistics.carrier.label"].create(
            {"shipment_id": self.id, "package_id": package.id, "backend_id": carrier.id}
        )
        purchase.message_id = self.env["logistics.message"]._create_outbound(
            carrier,
            "carrier_shipment_create",
            self._carrier_shipment_document(carrier, package),
            endpoint=easypost.SHIPMENTS_PATH,
            shipment=self,
            label_purchase_id=purchase.id,
        )
        return purchase

    def _carrier_shipment_document(self, carrier, package):
        """The EasyPost Shipment to rate for one package: its weight in kg (the backend's
        default weight when the package weighs nothing), its dimensions in cm, the warehouse's
        and the customer's addresses. The reference names the shipment and the package. The
        shipment's cash on delivery (``cod_amount``) goes with its first package only, as
        EasyPost's COD options: the consignee pays once, whatever the number of parcels."""
        self.ensure_one()
        options = {"label_format": "PDF"}
        if self.cod_amount and package == self.package_ids[:1]:
            options.update(easypost.cod_options(self.cod_amount, self.currency_id.name))
        picking = self.picking_id
        warehouse = self.warehouse_id or picking.picking_type_id.warehouse_id
        return easypost.shipment_request(
            reference=f"{self.name}/{package.name}",
            from_address=easypost.partner_address(
                warehouse.partner_id or self.company_id.partner_id
            ),
            to_address=easypost.partner_address(self.partner_id or picking.partner_id),
            parcel=easypost.parcel_from_kg(
                package._weight_kg() or carrier.carrier_default_weight, *package._dimensions_cm()
            ),
            options=options,
        )

    def _choose_rate(self, carrier, rates):
        """The rate to buy from ``rates`` (``easypost.Rate``): the transfer's shipping method's
        service when it is a method of this carrier backend, else the backend's Rate Choice.

        :raises ValueError: no rate fits"""
        self.ensure_one()
        method = self.picking_id.carrier_id
        if method.delivery_type == "logistics" and method.logistics_backend_id == carrier:
            return method._logistics_choose_rate(rates)
        return carrier._choose_rate(rates)

    def _set_transfer_carrier(self, carrier):
        """A transfer without a shipping method gets the first one of the carrier backend its
        labels come from, so that Odoo's Tracking button appears. A method chosen for the
        order stays, after a reroute too (its sale order's delivery line is booked again, see
        ``_book_labels``); the labels' carrier is the shipment's."""
        self.ensure_one()
        picking = self.picking_id
        method = picking.carrier_id
        if not picking or method:
            return  # the shipping method chosen for the order stays, after a reroute too
        picking.carrier_id = self.env["delivery.carrier"].search(
            [
                ("delivery_type", "=", "logistics"),
                ("logistics_backend_id", "=", carrier.id),
                ("company_id", "in", [False, self.company_id.id]),
            ],
            limit=1,
        )

    # --- what the labels bought change ----------------------------------------------------------
    def _labels_changed(self):
        """After a label was bought or refunded: the shipment's and the transfer's tracking
        reference join the packages' tracking numbers (as Odoo joins them on a transfer), and
        the actual freight is the labels' rates in the company's currency. Once every package
        has its label, the transfer's shipping method books them (``_book_labels``),
        ``label_created`` is recorded, and the customer is told when the parcels have
        shipped. (The labels' PDF follows the labels themselves: ``_refresh_label_pdf``.)"""
        for shipment in self.sudo():
            packages = shipment.package_ids
            numbers = [package.tracking_number for package in packages if package.tracking_number]
            complete = shipment._all_packages_tracked()
            shipment.write(
                {
                    "tracking_number": ",".join(numbers) or False,
                    "tracking_url": packages[:1].tracking_url or False,
                    "freight_actual": shipment._labels_cost(shipment.currency_id),
                }
            )
            picking = shipment.picking_id
            if picking:
                method = picking.carrier_id
                if complete and method.delivery_type == "logistics" and picking.state != "cancel":
                    shipment._book_labels(picking)
                else:
                    picking.carrier_tracking_ref = shipment.tracking_number
            if complete:
                shipment._record_labels_created()
                shipment._notify_shipped_when_tracked()

    def _book_labels(self, picking):
        """Book the shipment's labels on its transfer the way Odoo books any provider's
        (``stock.picking.send_to_shipper``: carrier price with the method's margin and free-over
        rule, tracking reference, the sale order's delivery line at real cost, a message).

        Booked again (after a reroute or a cancel), the sale order's delivery line booked the
        first time is the one Odoo updates, not a second one: Odoo matches delivery lines
        priced 0 only, so that line's price goes back to 0 first. The labels are bought
        whatever the booking does: when Odoo refuses it (a locked sale order, say), the
        transfer keeps its tracking reference and a person gets the reason as an activity, as
        Odoo does when a carrier fails at validation."""
        self.ensure_one()
        if picking.carrier_tracking_ref == self.tracking_number and picking.carrier_price:
            return  # booked already
        try:
            with self.env.cr.savepoint():
                picking._logistics_free_booked_delivery_line()
                picking.carrier_tracking_ref = False
                picking.send_to_shipper()
        except (UserError, ValidationError) as error:
            picking.carrier_tracking_ref = self.tracking_number
            reason = str(error)
            picking.message_post(
                body=self.env._(
                    "The labels are bought (tracking %(tracking)s) but Odoo could not book "
                    "them on the transfer and its sale order: %(reason)s",
                    tracking=self.tracking_number,
                    reason=reason,
                )
            )
            picking.activity_schedule(
                "mail.mail_activity_data_warning",
                fields.Date.context_today(self),
                note=picking._carrier_exception_note(reason),
                user_id=picking.user_id.id or picking.sale_id.user_id.id or self.env.uid,
            )

    def _record_labels_created(self):
        """The label_created milestone, once every package has its label: one event for the
        shipment (its payload lists the packages), so that a label_failed exception of one
        package is not closed by the label of another (label_created resolves label_failed).
        A new set of labels (after a reroute) is a new event; the same set, a duplicate. The
        payload's ``labels`` list each package's tracking number and rate."""
        self.ensure_one()
        bought = self._bought_labels().sorted(lambda p: p.package_id.sequence)
        self.env["logistics.event"]._ingest(
            bought[0].backend_id,
            [
                {
                    "type": "label_created",
                    "event_id": "labels:" + ",".join(bought.mapped("carrier_shipment_ref")),
                    "occurred_at": fields.Datetime.now().isoformat() + "+00:00",
                    "shipment_ref": self.name,
                    "payload": {
                        "carrier": bought[0].carrier_name,
                        "service": bought[0].carrier_service,
                        "tracking_number": self.tracking_number,
                        "label_url": self.label_url,
                        "labels": [
                            {
                                "package": purchase.package_id.name,
                                "tracking_number": purchase.tracking_number,
                                "rate": purchase.rate_amount,
                                "currency": purchase.rate_currency_id.name or None,
                            }
                            for purchase in bought
                        ],
                    },
                }
            ],
        )

    def _bought_labels(self):
        self.ensure_one()
        return self.label_purchase_ids.filtered(lambda p: p.state == "bought")

    def _labels_cost(self, currency, states=("bought",)):
        """What the labels of purchases in ``states`` cost, in ``currency`` (Odoo's rates of
        today): the bought ones by default (the actual freight); with ``ACTIVE_STATES``, the
        rates chosen so far (the estimate)."""
        self.ensure_one()
        today = fields.Date.context_today(self)
        return sum(
            purchase.rate_currency_id._convert(
                purchase.rate_amount, currency, self.company_id, today
            )
            if purchase.rate_currency_id
            else purchase.rate_amount
            for purchase in self.label_purchase_ids.filtered(lambda p: p.state in states)
        )

    def _all_packages_tracked(self):
        """Whether the shipment has packages and each has its tracking number (its label)."""
        self.ensure_one()
        return bool(self.package_ids) and all(self.package_ids.mapped("tracking_number"))

    def _refresh_label_pdf(self):
        """The shipment's label: the bought labels as one PDF attachment on the transfer (or
        the shipment), the label itself when there is one. The merged PDF is made again only
        when the labels change (the ids of its labels are its description), and the one it
        replaces is deleted."""
        self.ensure_one()
        attachments = (
            self._bought_labels()
            .sorted(lambda p: (p.package_id.sequence, p.package_id.id))
            .mapped("label_attachment_id")
        )
        previous = self.label_attachment_id
        signature = ",".join(str(attachment.id) for attachment in attachments)
        if len(attachments) <= 1:
            label = attachments
        elif previous and previous not in attachments and previous.description == signature:
            label = previous
        else:
            label = self._merge_label_pdfs(attachments, signature)
        labels = self.label_purchase_ids.label_attachment_id
        if previous and previous not in labels and previous != label:
            previous.sudo().unlink()  # a merged PDF of labels that changed, not a label
        self.label_attachment_id = label

    def _merge_label_pdfs(self, attachments, signature):
        if any(attachment.mimetype != "application/pdf" for attachment in attachments):
            return attachments[:1]  # ZPL or PNG labels: each stays on its package
        try:
            merged = merge_pdf([attachment.raw for attachment in attachments])
        except Exception as error:  # pypdf raises its own errors on a damaged file
            _logger.warning("labels of %s not merged into one PDF: %s", self.name, error)
            return attachments[:1]
        return self.env["ir.attachment"].create(
            {
                "name": f"Labels-{(self.picking_id.name or self.name).replace('/', '_')}.pdf",
                "raw": merged,
                "mimetype": "application/pdf",
                "description": signature,
                "res_model": "stock.picking" if self.picking_id else "logistics.shipment",
                "res_id": self.picking_id.id or self.id,
            }
        )

    def action_open_labels(self):
        """Open the shipment's labels (all packages, one PDF) in the browser's PDF viewer.

        :raises UserError: no label is bought yet"""
        self.ensure_one()
        attachment = self.label_attachment_id
        if not attachment:
            raise UserError(self.env._("%(ref)s has no label yet.", ref=self.name))
        return open_pdf_action(attachment)

    # --- refunds: cancel, reroute ---------------------------------------------------------------
    def _cancel_labels(self, reason):
        """Refund every bought label of the shipment (EasyPost's refund is asynchronous:
        submitted now, refunded or rejected later), which frees its packages for new labels.

        :param str reason: why, for the chatter and the purchases
        :return: the purchases whose refund was asked (``logistics.carrier.label``)
        :raises UserError: a purchase is in progress or unconfirmed (its outcome is not known:
            wait, or settle it first)"""
        refunded = self.env["logistics.carrier.label"]
        for shipment in self.sudo():
            shipment._lock_without_pending_purchase()
            bought = shipment._bought_labels()
            bought._request_refund(reason)
            refunded |= bought
            if bought:
                shipment.message_post(
                    body=self.env._(
                        "Refund asked for %(count)s label(s) at %(carrier)s: %(reason)s",
                        count=len(bought),
                        carrier=bought[0].backend_id.name,
                        reason=reason,
                    )
                )
        return refunded

    def _reroute(self, alternate):
        """Move the shipment's labels to ``alternate`` (a carrier backend): the labels bought at
        the current carrier are refunded first, then every package is bought from
        ``alternate``, once the carrier has taken the refund requests (``_continue_reroute``);
        at once when there is nothing to refund.

        :raises UserError: the shipment went to ``alternate`` already, or a purchase is in
            progress or unconfirmed (see ``_cancel_labels``)"""
        for shipment in self.sudo():
            shipment._lock_without_pending_purchase()
            if alternate in (shipment.carrier_backend_id, shipment.reroute_backend_id):
                raise UserError(
                    self.env._(
                        "%(ref)s went to %(carrier)s already.",
                        ref=shipment.name,
                        carrier=alternate.name,
                    )
                )
            refunds = shipment._cancel_labels(
                self.env._("routed to %(carrier)s", carrier=alternate.name)
            )
            shipment.write({"carrier_backend_id": alternate.id, "reroute_backend_id": alternate.id})
            if not refunds:
                shipment._continue_reroute()

    def _continue_reroute(self, settled=None):
        """Buy every package's label from the carrier the shipment is being rerouted to, once
        no refund request of it is waiting for the carrier's answer (``settled``: the refund
        message that just got its answer, or died)."""
        for shipment in self.sudo().filtered("reroute_backend_id"):
            waiting = shipment.label_purchase_ids.refund_message_id.filtered(
                lambda m: m != settled and m.state not in ("done", "dead")
            )
            if waiting:
                continue
            alternate = shipment.reroute_backend_id
            shipment.reroute_backend_id = False
            shipment._request_labels(alternate, retry_failed=True)
