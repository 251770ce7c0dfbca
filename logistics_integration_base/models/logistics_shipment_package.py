from odoo import api, fields, models

from .logistics_package import canonical_package


class LogisticsShipment(models.Model):
    """A shipment's packages (``logistics.package``): recorded from a WMS's package list, taken
    from Odoo's packages of the transfer, or the whole transfer as one parcel."""

    _inherit = "logistics.shipment"

    package_ids = fields.One2many("logistics.package", "shipment_id", string="Packages")
    package_count = fields.Integer(compute="_compute_package_count")

    @api.depends("package_ids")
    def _compute_package_count(self):
        counts = dict(
            self.env["logistics.package"]._read_group(
                [("shipment_id", "in", self.ids)], ["shipment_id"], ["__count"]
            )
        )
        for shipment in self:
            shipment.package_count = counts.get(shipment, 0)

    def _record_packages(self, documents, source):
        """Record the packages a partner reports (canonical package documents, see
        ``logistics_package.canonical_package``) on this shipment, by reference: a new
        reference adds a package, a known one gets its weight and dimensions again until it
        has a label (what a label was bought for is not rewritten). The list is complete: a
        package of the same source that it no longer lists, and that has no label, is
        archived (no label is bought for it; its failed purchases stay for the record).

        :param list documents: canonical package documents
        :param str source: ``wms`` (a WMS's package list) or ``odoo``
        :return: the shipment's packages of those references (``logistics.package``)
        :raises ValueError: a document that is no canonical package (connectors check theirs
            when they translate them, so this is a programming error)
        """
        self.ensure_one()
        Package = self.env["logistics.package"].sudo()
        known = {
            package.name: package
            for package in self.sudo().with_context(active_test=False).package_ids
        }
        result = Package
        for sequence, document in enumerate(documents, start=1):
            values = canonical_package(document)
            columns = {
                "weight": values["weight"],
                "weight_unit": values["weight_unit"],
                "packaging_length": values["length"] or 0.0,
                "width": values["width"] or 0.0,
                "height": values["height"] or 0.0,
                "dimension_unit": values["dimension_unit"],
            }
            package = known.get(values["reference"])
            if package is None:
                package = Package.create(
                    {
                        **columns,
                        "shipment_id": self.id,
                        "name": values["reference"],
                        "source": source,
                        "sequence": sequence,
                        "tracking_number": values["tracking_number"],
                    }
                )
            elif not package.tracking_number:
                package.write(dict(columns, active=True))
            result |= package
        # The list is the shipment's packages from that source now: a package of that source
        # it no longer lists (the parcels were packed again) gets no label, unless it has one.
        dropped = (
            self.sudo().package_ids.filtered(lambda p: p.source == source and not p.tracking_number)
            - result
        )
        dropped.active = False
        return result

    def _packages_settled(self):
        """Hook: whether the shipment's packages may no longer change (the carrier connector:
        their labels are being bought or are bought). False here."""
        self.ensure_one()
        return False

    def _packages_to_ship(self):
        """The packages that get a label each: the ones recorded (from the WMS or earlier),
        else Odoo's packages of the transfer (their shipping weight, else Odoo's weight of their
        content and package type), else the whole transfer as one parcel, weighed as Odoo's
        shipping module weighs a transfer (``stock.picking.weight``): each move's quantity in
        the product's unit of measure (``product_qty``) times the product weight, cancelled
        moves left out. A transfer with nothing to weigh
        gets a parcel of weight 0; the carrier connector applies its default then.

        :return: ``logistics.package`` records, at least one
        """
        self.ensure_one()
        if self.package_ids:
            return self.package_ids
        picking = self.picking_id
        weight_unit = self._odoo_weight_unit()
        if not picking:  # a shipment of no transfer: one parcel Odoo can't weigh
            package = self._record_packages(
                [{"reference": self.name, "weight": 0, "weight_unit": weight_unit}], "odoo"
            )
            package.source = "transfer"
            return package
        stock_packages = picking.move_line_ids.result_package_id
        if stock_packages:
            weights = stock_packages.sudo()._get_weight(picking.id)
            length_uom = self.env["product.template"]._get_length_uom_id_from_ir_config_parameter()
            centimetre = self.env.ref("uom.product_uom_cm")
            documents = []
            for package in stock_packages:
                package_type = package.package_type_id
                documents.append(
                    {
                        "reference": package.name,
                        "weight": package.shipping_weight or weights[package],
                        "weight_unit": weight_unit,
                        **{
                            key: length_uom._compute_quantity(value, centimetre, round=False)
                            for key, value in (
                                ("length", package_type.packaging_length),
                                ("width", package_type.width),
                                ("height", package_type.height),
                            )
                        },
                        "dimension_unit": "cm",
                    }
                )
            packages = self._record_packages(documents, "odoo")
            for package, stock_package in zip(packages, stock_packages, strict=True):
                package.stock_package_id = stock_package
            return packages
        package = self._record_packages(
            [
                {
                    "reference": picking.name,
                    "weight": sum(
                        move.product_qty * move.product_id.weight
                        for move in picking.move_ids
                        if move.state != "cancel"
                    ),
                    "weight_unit": weight_unit,
                }
            ],
            "odoo",
        )
        package.source = "transfer"
        return package

    @api.model
    def _odoo_weight_unit(self):
        """The unit Odoo's product weights are in (kg, or lb with ``product.weight_in_lbs``)."""
        uom = self.env["product.template"]._get_weight_uom_id_from_ir_config_parameter()
        return "lb" if uom == self.env.ref("uom.product_uom_lb") else "kg"
