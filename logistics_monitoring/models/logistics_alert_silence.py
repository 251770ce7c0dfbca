from odoo import api, fields, models
from odoo.exceptions import ValidationError


class LogisticsAlertSilence(models.Model):
    """A silence (Alertmanager's silences): until ``ends_at``, the alerts it matches still move
    pending → firing → resolved, but nobody is told and no card opens for them.

    It matches an alert when every matcher it has holds: its rule (when set) and each
    ``label=value`` pair of ``label_filter`` (when set). A silence with neither matches every
    alert of its company.
    """

    _name = "logistics.alert.silence"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Alert Silence"
    _order = "ends_at desc, id desc"

    rule_id = fields.Many2one("logistics.alert.rule", ondelete="cascade", help="Empty: any rule.")
    label_filter = fields.Char(
        string="Labels",
        help="label=value pairs separated by commas (e.g. backend=sandbox_wms): only alerts "
        "with these label values; empty: any labels.",
    )
    starts_at = fields.Datetime(required=True, default=fields.Datetime.now)
    ends_at = fields.Datetime(string="Until", required=True)
    comment = fields.Text(required=True, help="Why, for whoever wonders later.")
    created_by_id = fields.Many2one("res.users", default=lambda self: self.env.user, readonly=True)
    active_now = fields.Boolean(string="In Effect", compute="_compute_active_now")
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )

    @api.model_create_multi
    def create(self, vals_list):
        # Who created a silence is a fact, not a value a caller chooses.
        return super().create([dict(vals, created_by_id=self.env.uid) for vals in vals_list])

    def write(self, vals):
        vals = {name: value for name, value in vals.items() if name != "created_by_id"}
        return super().write(vals)

    @api.constrains("starts_at", "ends_at", "label_filter")
    def _check_silence(self):
        for silence in self:
            if silence.ends_at <= silence.starts_at:
                raise ValidationError(self.env._("A silence ends after it starts."))
            silence._label_matchers()

    def _label_matchers(self):
        """``label_filter`` parsed: ``{label: value}`` (as a rule's label filter)."""
        self.ensure_one()
        return (
            self.env["logistics.alert.rule"]
            .new({"label_filter": self.label_filter})
            ._label_matchers()
        )

    def _compute_active_now(self):
        now = fields.Datetime.now()
        for silence in self:
            silence.active_now = silence.starts_at <= now < silence.ends_at

    @api.model
    def _in_effect(self, now):
        """The silences in effect at ``now``, all companies (the evaluation runs as superuser)."""
        return self.sudo().search([("starts_at", "<=", now), ("ends_at", ">", now)])

    def _matching(self, rule, labels, company):
        """The first of these silences that matches an alert of ``rule`` with ``labels``
        (``{label: value}``) in ``company``, else an empty recordset."""
        for silence in self:
            if silence.company_id != company or (silence.rule_id and silence.rule_id != rule):
                continue
            matchers = silence._label_matchers()
            if all(labels.get(label) == value for label, value in matchers.items()):
                return silence
        return self.browse()
