from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_access import check_manager

from ..adapters import easypost

LABEL_STATES = [
    ("in_progress", "In progress"),
    ("unconfirmed", "Outcome unknown"),
    ("bought", "Bought"),
    ("failed", "Failed"),
    ("refund_submitted", "Refund submitted"),
    ("refunded", "Refunded"),
    ("refund_rejected", "Refund rejected"),
]
# The life cycle, in one place: state -> states it may move to. A failed purchase is taken up
# again only by replaying its dead message (while the package has no other purchase). A
# purchase the carrier never answered (timeouts, 5xx until the last attempt) may have been
# bought: it is "unconfirmed" and holds the package until its replay (same Idempotency-Key:
# the carrier answers with the label if it sold one) or a Logistics Manager who checked the
# carrier marks it failed. A bought label that is not used any more (the transfer's shipment
# cancelled, a reroute to another carrier) is refunded: EasyPost's refund is asynchronous
# (submitted, then refunded or rejected), and a submitted refund frees the package for its
# next label. A rejected refund is a label paid for and not used: a person sees it.
TRANSITIONS = {
    "in_progress": {"bought", "failed", "unconfirmed"},
    "unconfirmed": {"in_progress", "failed"},
    "failed": {"in_progress"},
    "bought": {"refund_submitted"},
    "refund_submitted": {"refunded", "refund_rejected"},
    "refunded": set(),
    # EasyPost takes a refund asked again after a rejection; its Event then says refunded.
    "refund_rejected": {"refunded"},
}
# The states that hold the package's one label (see the unique index below).
ACTIVE_STATES = ("in_progress", "unconfirmed", "bought")


