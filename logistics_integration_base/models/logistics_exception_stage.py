from odoo import fields, models


class LogisticsExceptionStage(models.Model):
    _name = "logistics.exception.stage"
    _description = "Logistics Exception Stage"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    fold = fields.Boolean(help="Folded in the kanban board.")
    is_closed = fields.Boolean(help="Exceptions in this stage are done (resolved or dismissed).")
