from odoo import api, fields, models
from odoo.exceptions import ValidationError

RULE_CODES = [
    ("freight", "Freight (base + fuel + other, per package)"),
    ("residential", "Residential Surcharge"),
    ("address_correction", "Address Correction"),
    ("reweigh", "Reweigh / Dimensional Weight"),
]
EVIDENCE_CHECKS = [
    ("none", "None: only the tolerance"),
    ("guaranteed_service", "Money-back guarantee of the service (freight)"),
    ("commercial_address", "Delivery address marked commercial (residential)"),
    ("declared_weight", "Declared package weight (reweigh)"),
]


class LogisticsFreightTolerance(models.Model):
    """How far a carrier's invoice may be from what we expect and still be reconciled.

    A line (for freight: the package's base + fuel + other charges together, against the
    label's rate) is within tolerance when ``abs(billed - expected)`` is at most the larger of
    ``tolerance_percent`` % of the package's expected freight and ``tolerance_amount``
    (converted from the rule's currency at the invoice date). The evidence check decides what
    is expected of an accessorial charge: all of it when the evidence justifies it, else
    nothing. A rule of the carrier wins over the rule of every carrier (no carrier) for the
    same charge.
    """

    _name = "logistics.freight.tolerance"
    _inherit = ["logistics.audited.mixin"]
    _description = "Freight Audit Tolerance Rule"
    _order = "carrier_backend_id, code"

    carrier_backend_id = fields.Many2one(
        "logistics.backend",
        string="Carrier",
        index=True,
        ondelete="cascade",
        domain=[("kind", "=", "carrier")],
        help="Empty: the rule of every carrier without a rule of its own for this charge.",
    )
    code = fields.Selection(RULE_CODES, string="Charge", required=True)
    tolerance_percent = fields.Float(
        string="Tolerance (%)", help="Of the package's expected freight (the label's rate)."
    )
    tolerance_amount = fields.Monetary(string="Tolerance (amount)")
    currency_id = fields.Many2one(
        "res.currency", required=True, default=lambda self: self.env.company.currency_id
    )
    evidence_check = fields.Selection(EVIDENCE_CHECKS, required=True, default="none")
    guaranteed_services = fields.Char(
        help="Guaranteed check: the services (comma-separated, as the label names them, e.g. "
        "Express, NextDayAir) whose freight is refunded when delivered late: a late delivery "
        "(after the promised or estimated date) expects no freight at all.",
    )
    weight_tolerance_percent = fields.Float(
        string="Weight Tolerance (%)",
        default=10.0,
        help="Declared weight check: a reweigh charge is justified only when the billed weight "
        "is more than the declared package weight by more than this.",
    )
    active = fields.Boolean(default=True)

    _rule_uniq = models.UniqueIndex(
        "(COALESCE(carrier_backend_id, 0), code) WHERE active",
        "A carrier has one active rule per charge.",
    )

    @api.constrains("tolerance_percent", "tolerance_amount", "weight_tolerance_percent")
    def _check_positive(self):
        for rule in self:
            if (
                min(rule.tolerance_percent, rule.tolerance_amount, rule.weight_tolerance_percent)
                < 0
            ):
                raise ValidationError(self.env._("A tolerance is zero or more."))

    @api.depends("carrier_backend_id", "code")
    def _compute_display_name(self):
        codes = dict(RULE_CODES)
        for rule in self:
            carrier = rule.carrier_backend_id.name or self.env._("Every carrier")
            rule.display_name = f"{carrier}: {codes.get(rule.code, '')}"

    @api.model
    def _rules_for(self, carrier_ids):
        """{(carrier id, rule code): rule} for these carriers, the carrier's own rule first, else
        the rule of every carrier; a code without any rule is missing from the dict."""
        rules = self.search(
            [("carrier_backend_id", "in", [*carrier_ids, False])],
            order="carrier_backend_id desc nulls last",
        )
        found = {}
        for carrier_id in carrier_ids:
            for code, _label in RULE_CODES:
                rule = rules.filtered(
                    lambda r, c=code, k=carrier_id: r.code == c and r.carrier_backend_id.id == k
                ) or rules.filtered(lambda r, c=code: r.code == c and not r.carrier_backend_id)
                if rule:
                    found[carrier_id, code] = rule[0]
        return found

    def _guaranteed(self, service):
        self.ensure_one()
        names = {name.strip().lower() for name in (self.guaranteed_services or "").split(",")}
        return bool(service) and service.strip().lower() in names - {""}
