from odoo import api, fields, models


class LogisticsExceptionBoardWizard(models.TransientModel):
    """The board's quick actions that need a word from the person: resolve with a note,
    snooze until a time. Both audited."""

    _name = "logistics.exception.board.wizard"
    _description = "Resolve or Snooze Exceptions"

    mode = fields.Selection(
        [("resolve", "Resolve"), ("snooze", "Snooze")], required=True, default="resolve"
    )
    exception_ids = fields.Many2many("logistics.exception", string="Exceptions")
    note = fields.Text(help="What was done, and why (resolving); why it can wait (snoozing).")
    snooze_until = fields.Datetime(
        default=lambda self: fields.Datetime.add(fields.Datetime.now(), hours=4)
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if self.env.context.get("active_model") == "logistics.exception":
            values.setdefault("exception_ids", [(6, 0, self.env.context.get("active_ids") or [])])
        return values

    def action_confirm(self):
        self.ensure_one()
        if self.mode == "resolve":
            resolved = self.env.ref("logistics_integration_base.exception_stage_resolved")
            self.exception_ids.write({"stage_id": resolved.id, "resolution_note": self.note})
        else:
            self.exception_ids._snooze(self.snooze_until, self.note)
        return {"type": "ir.actions.act_window_close"}
