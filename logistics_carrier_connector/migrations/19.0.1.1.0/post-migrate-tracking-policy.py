from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """A backend's *Tracking Silence* (``carrier_tracking_hours``, removed) becomes the time of the
    policy that replaces it (``logistics.sla.policy._adopt_backend_settings``: nobody's setting
    is changed), and the policies start for the shipments under way. The column stays in the
    table, as Odoo leaves it."""
    env = api.Environment(cr, SUPERUSER_ID, {})
    policy = env.ref("logistics_carrier_connector.sla_policy_tracking_silence", False)
    if not policy:
        return
    cr.execute(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_name = 'logistics_backend' AND column_name = 'carrier_tracking_hours'"
    )
    settings = []
    if cr.fetchone():
        cr.execute(
            "SELECT id, carrier_tracking_hours * 60 FROM logistics_backend"
            " WHERE kind = 'carrier' AND carrier_tracking_hours > 0 ORDER BY id"
        )
        settings = cr.fetchall()
    policy._adopt_backend_settings(settings, "carrier_backend_id")
