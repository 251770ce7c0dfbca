from odoo import api, fields, models


class LogisticsFreightDisputeWizard(models.TransientModel):
    """Dispute mismatched or unmatched carrier invoice lines: a note for the carrier and the
    credit expected (by default, what the lines were billed over the expected cost: all of an
    unmatched line)."""

    _name = "logistics.freight.dispute.wizard"
    _description = "Dispute Carrier Invoice Lines"

    line_ids = fields.Many2many(
        "logistics.carrier.invoice.line", "logistics_freight_dispute_line_rel", string="Lines"
    )
    currency_id = fields.Many2one("res.currency", compute="_compute_currency_id")
    note = fields.Text(required=True, help="Why the lines are disputed, for the carrier.")
    credit = fields.Monetary(string="Expected Credit", required=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        ids = self.env.context.get("active_ids") or []
        if self.env.context.get("active_model") == "logistics.carrier.invoice.line" and ids:
            lines = self.env["logistics.carrier.invoice.line"].browse(ids)
            values["line_ids"] = [fields.Command.set(lines.ids)]
            values["credit"] = sum(max(line.variance, 0.0) for line in lines)
        return values

    @api.depends("line_ids")
    def _compute_currency_id(self):
        for wizard in self:
            wizard.currency_id = wizard.line_ids.currency_id[:1]

    def action_dispute(self):
        self.ensure_one()
        self.line_ids._dispute(self.note, self.credit)
        self.line_ids._close_settled_exceptions()
        return {"type": "ir.actions.act_window_close"}
