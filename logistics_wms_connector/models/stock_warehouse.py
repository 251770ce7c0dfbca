from odoo import fields, models


class StockWarehouse(models.Model):
    _inherit = "stock.warehouse"

    logistics_wms_backend_id = fields.Many2one(
        "logistics.backend",
        string="WMS / 3PL Backend",
        domain="[('kind', '=', 'wms'), ('company_id', '=', company_id)]",
        help="The warehouse system that picks, packs and ships this warehouse's deliveries: "
        "ready delivery orders are released to it.",
    )