class LogisticsCarrierLabel(models.Model):
    """One label purchase of one package from a carrier backend: the carrier shipment that
    gets the rates (one EasyPost Shipment per package), then the purchase of the chosen rate
    (two outbound messages, one after the other), and the refund when the label is not used.

    A package has at most one purchase in progress, unconfirmed or bought, enforced by the
    database (a partial unique index): a double click, two users at the same time, a replay,
    the WMS's shipped confirmation after its packed one, Odoo's validation of the transfer, or
    a second reroute can't pay for a second label. A failed purchase, or a refund submitted,
    frees the package for the next one (e.g. at the alternate carrier)."""

    _name = "logistics.carrier.label"
    _description = "Carrier Label Purchase"
    _order = "id desc"
    _rec_name = "shipment_id"

    shipment_id = fields.Many2one(
        "logistics.shipment", required=True, index=True, ondelete="cascade", readonly=True
    )
    package_id = fields.Many2one("logistics.package", index=True, ondelete="cascade", readonly=True)
    backend_id = fields.Many2one(
        "logistics.backend", string="Carrier", required=True, ondelete="restrict", readonly=True
    )
    state = fields.Selection(LABEL_STATES, required=True, default="in_progress", readonly=True)
    message_id = fields.Many2one(
        "logistics.message",
        string="Current Message",
        readonly=True,
        help="The purchase's latest message: the carrier shipment, then the label purchase.",
    )
    message_ids = fields.One2many("logistics.message", "label_purchase_id", readonly=True)
    carrier_shipment_ref = fields.Char(string="Carrier Shipment ID", readonly=True)
    tracking_number = fields.Char(readonly=True, index="btree_not_null")
    carrier_name = fields.Char(string="Rate Carrier", readonly=True)
    carrier_service = fields.Char(string="Rate Service", readonly=True)
    rate_amount = fields.Monetary(
        string="Rate",
        currency_field="rate_currency_id",
        readonly=True,
        help="The price of the rate bought, in the carrier's currency.",
    )
    rate_currency_id = fields.Many2one("res.currency", readonly=True)
    label_attachment_id = fields.Many2one("ir.attachment", string="Label", readonly=True)
    refund_message_id = fields.Many2one("logistics.message", readonly=True)
    failure = fields.Text(readonly=True, help="Why the purchase failed (or its refund).")
    company_id = fields.Many2one(related="shipment_id.company_id", store=True, index=True)

    _one_active_per_package = models.UniqueIndex(
        "(package_id) WHERE state IN ('in_progress', 'unconfirmed', 'bought')",
        "A package has one label at a time: a purchase is already in progress or bought.",
    )

    @api.depends("shipment_id.name", "package_id.name", "backend_id.name")
    def _compute_display_name(self):
        for purchase in self:
            package = f" / {purchase.package_id.name}" if purchase.package_id else ""
            purchase.display_name = (
                f"{purchase.shipment_id.name}{package} ({purchase.backend_id.name})"
            )

    def _set_state(self, state, **values):
        for purchase in self:
            if state != purchase.state and state not in TRANSITIONS[purchase.state]:
                raise UserError(
                    self.env._(
                        "The label purchase of %(ref)s can't go from %(old)s to %(new)s.",
                        ref=purchase.shipment_id.name,
                        old=purchase.state,
                        new=state,
                    )
                )
        self.write(dict(values, state=state))

    def _rate_values(self, rate):
        """The columns of a rate (``easypost.Rate``): carrier, service, amount and currency (an
        unknown or inactive currency code leaves the currency empty)."""
        currency = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", (rate.currency or "").upper())], limit=1)
        )
        return {
            "carrier_name": rate.carrier,
            "carrier_service": rate.service,
            "rate_amount": rate.amount,
            "rate_currency_id": currency.id,
        }

    def _check_can_resume(self):
        """A failed purchase taken up again (its message replayed) must still be the one its
        package needs: refused (UserError) when the package has another label purchase in
        progress or bought, or the shipment's labels went to another carrier."""
        self.ensure_one()
        shipment = self.shipment_id.sudo()
        shipment._lock_for_labels()
        active = shipment.label_purchase_ids.filtered(lambda p: p.state in ACTIVE_STATES)
        same_package = active.filtered(lambda p: p.package_id == self.package_id)
        if same_package:
            raise UserError(same_package[0]._refusal())
        elsewhere = active.filtered(lambda p: p.backend_id != self.backend_id)
        if elsewhere or (
            shipment.carrier_backend_id and shipment.carrier_backend_id != self.backend_id
        ):
            raise UserError(
                self.env._(
                    "%(ref)s went to %(carrier)s since this purchase failed: its labels are "
                    "bought there.",
                    ref=shipment.name,
                    carrier=(elsewhere[:1].backend_id or shipment.carrier_backend_id).name,
                )
            )

    # --- refunds ------------------------------------------------------------------------------
    def _request_refund(self, reason):
        """Ask the carrier to refund these bought labels (``POST /v2/shipments/<id>/refund``,
        through the pipeline), and free their packages for another label now: the refund is
        submitted, EasyPost settles it later (``_refund_outcome``)."""
        Message = self.env["logistics.message"].sudo()
        for purchase in self.sudo():
            message = Message._create_outbound(
                purchase.backend_id,
                "label_refund",
                {},
                endpoint=easypost.refund_path(purchase.carrier_shipment_ref),
                shipment=purchase.shipment_id,
                label_purchase_id=purchase.id,
            )
            purchase._set_state("refund_submitted", refund_message_id=message.id, failure=reason)
            purchase.package_id.write(
                {
                    "tracking_number": False,
                    "tracking_url": False,
                    "carrier_name": False,
                    "carrier_service": False,
                    "rate_amount": 0.0,
                    "rate_currency_id": False,
                    "label_attachment_id": False,
                }
            )
        for shipment in self.shipment_id:
            shipment._refresh_label_pdf()
        self.shipment_id._labels_changed()

    def _refund_outcome(self, status, reason=None):
        """Where a submitted (or rejected) refund stands, by EasyPost's ``refund_status``:
        refunded (its label_refund_rejected exceptions close), or rejected (a label paid for
        and not used: a label_refund_rejected exception); any other status (submitted, None)
        keeps it as it is."""
        for purchase in self.sudo().filtered(
            lambda p: p.state in ("refund_submitted", "refund_rejected")
        ):
            if status == "refunded":
                purchase._set_state("refunded")
                purchase._close_refund_exceptions()
            elif status == "rejected" and purchase.state == "refund_submitted":
                purchase._set_state("refund_rejected", failure=reason or purchase.failure)
                purchase._raise_refund_rejected(reason)

    def _close_refund_exceptions(self):
        exceptions = (
            self.env["logistics.exception"]
            .sudo()
            .search(
                [
                    ("type_code", "=", "label_refund_rejected"),
                    ("is_closed", "=", False),
                    ("shipment_id", "=", self.shipment_id.id),
                    ("message_id", "=", self.refund_message_id.id),
                ]
            )
        )
        exceptions._close_automatically(
            self.env._("The carrier refunded label %(tracking)s.", tracking=self.tracking_number)
        )

    def _raise_refund_rejected(self, reason):
        self.ensure_one()
        shipment = self.shipment_id
        self.env["logistics.exception"].sudo()._raise(
            "label_refund_rejected",
            [
                {
                    "name": self.env._(
                        "Label %(tracking)s of %(ref)s not refunded by %(carrier)s",
                        tracking=self.tracking_number or "-",
                        ref=shipment.picking_id.name or shipment.name,
                        carrier=self.backend_id.name,
                    ),
                    "shipment_id": shipment.id,
                    "backend_id": self.backend_id.id,
                    "message_id": self.refund_message_id.id,
                    "description": reason
                    or self.env._(
                        "The carrier rejected the refund: the label is paid for and not used. "
                        "Ask the carrier for a credit."
                    ),
                    "company_id": shipment.company_id.id,
                }
            ],
        )

    def _refusal(self):
        """Why this active purchase stops another one, in a person's words."""
        self.ensure_one()
        ref = self.shipment_id.name
        if len(self.shipment_id.package_ids) > 1:
            ref = f"{ref} ({self.package_id.name})"
        if self.state == "unconfirmed":
            return self.env._(
                "The label purchase for %(ref)s got no answer from %(carrier)s (message "
                "#%(message)s): the label may have been bought. Replay that message (same "
                "Idempotency-Key: the carrier answers with the label if it sold one), or mark "
                "the purchase failed once you checked on the carrier that it sold none.",
                ref=ref,
                carrier=self.backend_id.name,
                message=self.message_id.id,
            )
        if self.state == "bought":
            return self.env._(
                "%(ref)s already has a label (tracking %(tracking)s, %(carrier)s): a second "
                "one would be paid for too.",
                ref=ref,
                tracking=self.tracking_number or "-",
                carrier=self.backend_id.name,
            )
        return self.env._(
            "A label purchase for %(ref)s is already in progress (message #%(message)s, "
            "%(carrier)s): wait for its outcome.",
            ref=ref,
            message=self.message_id.id,
            carrier=self.backend_id.name,
        )

    def action_mark_failed(self):
        """A Logistics Manager checked on the carrier that an unconfirmed purchase sold no
        label: the purchase fails, which frees the shipment for another one (audited in the
        shipment's chatter).

        :raises UserError: not a Logistics Manager, or the purchase is not unconfirmed
        """
        check_manager(self.env, self.env._("mark a purchase failed"))
        for purchase in self:
            if purchase.state != "unconfirmed":
                raise UserError(
                    self.env._("Only a purchase whose outcome is unknown can be marked failed.")
                )
            purchase.sudo()._set_state(
                "failed",
                failure=self.env._(
                    "Marked failed by %(user)s: the carrier sold no label.", user=self.env.user.name
                ),
            )
            purchase.shipment_id.message_post(
                body=self.env._(
                    "Label purchase at %(carrier)s marked failed by %(user)s (no label sold).",
                    carrier=purchase.backend_id.name,
                    user=self.env.user.name,
                )
            )
        return True
