from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """Labels became one per package. A shipment that has label purchases from before gets one
    package, the whole transfer, holding them: the bought label's tracking number, rate (the
    shipment's actual freight, in its currency) and PDF move onto it, so the shipment reads as
    it did (one parcel, one label) and finance finds the rate on the package."""
    env = api.Environment(cr, SUPERUSER_ID, {})
    purchases = env["logistics.carrier.label"].search([("package_id", "=", False)], order="id")
    Package = env["logistics.package"]
    for shipment in purchases.shipment_id:
        package = Package.create(
            {
                "shipment_id": shipment.id,
                "name": shipment.picking_id.name or shipment.name,
                "source": "transfer",
            }
        )
        of_shipment = purchases.filtered(lambda p, shipment=shipment: p.shipment_id == shipment)
        of_shipment.write({"package_id": package.id})
        bought = of_shipment.filtered(lambda p: p.state == "bought")[:1]
        if bought:
            bought.label_attachment_id = shipment.label_attachment_id
            package.write(
                {
                    "tracking_number": bought.tracking_number or shipment.tracking_number,
                    "tracking_url": shipment.tracking_url,
                    "carrier_name": shipment.carrier_name,
                    "carrier_service": shipment.carrier_service,
                    "label_attachment_id": shipment.label_attachment_id.id,
                    # The rate bought was kept as the shipment's actual freight.
                    "rate_amount": shipment.freight_actual,
                    "rate_currency_id": shipment.currency_id.id,
                }
            )
