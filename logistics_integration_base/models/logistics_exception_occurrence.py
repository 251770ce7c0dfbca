from odoo import fields, models


class LogisticsExceptionOccurrence(models.Model):
    """One sighting of an exception's root cause: a failed call, a refused file, a shipment
    hit. An exception grouped by root cause (DESIGN §5) has one occurrence per sighting; its
    count, first and last seen and affected shipments are read from them. Written by Odoo only
    (``logistics.exception._raise``)."""

    _name = "logistics.exception.occurrence"
    _description = "Logistics Exception Occurrence"
    _order = "occurred_at desc, id desc"

    exception_id = fields.Many2one(
        "logistics.exception", required=True, index=True, ondelete="cascade", readonly=True
    )
    occurred_at = fields.Datetime(
        required=True, default=fields.Datetime.now, readonly=True, index=True
    )
    shipment_id = fields.Many2one(
        "logistics.shipment", index="btree_not_null", ondelete="cascade", readonly=True
    )
    message_id = fields.Many2one(
        "logistics.message", string="Technical Message", index="btree_not_null", readonly=True
    )
    description = fields.Char(readonly=True)
    company_id = fields.Many2one(related="exception_id.company_id", store=True, index=True)
