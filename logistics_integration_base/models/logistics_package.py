"""The canonical package: one parcel of a shipment, as every connector sees it.

A WMS reports the packages it packed, Odoo knows its own (``stock.package``), a carrier sells one
label per package and tracks each one, and finance reads the rate bought for each. They all meet
here, in one shape: connectors exchange canonical package documents (``canonical_package``) and
never read each other's partner keys.
"""

import math

from odoo import api, fields, models

# Units a canonical package document may state, and the Odoo unit of measure (XML id) each is.
WEIGHT_UNITS = {
    "kg": "uom.product_uom_kgm",
    "g": "uom.product_uom_gram",
    "lb": "uom.product_uom_lb",
    "oz": "uom.product_uom_oz",
}
DIMENSION_UNITS = ("cm", "in")
CM_PER_UNIT = {"cm": 1.0, "in": 2.54}
DIMENSIONS = ("length", "width", "height")
# The package's column of each dimension (Odoo's package types call the length so too).
DIMENSION_FIELDS = {"length": "packaging_length", "width": "width", "height": "height"}
MAX_REFERENCE_LENGTH = 128
# More packages than this in one list is a partner's error, not a shipment: each one would be a
# label paid for.
MAX_PACKAGES = 200


def canonical_package(document):
    """A canonical package document, checked and normalised.

    :param dict document: ``reference`` (str, required: the package's name at its source, e.g.
        Odoo's PACK0000012 or the WMS's package id), ``weight`` (number ≥ 0, required) and
        ``weight_unit`` (kg, g, lb or oz; default kg), optional ``length``, ``width``,
        ``height`` (numbers ≥ 0) with ``dimension_unit`` (cm or in; default cm), optional
        ``tracking_number`` (str)
    :return: a new dict with exactly those keys (dimensions None when not given)
    :raises ValueError: with the reason, when the document is not one
    """
    if not isinstance(document, dict):
        raise ValueError(f"a package must be an object, not {type(document).__name__}")
    reference = document.get("reference")
    if isinstance(reference, int) and not isinstance(reference, bool):
        reference = str(reference)
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError("a package needs its 'reference'")
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise ValueError(f"a package reference is at most {MAX_REFERENCE_LENGTH} characters")
    weight_unit = document.get("weight_unit") or "kg"
    if weight_unit not in WEIGHT_UNITS:
        raise ValueError(
            f"unknown weight unit {weight_unit!r}: expected one of {', '.join(WEIGHT_UNITS)}"
        )
    dimension_unit = document.get("dimension_unit") or "cm"
    if dimension_unit not in DIMENSION_UNITS:
        raise ValueError(
            f"unknown dimension unit {dimension_unit!r}: expected one of "
            f"{', '.join(DIMENSION_UNITS)}"
        )
    tracking_number = document.get("tracking_number")
    if tracking_number is not None and not isinstance(tracking_number, str):
        raise ValueError("a package's 'tracking_number' must be a string")
    return {
        "reference": reference.strip(),
        "weight": _measure(document.get("weight"), "weight", required=True),
        "weight_unit": weight_unit,
        **{key: _measure(document.get(key), key) for key in DIMENSIONS},
        "dimension_unit": dimension_unit,
        "tracking_number": (tracking_number or "").strip() or None,
    }


def canonical_packages(documents):
    """A list of canonical package documents, each checked (``canonical_package``), with
    distinct references.

    :raises ValueError: not a list, more than ``MAX_PACKAGES``, a package that is not one, or
        a reference given twice"""
    if not isinstance(documents, list):
        raise ValueError("packages must be a list")
    if len(documents) > MAX_PACKAGES:
        raise ValueError(f"more than {MAX_PACKAGES} packages in one list")
    packages = [canonical_package(document) for document in documents]
    references = [package["reference"] for package in packages]
    if len(set(references)) != len(references):
        raise ValueError("a package reference is listed twice")
    return packages


def _measure(value, what, required=False):
    if value is None or value == "":
        if required:
            raise ValueError(f"a package needs its '{what}'")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a package's {what} must be a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"a package's {what} must be a number, not {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"a package's {what} must be a positive number, not {value!r}")
    return number


