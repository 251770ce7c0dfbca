from odoo import api, models


class StockMove(models.Model):
    _inherit = "stock.move"

    def _action_confirm(self, *args, **kwargs):
        # Confirmation reserves at once when it can, before the base creates the shipments:
        # release what is ready now that they exist.
        moves = super()._action_confirm(*args, **kwargs)
        moves.picking_id._logistics_release_ready()
        return moves

    def _action_assign(self, *args, **kwargs):
        result = super()._action_assign(*args, **kwargs)
        self.picking_id._logistics_release_ready()
        return result

    def _logistics_reference_unit(self):
        """The unit this move's unit is counted from (Units for Dozens; the unit itself when it
        is a reference unit): what a WMS counting pieces counts in."""
        self.ensure_one()
        root = int(self.product_uom.parent_path.split("/")[0])
        return self.env["uom.uom"].browse(root)

    def _logistics_sku(self):
        """The SKU a WMS knows this move's product by: its internal reference."""
        self.ensure_one()
        return self.product_id.default_code or f"ODOO-{self.product_id.id}"

    # --- what the WMS shipped ------------------------------------------------------------------
    def _logistics_reconcile(self, lines):
        """Match a WMS confirmation's lines to these moves (one transfer's open moves).

        :param lines: canonical confirmation lines (``wms_rest.canonical_line``): line_id, sku,
            quantity_done, and optionally uom and lots [{"lot", "quantity"}]
        :return: ``(shipped, problems, differences)``: ``{move: (quantity in the move's unit,
            [(lot name, quantity in the move's unit)])}``; what keeps the confirmation from
            being applied as reported; what differs from the order but is applied (the goods
            left), each a sentence naming the line
        """
        by_id = {str(move.id): move for move in self}
        shipped, unit_stated, problems, differences = {}, {}, [], []
        for line in lines:
            label = self.env._(
                "line %(line)s (SKU %(sku)s)",
                line=line.get("line_id") or "?",
                sku=line.get("sku") or "-",
            )
            move = by_id.get(str(line.get("line_id") or ""))
            problem = self._logistics_line_problem(move, line)
            if problem:
                problems.append(f"{label}: {problem}")
                continue
            unit = move._logistics_unit(line.get("uom"))
            if not unit:
                problems.append(
                    self.env._(
                        "%(line)s: unit %(uom)s is not a unit Odoo can convert to %(unit)s",
                        line=label,
                        uom=line["uom"],
                        unit=move.product_uom.name,
                    )
                )
                continue
            quantity, lots = shipped.get(move, (0.0, []))
            shipped[move] = (
                quantity + unit._compute_quantity(line["quantity_done"], move.product_uom, False),
                lots
                + [
                    (lot["lot"], unit._compute_quantity(lot["quantity"], move.product_uom, False))
                    for lot in line.get("lots", [])
                ],
            )
            unit_stated[move] = unit_stated.get(move, False) or bool(line.get("uom"))
        for move, (quantity, lots) in shipped.items():
            problem, difference = move._logistics_check_shipped(quantity, lots, unit_stated[move])
            if problem:
                problems.append(f"{move.product_id.display_name}: {problem}")
            differences.extend(difference)
        return shipped, problems, differences

    def _logistics_line_problem(self, move, line):
        """Why a confirmation line can't be matched to ``move`` (its line_id's move, or an empty
        recordset), or None."""
        sku = line.get("sku")
        if not move:
            product = (
                self.env["product.product"].search([("default_code", "=", sku)], limit=1)
                if sku
                else self.env["product.product"]
            )
            if sku and not product:
                return self.env._(
                    "the order has no such line, and no product has the SKU %(sku)s", sku=sku
                )
            return self.env._("the order has no such line")
        if sku and sku != move._logistics_sku():
            return self.env._(
                "the WMS reports SKU %(sku)s on the line of %(product)s (SKU %(expected)s)",
                sku=sku,
                product=move.product_id.display_name,
                expected=move._logistics_sku(),
            )
        return None

    def _logistics_unit(self, name):
        """The unit a confirmation line states (by name, any case), if Odoo can convert it to
        this move's; the move's unit when the line states none; else an empty recordset."""
        self.ensure_one()
        if not name:
            return self.product_uom
        # Units travel by their English name (``_logistics_unit_name``), whatever the language
        # of the user or job.
        return (
            self.env["uom.uom"]
            .with_context(lang="en_US")
            .search([("name", "=ilike", name)])
            .filtered(lambda unit: unit._has_common_reference(self.product_uom))[:1]
            .with_context(lang=self.env.lang)
        )

    @api.model
    def _logistics_unit_name(self, unit):
        """A unit's name as partners get it: its English name, not the user's translation."""
        return unit.with_context(lang="en_US").name

    def _logistics_check_shipped(self, quantity, lots, unit_stated):
        """What keeps ``quantity`` and ``lots`` (in this move's unit) from being applied, and
        what differs from the order: ``(problem or None, [differences])``."""
        self.ensure_one()
        unit = self.product_uom
        ordered = self.product_uom_qty
        differences = []
        reference = self._logistics_reference_unit()
        ordered_in_reference = unit._compute_quantity(ordered, reference, False)
        if not unit_stated and unit != reference:
            # Without a unit, the release's is meant; but more than ordered, or exactly the
            # quantity counted in the reference unit, is what a WMS counting pieces reports.
            counted_in_reference = unit.compare(quantity, ordered) != 0 and (
                reference.compare(quantity, ordered_in_reference) == 0
            )
            if unit.compare(quantity, ordered) > 0 or counted_in_reference:
                return self.env._(
                    "%(quantity)s shipped for %(ordered)s %(unit)s ordered, without a unit: "
                    "the WMS may count in %(base)s (%(ordered_base)s). It must state the unit.",
                    quantity=f"{quantity:g}",
                    ordered=f"{ordered:g}",
                    unit=unit.name,
                    base=reference.name,
                    ordered_base=f"{ordered_in_reference:g}",
                ), []
        if unit.compare(quantity, ordered) > 0:
            differences.append(
                self.env._(
                    "%(product)s: ordered %(ordered)s %(unit)s, shipped %(quantity)s "
                    "(%(extra)s more)",
                    product=self.product_id.display_name,
                    ordered=f"{ordered:g}",
                    unit=unit.name,
                    quantity=f"{quantity:g}",
                    extra=f"{quantity - ordered:g}",
                )
            )
        if self.product_id.tracking == "none" or unit.is_zero(quantity):
            return None, differences
        if not lots:
            return self.env._("tracked by lot or serial number, shipped without one"), differences
        if unit.compare(sum(lot_quantity for _lot, lot_quantity in lots), quantity) != 0:
            return self.env._(
                "the lots add up to %(lots)s, the line to %(quantity)s",
                lots=f"{sum(q for _lot, q in lots):g}",
                quantity=f"{quantity:g}",
            ), differences
        names = {name for name, _quantity in lots}
        known = self.env["stock.lot"].search(
            [
                ("product_id", "=", self.product_id.id),
                ("name", "in", list(names)),
                ("company_id", "in", [False, self.company_id.id]),
            ]
        )
        new = names - set(known.mapped("name"))
        if new and not self.picking_type_id.use_create_lots:
            return self.env._(
                "lot(s) %(lots)s unknown to Odoo, and %(operation)s doesn't create lots",
                lots=", ".join(sorted(new)),
                operation=self.picking_type_id.display_name,
            ), differences
        reserved = set(self.move_line_ids.lot_id.mapped("name"))
        if reserved and names != reserved:
            differences.append(
                self.env._(
                    "%(product)s: lot(s) %(shipped)s shipped, %(reserved)s reserved",
                    product=self.product_id.display_name,
                    shipped=", ".join(sorted(names)),
                    reserved=", ".join(sorted(reserved)),
                )
            )
        return None, differences

    def _logistics_set_shipped(self, quantity, lots):
        """Make what the WMS shipped this move's picked quantity: ``quantity`` as Odoo reserves
        it, or, with ``lots`` [(name, quantity in the move's unit)], one move line per lot (an
        existing lot of the product, else a new one by name, which Odoo creates at validation
        when the operation type allows it)."""
        self.ensure_one()
        if not lots:
            self.quantity = quantity
            self.picked = True
            return
        # What Odoo reserved gives way to what the WMS shipped (picked lines included).
        self.move_line_ids.unlink()
        known = {
            lot.name: lot
            for lot in self.env["stock.lot"].search(
                [
                    ("product_id", "=", self.product_id.id),
                    ("name", "in", [name for name, _quantity in lots]),
                    ("company_id", "in", [False, self.company_id.id]),
                ]
            )
        }
        self.env["stock.move.line"].create(
            [
                dict(
                    place,
                    move_id=self.id,
                    picking_id=self.picking_id.id,
                    product_id=self.product_id.id,
                    product_uom_id=self.product_uom.id,
                    location_dest_id=self.location_dest_id.id,
                    lot_id=known[name].id if name in known else False,
                    lot_name=False if name in known else name,
                    picked=True,
                )
                for name, lot_quantity in lots
                for place in self._logistics_lot_places(known.get(name), lot_quantity)
            ]
        )
        self.picked = True

    def _logistics_lot_places(self, lot, quantity):
        """Where ``quantity`` (in this move's unit) of ``lot`` leaves from: its quants under the
        move's source location, in Odoo's removal order (sublocations and packages included);
        what they don't hold, from the source location itself. [{location_id, package_id,
        quantity}]"""
        places = []
        left = self.product_uom._compute_quantity(quantity, self.product_id.uom_id, False)
        if lot:
            for quant in self.env["stock.quant"]._gather(self.product_id, self.location_id, lot):
                take = min(left, quant.quantity)
                if self.product_id.uom_id.compare(take, 0) <= 0:
                    continue
                places.append(
                    {
                        "location_id": quant.location_id.id,
                        "package_id": quant.package_id.id,
                        "quantity": self.product_id.uom_id._compute_quantity(
                            take, self.product_uom, False
                        ),
                    }
                )
                left -= take
        if self.product_id.uom_id.compare(left, 0) > 0 or not places:
            places.append(
                {
                    "location_id": self.location_id.id,
                    "package_id": False,
                    "quantity": self.product_id.uom_id._compute_quantity(
                        left, self.product_uom, False
                    ),
                }
            )
        return places
