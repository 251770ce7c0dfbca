from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """A backend's *Tracking Silence* (``carrier_tracking_hours``, removed) becomes an SLA
    policy scoped to that carrier when it differs from the default policy's 48 hours: nobody's
    setting is silently changed. The column stays in the table, as Odoo leaves it."""
    cr.execute(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_name = 'logistics_backend' AND column_name = 'carrier_tracking_hours'"
    )
    if not cr.fetchone():
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    default = env.ref("logistics_carrier_connector.sla_policy_tracking_silence", False)
    if not default:
        return
    cr.execute(
        "SELECT id, carrier_tracking_hours * 60 FROM logistics_backend"
        " WHERE kind = 'carrier' AND carrier_tracking_hours > 0"
    )
    settings = cr.fetchall()
    if len({minutes for _id, minutes in settings}) == 1:
        # One setting for every backend: it is the policy.
        default.duration_minutes = settings[0][1]
        return
    # Several: a policy of its own for each backend that differs (the default one still
    # watches every backend too).
    settings = [(i, m) for i, m in settings if m != default.duration_minutes]
    for backend_id, minutes in settings:
        backend = env["logistics.backend"].browse(backend_id)
        default.copy(
            {
                "name": f"{backend.name} tracking moves at least every {minutes // 60} hours",
                "code": f"carrier_tracking_silence_{backend.code}",
                "duration_minutes": minutes,
                "carrier_backend_id": backend.id,
                "sequence": default.sequence - 1,
            }
        )
