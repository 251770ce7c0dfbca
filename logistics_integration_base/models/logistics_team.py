from odoo import fields, models


class LogisticsTeam(models.Model):
    """The people who own a kind of exception (warehouse, transport, integration…): an exception
    type names its team; the team's members are told of each new exception group and get the
    team's digest of open exceptions (DESIGN §5)."""

    _name = "logistics.team"
    _inherit = ["logistics.audited.mixin"]
    _description = "Logistics Team"
    _order = "name"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(required=True, index=True)
    member_ids = fields.Many2many(
        "res.users",
        string="Members",
        domain=[("share", "=", False)],
        help="Told of each new exception group of the team's types, and sent the team's digest "
        "of open exceptions.",
    )
    digest_interval = fields.Selection(
        [("hourly", "Hourly"), ("daily", "Daily"), ("never", "Never")],
        default="hourly",
        required=True,
        help="How often the members get a digest email of the team's open exceptions (only "
        "when some are open).",
    )
    last_digest_at = fields.Datetime(readonly=True)
    active = fields.Boolean(default=True)

    _code_uniq = models.Constraint("unique (code)", "A team code must be unique.")
