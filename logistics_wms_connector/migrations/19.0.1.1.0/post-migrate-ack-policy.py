from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """A backend's *Acknowledgement Delay* (``wms_ack_minutes``, removed) becomes the time of the
    policy that replaces it (``logistics.sla.policy._adopt_backend_settings``: nobody's setting
    is changed), and the policies start for the shipments under way. The column stays in the
    table, as Odoo leaves it."""
    env = api.Environment(cr, SUPERUSER_ID, {})
    policy = env.ref("logistics_wms_connector.sla_policy_wms_acknowledgement", False)
    if not policy:
        return
    cr.execute(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_name = 'logistics_backend' AND column_name = 'wms_ack_minutes'"
    )
    settings = []
    if cr.fetchone():
        cr.execute(
            "SELECT id, wms_ack_minutes FROM logistics_backend"
            " WHERE kind = 'wms' AND wms_ack_minutes > 0 ORDER BY id"
        )
        settings = cr.fetchall()
    policy._adopt_backend_settings(settings, "backend_id")
