from psycopg2 import errors

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_access import check_manager
from odoo.addons.queue_job.exception import RetryableJobError


class LogisticsException(models.Model):
    _inherit = "logistics.exception"

    unmapped_status = fields.Char(
        readonly=True,
        help="The carrier tracking status that no Carrier Status Mapping row maps "
        "(mapping_missing).",
    )
    unmapped_status_detail = fields.Char(readonly=True)
    waiting_message_ids = fields.One2many(
        "logistics.message",
        "status_mapping_exception_id",
        string="Waiting Messages",
        help="Webhook messages of this status, dead until a mapping row maps it; adding the row "
        "processes them again.",
    )

    # One open exception per backend and unmapped status and detail, however many messages
    # carry it, even when two jobs meet the new status at the same time.
    _open_unmapped_status_uniq = models.UniqueIndex(
        "(backend_id, unmapped_status, COALESCE(unmapped_status_detail, ''))"
        " WHERE unmapped_status IS NOT NULL AND is_closed IS NOT TRUE"
    )

    @api.model
    def _raise_unmapped_status(self, backend, status, status_detail, messages):
        """The open mapping_missing exception of a carrier status (and detail) that no mapping row
        maps, created on its first message; ``messages`` (inbound, dead) wait on it.

        :raises RetryableJobError: a concurrent transaction raised the same exception; the job
            is retried and then finds it
        """
        exception = self.sudo().search(
            [
                ("backend_id", "=", backend.id),
                ("unmapped_status", "=", status),
                ("unmapped_status_detail", "=", status_detail or False),
                ("is_closed", "=", False),
            ],
            limit=1,
        )
        if not exception:
            code = f"{status} / {status_detail}" if status_detail else status
            try:
                with self.env.cr.savepoint():
                    exception = self.sudo()._raise(
                        "mapping_missing",
                        [
                            {
                                "name": self.env._(
                                    "%(backend)s: tracking status %(code)s is not mapped",
                                    backend=backend.code,
                                    code=code,
                                ),
                                "backend_id": backend.id,
                                "message_id": messages[:1].id,
                                "unmapped_status": status,
                                "unmapped_status_detail": status_detail or False,
                                "description": self.env._(
                                    "%(adapter)s sent the tracking status %(code)s, which no row "
                                    "of Logistics → Configuration → Carrier Status Mapping maps to "
                                    "a milestone. Its webhook messages are kept (dead) and are "
                                    "processed again as soon as a row for it is added.",
                                    adapter=backend.adapter,
                                    code=code,
                                ),
                                "company_id": backend.company_id.id,
                            }
                        ],
                    )
            except errors.UniqueViolation as error:
                raise RetryableJobError(
                    f"another transaction raised the exception of status {code} first",
                    seconds=2,
                ) from error
        messages.status_mapping_exception_id = exception
        return exception

    def _board_actions(self):
        actions = super()._board_actions()
        if (
            self.type_code == "label_failed"
            and self.shipment_id
            and not self.is_closed
            and self._is_manager()
        ):
            actions.insert(
                0, ("action_route_alternate_carrier", self.env._("Route to alternate carrier"))
            )
        return actions

    def _replayable_messages(self):
        """With the messages waiting for the status mapping: once a mapping row exists, their
        replay applies them (until then it dies again)."""
        waiting = self.waiting_message_ids.filtered(
            lambda message: message.state == "dead" and not message.replay_ids
        )
        return (super()._replayable_messages() | waiting).sorted("id")

    def action_route_alternate_carrier(self):
        """One click on a label_failed exception: refund the labels the shipment's packages
        got from the failing carrier, then buy every package's label from the next carrier
        backend by priority. The exception closes itself when those labels are created.

        :raises UserError: not a Logistics Manager (the call pays for labels), not a
            label_failed exception of a shipment, no carrier after the current one, the
            shipment went to that carrier already, or a purchase of the shipment is in progress
            or unconfirmed (see ``logistics.shipment._reroute``)
        """
        check_manager(self.env, self.env._("buy a label from another carrier"))
        for exception in self:
            shipment = exception.shipment_id
            if exception.type_code != "label_failed" or not shipment:
                raise UserError(self.env._("Only a failed label can go to another carrier."))
            current = exception.backend_id or shipment.carrier_backend_id
            alternate = current._next_carrier(shipment.company_id)
            if not alternate:
                raise UserError(
                    self.env._(
                        "There is no carrier after %(carrier)s: add a carrier backend with a "
                        "higher sequence, or fix the data and replay the message.",
                        carrier=current.name,
                    )
                )
            shipment._reroute(alternate)
            routed = self.env._(
                "Routed from %(old)s to %(new)s by %(user)s.",
                old=current.name,
                new=alternate.name,
                user=self.env.user.name,
            )
            exception.message_post(body=routed)
            self.env["logistics.audit.log"]._record("board_action", exception, summary=routed)
        return True
