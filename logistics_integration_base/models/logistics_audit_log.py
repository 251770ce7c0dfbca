from odoo import api, fields, models
from odoo.exceptions import AccessError


class LogisticsAuditLog(models.Model):
    """Append-only record of who changed configuration or acted on messages and exceptions.

    Entries are written by the suite's code (as superuser, see ``_record``); nobody can edit or
    delete one through the UI or RPC, administrators included.
    """

    _name = "logistics.audit.log"
    _description = "Logistics Audit Log"
    _order = "id desc"
    _rec_name = "summary"

    date = fields.Datetime(default=fields.Datetime.now, required=True, readonly=True, index=True)
    user_id = fields.Many2one("res.users", required=True, readonly=True, index=True)
    action = fields.Selection(
        [
            ("create", "Created"),
            ("write", "Changed"),
            ("unlink", "Deleted"),
            ("secret_set", "Secret set"),
            ("secret_cleared", "Secret cleared"),
            ("key_rotated", "Secrets re-encrypted"),
            ("replay", "Replayed"),
            ("edit_replay", "Edited and replayed"),
            ("discard", "Discarded"),
            ("resolve", "Resolved"),
            ("reopen", "Reopened"),
            ("assign", "Assigned"),
            ("snooze", "Snoozed"),
            ("board_action", "Board action"),
        ],
        required=True,
        readonly=True,
        index=True,
    )
    model = fields.Char(required=True, readonly=True, index=True)
    res_id = fields.Many2oneReference(string="Record ID", model_field="model", readonly=True)
    record_name = fields.Char(readonly=True)
    summary = fields.Char(readonly=True)
    changes = fields.Text(
        readonly=True, help="Field changes (old → new). Secret values are never recorded."
    )
    reason = fields.Text(readonly=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)

    @api.model
    def _record(self, action, records, changes=None, reason=None, summary=None):
        """Append one entry per record; the only way entries are written."""
        label = dict(self._fields["action"]._description_selection(self.env))[action]
        vals_list = [
            {
                "user_id": self.env.uid,
                "action": action,
                "model": record._name,
                "res_id": record.id,
                "record_name": record.display_name,
                "summary": summary or f"{label}: {record._description} {record.display_name}",
                "changes": changes,
                "reason": reason,
                "company_id": record.company_id.id if "company_id" in record._fields else False,
            }
            for record in records
        ]
        return self.sudo().create(vals_list)

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(self.env._("Audit log entries are written by the system only."))
        return super().create(vals_list)

    def write(self, vals):  # pylint: disable=method-required-super
        raise AccessError(self.env._("The audit log is append-only: entries can't be changed."))

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        raise AccessError(self.env._("The audit log is append-only: entries can't be deleted."))
