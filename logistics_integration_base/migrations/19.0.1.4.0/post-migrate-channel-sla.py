from odoo import SUPERUSER_ID, api

BASE_POLICIES = ["promised_delivery", "channel_dispatch_confirmed"]


def migrate(cr, version):
    """Shipments get the sales channel of their order (``logistics.shipment.channel_id``), and
    the base's SLA policies start for the shipments under way."""
    cr.execute(
        """
        UPDATE logistics_shipment s SET channel_id = o.team_id
          FROM sale_order o
         WHERE o.id = s.sale_id AND s.channel_id IS NULL AND o.team_id IS NOT NULL
        """
    )
    # The base's SLA policies start for the shipments under way.
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["logistics.shipment.sla"]._start_for_history(
        env["logistics.sla.policy"].search([("code", "in", BASE_POLICIES)])
    )
