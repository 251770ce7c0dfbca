from odoo import api, fields, models

from .logistics_access import check_manager


class LogisticsException(models.Model):
    """The exception form's *Replay Messages* button, shown while the exception is open and has
    messages to replay (``_replayable_messages``: its dead or rejected messages and its
    occurrences', plus what connectors link, such as the carrier's messages waiting for a
    status mapping), which is wherever its suggested actions say "replay" (mapping_missing,
    schema_invalid, processing_failed…) and a message is there to replay."""

    _inherit = "logistics.exception"

    replay_message_ids = fields.Many2many(
        "logistics.message",
        string="Messages to Replay",
        compute="_compute_replay_message_ids",
        help="The dead or rejected messages of this open exception that are not replayed yet.",
    )

    @api.depends("is_closed", "message_id.state", "message_id.replay_ids")
    def _compute_replay_message_ids(self):
        for exception in self:
            exception.replay_message_ids = (
                False if exception.is_closed else exception._replayable_messages()
            )

    def action_replay_messages(self):
        """Open the replay wizard on these exceptions' messages to replay.

        :raises AccessError: not a Logistics Manager (replaying is theirs, DESIGN §6)
        :raises UserError: nothing left to replay
        """
        check_manager(self.env, self.env._("replay messages"))
        return super().action_replay_messages()
