import json

from odoo import api, fields, models
from odoo.exceptions import UserError


class LogisticsReplayWizard(models.TransientModel):
    """Replay dead letters (one, a selection, or all matching a filter), optionally with an
    edited payload, or discard them; always with a reason, always audited."""

    _name = "logistics.replay.wizard"
    _description = "Replay or Discard Dead Letters"

    mode = fields.Selection(
        [("selection", "Selected messages"), ("filter", "All dead messages matching")],
        required=True,
        default="selection",
    )
    message_ids = fields.Many2many("logistics.message", string="Messages")
    backend_id = fields.Many2one("logistics.backend", help="Filter: only this backend.")
    error_class = fields.Selection(
        [("transient", "Transient"), ("business", "Business"), ("security", "Security")],
        help="Filter: only this error class.",
    )
    date_from = fields.Datetime(string="Died After")
    date_to = fields.Datetime(string="Died Before")
    reason = fields.Text(required=True, help="Why: kept in the audit log.")
    edit_payload = fields.Boolean(help="Replay one message with a corrected payload.")
    payload_text = fields.Text(string="Payload (JSON)")
    matching_count = fields.Integer(compute="_compute_matching")
    confirm_count = fields.Integer(
        help="Acting on all messages matching a filter: type how many match (shown above), so "
        "that nobody replays or discards more than they saw.",
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        ids = self.env.context.get("active_ids") or []
        if self.env.context.get("active_model") == "logistics.message" and ids:
            values["message_ids"] = [(6, 0, ids)]
            if len(ids) == 1:
                payload = self.env["logistics.message"].browse(ids).payload
                values["payload_text"] = json.dumps(payload, indent=2) if payload else ""
        else:
            values["mode"] = "filter"
        return values

    def _domain(self):
        domain = [("state", "=", "dead")]
        if self.backend_id:
            domain.append(("backend_id", "=", self.backend_id.id))
        if self.error_class:
            domain.append(("error_class", "=", self.error_class))
        if self.date_from:
            domain.append(("state_changed_at", ">=", self.date_from))
        if self.date_to:
            domain.append(("state_changed_at", "<=", self.date_to))
        return domain

    @api.depends("mode", "message_ids", "backend_id", "error_class", "date_from", "date_to")
    def _compute_matching(self):
        for wizard in self:
            if wizard.mode == "filter" and not wizard.message_ids:
                wizard.matching_count = self.env["logistics.message"].search_count(wizard._domain())
            else:
                wizard.matching_count = len(wizard.message_ids)

    def _messages(self):
        """The messages to act on: the ones given, whatever the mode (a wizard created over RPC
        with ``message_ids`` works on those); else, in filter mode, every dead message matching
        a filter that names at least one criterion, once ``confirm_count`` says how many.

        :raises UserError: no filter, or a count that doesn't match
        """
        if self.message_ids:
            return self.message_ids.sorted("id")
        if self.mode != "filter":
            return self.message_ids
        if not (self.backend_id or self.error_class or self.date_from or self.date_to):
            raise UserError(
                self.env._(
                    "Choose a filter (backend, error class or period): acting on every dead "
                    "letter at once needs one."
                )
            )
        messages = self.env["logistics.message"].search(self._domain(), order="id")
        if self.confirm_count != len(messages):
            raise UserError(
                self.env._(
                    "%(count)s message(s) match the filter: type that number in Confirm Count "
                    "to go ahead.",
                    count=len(messages),
                )
            )
        return messages

    def action_replay(self):
        messages = self._messages()
        if not messages:
            raise UserError(self.env._("No message to replay."))
        payload = None
        if self.edit_payload:
            if len(messages) != 1:
                raise UserError(self.env._("Edit the payload of one message at a time."))
            try:
                payload = json.loads(self.payload_text or "null")
            except ValueError as error:
                raise UserError(
                    self.env._("The payload is not valid JSON: %(error)s", error=error)
                ) from error
        replays = messages.action_replay(self.reason, payload=payload)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Replays"),
            "res_model": "logistics.message",
            "view_mode": "list,form",
            "domain": [("id", "in", replays.ids)],
        }

    def action_discard(self):
        messages = self._messages()
        if not messages:
            raise UserError(self.env._("No message to discard."))
        messages.action_discard(self.reason)
        return {"type": "ir.actions.act_window_close"}
