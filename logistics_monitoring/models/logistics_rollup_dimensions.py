from odoo import fields, models


class LogisticsRollupDimensions(models.AbstractModel):
    """The shipment dimensions a rollup row carries (copied from its shipments when counted),
    named as on ``logistics.shipment`` so that the metric registry's shipment filters
    (``logistics.metric._shipment_filter``) apply to the rollup as they are."""

    _name = "logistics.rollup.dimensions"
    _description = "Logistics Rollup Dimensions"

    wms_backend_id = fields.Many2one("logistics.backend", string="WMS", readonly=True)
    carrier_backend_id = fields.Many2one("logistics.backend", string="Carrier", readonly=True)
    warehouse_id = fields.Many2one("stock.warehouse", readonly=True)
    channel_id = fields.Many2one("crm.team", string="Sales Channel", readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
