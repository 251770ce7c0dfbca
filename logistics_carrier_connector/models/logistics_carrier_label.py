from odoo import fields, models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_access import check_manager

LABEL_STATES = [
    ("in_progress", "In progress"),
    ("unconfirmed", "Outcome unknown"),
    ("bought", "Bought"),
    ("failed", "Failed"),
]
# The life cycle, in one place: state -> states it may move to. A failed purchase is taken up
# again only by replaying its dead message (while the shipment has no other purchase). A
# purchase the carrier never answered (timeouts, 5xx until the last attempt) may have been
# bought: it is "unconfirmed" and holds the shipment until its replay (same Idempotency-Key:
# the carrier answers with the label if it sold one) or a Logistics Manager who checked the
# carrier marks it failed.
TRANSITIONS = {
    "in_progress": {"bought", "failed", "unconfirmed"},
    "unconfirmed": {"in_progress", "failed"},
    "failed": {"in_progress"},
    "bought": set(),
}
# The states that hold the shipment's one purchase (see the unique index below).
ACTIVE_STATES = ("in_progress", "unconfirmed", "bought")


class LogisticsCarrierLabel(models.Model):
    """One label purchase of a shipment from a carrier backend: the carrier shipment that gets
    the rates, then the purchase of the chosen rate (two outbound messages, one after the
    other).

    A shipment has at most one purchase in progress or bought, enforced by the database (a
    partial unique index): a double click, two users at the same time, a replay, or a second
    reroute after the label was bought can't pay for a second label. A failed purchase frees
    the shipment for the next one (e.g. at the alternate carrier)."""

    _name = "logistics.carrier.label"
    _description = "Carrier Label Purchase"
    _order = "id desc"
    _rec_name = "shipment_id"

    shipment_id = fields.Many2one(
        "logistics.shipment", required=True, index=True, ondelete="cascade", readonly=True
    )
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
    tracking_number = fields.Char(readonly=True)
    failure = fields.Text(readonly=True, help="Why the purchase failed.")
    company_id = fields.Many2one(related="shipment_id.company_id", store=True, index=True)

    _one_active_per_shipment = models.UniqueIndex(
        "(shipment_id) WHERE state IN ('in_progress', 'unconfirmed', 'bought')",
        "A shipment has one label purchase at a time: one is already in progress or bought.",
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

    def _refusal(self):
        """Why this active purchase stops another one, in a person's words."""
        self.ensure_one()
        if self.state == "unconfirmed":
            return self.env._(
                "The label purchase for %(ref)s got no answer from %(carrier)s (message "
                "#%(message)s): the label may have been bought. Replay that message (same "
                "Idempotency-Key: the carrier answers with the label if it sold one), or mark "
                "the purchase failed once you checked on the carrier that it sold none.",
                ref=self.shipment_id.name,
                carrier=self.backend_id.name,
                message=self.message_id.id,
            )
        if self.state == "bought":
            return self.env._(
                "%(ref)s already has a label (tracking %(tracking)s, %(carrier)s): a second "
                "one would be paid for too.",
                ref=self.shipment_id.name,
                tracking=self.tracking_number or "-",
                carrier=self.backend_id.name,
            )
        return self.env._(
            "A label purchase for %(ref)s is already in progress (message #%(message)s, "
            "%(carrier)s): wait for its outcome.",
            ref=self.shipment_id.name,
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