class LogisticsPackage(models.Model):
    """One parcel of a shipment: its weight and dimensions, its label and tracking number, the
    rate bought for it, and its own status on the tracking path.

    Created from a WMS's packed confirmation (its package list), from Odoo's packages of the
    transfer, or as the one parcel of a transfer packed without packages. The shipment's status
    follows its packages' (see ``logistics.event._decide``): it is delivered when all of them
    are."""

    _name = "logistics.package"
    _description = "Shipment Package"
    _order = "shipment_id, sequence, id"

    shipment_id = fields.Many2one(
        "logistics.shipment", required=True, index=True, ondelete="cascade", readonly=True
    )
    active = fields.Boolean(
        default=True,
        readonly=True,
        help="Archived: the partner's package list no longer has it (the parcels were packed "
        "again); it gets no label, and its purchases stay for the record.",
    )
    sequence = fields.Integer(default=10, readonly=True)
    name = fields.Char(
        string="Reference",
        required=True,
        readonly=True,
        help="The package's name where it was packed: Odoo's package or the WMS's package id.",
    )
    source = fields.Selection(
        [("odoo", "Odoo"), ("wms", "WMS"), ("transfer", "Whole transfer")],
        required=True,
        default="odoo",
        readonly=True,
        help="Where the package comes from: Odoo's packages of the transfer, the WMS's package "
        "list, or the whole transfer as one parcel when it has no packages.",
    )
    stock_package_id = fields.Many2one("stock.package", string="Odoo Package", readonly=True)
    weight = fields.Float(digits="Stock Weight", readonly=True)
    weight_unit = fields.Selection(
        [(unit, unit) for unit in WEIGHT_UNITS], required=True, default="kg", readonly=True
    )
    packaging_length = fields.Float(string="Length", readonly=True)
    width = fields.Float(readonly=True)
    height = fields.Float(readonly=True)
    dimension_unit = fields.Selection(
        [(unit, unit) for unit in DIMENSION_UNITS], required=True, default="cm", readonly=True
    )
    tracking_number = fields.Char(index="btree_not_null", readonly=True, copy=False)
    tracking_url = fields.Char(string="Tracking Page", readonly=True, copy=False)
    carrier_name = fields.Char(string="Carrier", readonly=True, copy=False)
    carrier_service = fields.Char(string="Service", readonly=True, copy=False)
    rate_amount = fields.Monetary(
        string="Rate Bought",
        currency_field="rate_currency_id",
        readonly=True,
        copy=False,
        help="The carrier's price of this package's label, in the carrier's currency.",
    )
    rate_currency_id = fields.Many2one("res.currency", readonly=True, copy=False)
    label_attachment_id = fields.Many2one("ir.attachment", string="Label", readonly=True)
    # The package's own status on the tracking path, by the status rule of DESIGN §2.
    status_id = fields.Many2one("logistics.event.type", readonly=True)
    status_code = fields.Char(related="status_id.code")
    status_rank = fields.Integer(readonly=True, default=0)
    status_at = fields.Datetime(readonly=True)
    status_event_ref = fields.Integer(string="Status Event ID", readonly=True, aggregator=None)
    company_id = fields.Many2one(related="shipment_id.company_id", store=True, index=True)

    _name_per_shipment = models.UniqueIndex(
        "(shipment_id, name)", "A shipment has one package of each reference."
    )

    @api.model
    def _weight_in(self, weight, unit, target_xmlid="uom.product_uom_kgm"):
        """``weight`` (a number in ``unit``, a key of ``WEIGHT_UNITS``) in the unit of measure
        ``target_xmlid``, with Odoo's own conversion (``uom.uom._compute_quantity``)."""
        source = self.env.ref(WEIGHT_UNITS[unit])
        return source._compute_quantity(weight, self.env.ref(target_xmlid), round=False)

    def _weight_kg(self):
        self.ensure_one()
        return self._weight_in(self.weight, self.weight_unit)

    def _dimensions_cm(self):
        """(length, width, height) in centimetres; None for a dimension not known."""
        self.ensure_one()
        factor = CM_PER_UNIT[self.dimension_unit]
        return tuple((self[DIMENSION_FIELDS[key]] * factor) or None for key in DIMENSIONS)

    def _canonical(self):
        """The package as a canonical package document (see ``canonical_package``)."""
        self.ensure_one()
        return {
            "reference": self.name,
            "weight": self.weight,
            "weight_unit": self.weight_unit,
            **{key: self[DIMENSION_FIELDS[key]] or None for key in DIMENSIONS},
            "dimension_unit": self.dimension_unit,
            "tracking_number": self.tracking_number or None,
        }
