"""Known data for the SLA dashboard's tests, small enough to count by hand.

Company A (a new company: the demo data stays out of the counts), WMS ``db_wms``, carriers
``db_c1`` and ``db_c2``, company A's warehouse, two sales channels:

- S1 (carrier c1, channel East): every main milestone, released → acknowledged in 60 s, delivered
  an hour ago: complete;
- S2 (carrier c2, channel West): released → acknowledged in 120 s, then delivered: incomplete;
- S3 (carrier c1): released → acknowledged in 300 s, ten days ago;
- S4: no milestone yet (awaiting release).

The released → acknowledged latencies over 30 days are then 60, 120, 300 s (percentile_cont:
p50 120, p95 282, p99 296.4); over 7 days 60, 120 s (p50 90, p95 117, p99 119.4).

SLA rows (the policies are deactivated: the rows are written here, not by the evaluation): S3
wms_acknowledgement at risk; S1 wms_dispatch breached 2 h ago; S2 carrier_first_scan breached an
hour ago; S1 channel_dispatch_confirmed on time; S2 promised_delivery met before its due time. Due
in the last days: S1 (late), S2 (late), S2 (on time): breach rate c1 1.0, c2 0.5.

Messages: db_wms 2 dead and 1 done, db_c1 1 done. Exceptions: one open high missing_tracking on
S2, one open critical on S1, one closed.

Company B: SB released → acknowledged in 10,000 s, its own open exception and dead letter. Users:
``dash_user`` (Logistics User, company A), ``dash_user_b`` (company B).
"""

from datetime import timedelta

from odoo import fields
from odoo.tests import new_test_user

from odoo.addons.logistics_integration_base.tests.common import GROUP_MANAGER, GROUP_USER


def iso(moment):
    return moment.isoformat() + "+00:00"


# The main progression, with the backend kind that owns each milestone (ownership rules).
MAIN = [
    ("order_released", "odoo"),
    ("wms_acknowledged", "wms"),
    ("picked", "wms"),
    ("packed", "wms"),
    ("label_created", "carrier"),
    ("tracking_published", "carrier"),
    ("shipped", "wms"),
    ("in_transit", "carrier"),
    ("out_for_delivery", "carrier"),
    ("delivered", "carrier"),
]


def record_events(env, shipment, wms, carrier, milestones):
    """Record ``milestones`` (``[(code, occurred_at)]``) of ``shipment`` from their owners."""
    Event = env["logistics.event"].sudo()
    owners = dict(MAIN)
    for code, moment in milestones:
        event = {
            "type": code,
            "occurred_at": iso(moment),
            "event_id": f"{shipment.name}-{code}",
            "shipment_ref": shipment.name,
        }
        if owners[code] == "odoo":
            Event._record_odoo_events(wms, [event])
        else:
            Event._ingest(wms if owners[code] == "wms" else carrier, [event])


def build_dashboard_data(case):
    """Build the data above on ``case`` (in setUpClass); sets ``case.now``, ``case.s1`` …
    ``case.s4``, ``case.sb``, ``case.wms``, ``case.c1``, ``case.c2``, ``case.east``,
    ``case.west``, ``case.company_a``, ``case.company_b``, ``case.user``, ``case.user_b``,
    ``case.manager``."""
    env = case.env
    env["logistics.subscription"].sudo().search([]).unlink()
    env["logistics.sla.policy"].sudo().search([]).write({"active": False})
    case.now = now = fields.Datetime.now().replace(microsecond=0)
    case.company_a = company_a = env["res.company"].create({"name": "Dash Company A"})
    case.company_b = env["res.company"].create({"name": "Dash Company B"})
    Backend = env["logistics.backend"].sudo().with_company(company_a)

    def backend(name, code, kind, company=company_a):
        return Backend.create({"name": name, "code": code, "kind": kind, "company_id": company.id})

    case.wms = backend("Dash WMS", "db_wms", "wms")
    case.c1 = backend("Dash Carrier One", "db_c1", "carrier")
    case.c2 = backend("Dash Carrier Two", "db_c2", "carrier")
    Team = env["crm.team"].sudo()
    case.east = Team.create({"name": "Dash East", "company_id": company_a.id})
    case.west = Team.create({"name": "Dash West", "company_id": company_a.id})
    warehouse = env["stock.warehouse"].sudo().search([("company_id", "=", company_a.id)], limit=1)
    Shipment = env["logistics.shipment"].sudo().with_company(company_a)

    def shipment(carrier, channel):
        return Shipment.create(
            {
                "direction": "outgoing",
                "company_id": company_a.id,
                "warehouse_id": warehouse.id,
                "channel_id": channel.id,
                "wms_backend_id": case.wms.id,
                "carrier_backend_id": carrier.id,
            }
        )

    case.s1 = shipment(case.c1, case.east)
    case.s2 = shipment(case.c2, case.west)
    case.s3 = shipment(case.c1, case.east)
    case.s4 = shipment(case.c1, case.east)
    t1 = now - timedelta(hours=12)
    offsets = [0, 60, 600, 1200, 1800, 1900, 3600, 7200, 9000]
    s1_milestones = [
        (code, t1 + timedelta(seconds=offset))
        for (code, _owner), offset in zip(MAIN, offsets, strict=False)
    ]
    s1_milestones.append(("delivered", now - timedelta(hours=1)))
    record_events(env, case.s1, case.wms, case.c1, s1_milestones)
    t2 = now - timedelta(hours=6)
    record_events(
        env,
        case.s2,
        case.wms,
        case.c2,
        [
            ("order_released", t2),
            ("wms_acknowledged", t2 + timedelta(seconds=120)),
            ("delivered", now - timedelta(minutes=30)),
        ],
    )
    t3 = now - timedelta(days=10)
    record_events(
        env,
        case.s3,
        case.wms,
        case.c1,
        [("order_released", t3), ("wms_acknowledged", t3 + timedelta(seconds=300))],
    )

    policies = {
        p.code: p
        for p in env["logistics.sla.policy"].sudo().with_context(active_test=False).search([])
    }
    Sla = env["logistics.shipment.sla"].sudo()

    def sla(ship, code, state, due, **extra):
        return Sla.create(
            dict(
                {
                    "shipment_id": ship.id,
                    "policy_id": policies[code].id,
                    "state": state,
                    "started_at": due - timedelta(hours=1),
                    "at_risk_at": due - timedelta(minutes=12),
                    "due_at": due,
                    "company_id": ship.company_id.id,
                },
                **extra,
            )
        )

    sla(case.s3, "wms_acknowledgement", "at_risk", now + timedelta(minutes=10))
    sla(
        case.s1,
        "wms_dispatch",
        "breached",
        now - timedelta(hours=2),
        breached_at=now - timedelta(hours=2),
    )
    sla(
        case.s2,
        "carrier_first_scan",
        "breached",
        now - timedelta(hours=1),
        breached_at=now - timedelta(hours=1),
    )
    sla(case.s1, "channel_dispatch_confirmed", "on_time", now + timedelta(hours=1))
    sla(
        case.s2,
        "promised_delivery",
        "met",
        now - timedelta(hours=3),
        met_at=now - timedelta(hours=4),
    )

    Message = env["logistics.message"].sudo()

    def message(backend, state, company=None):
        return Message.create(
            {
                "direction": "outbound",
                "backend_id": backend.id,
                "operation": "order_release",
                "state": state,
                "state_changed_at": now - timedelta(hours=2),
                "company_id": (company or company_a).id,
            }
        )

    message(case.wms, "dead")
    message(case.wms, "dead")
    message(case.wms, "done")
    message(case.c1, "done")

    Exception_ = env["logistics.exception"].sudo()
    types = {t.code: t for t in env["logistics.exception.type"].sudo().search([])}

    def exception(code, ship, severity, company=None, backend=None):
        return Exception_.create(
            {
                "name": f"Dash {code}",
                "type_id": types[code].id,
                "severity": severity,
                "shipment_id": ship.id,
                "backend_id": (backend or case.c1).id,
                "company_id": (company or company_a).id,
            }
        )

    exception("missing_tracking", case.s2, "high", backend=case.c2)
    exception("delayed_dispatch", case.s1, "critical", backend=case.wms)
    closed = exception("delayed_ack", case.s3, "low", backend=case.wms)
    closed_stage = (
        env["logistics.exception.stage"].sudo().search([("is_closed", "=", True)], limit=1)
    )
    closed.write({"stage_id": closed_stage.id})

    # Company B: its own backends, shipment, exception and dead letter.
    wms_b = backend("B WMS", "db_wms_b", "wms", case.company_b)
    carrier_b = backend("B Carrier", "db_c_b", "carrier", case.company_b)
    case.sb = Shipment.with_company(case.company_b).create(
        {
            "direction": "outgoing",
            "company_id": case.company_b.id,
            "wms_backend_id": wms_b.id,
            "carrier_backend_id": carrier_b.id,
        }
    )
    tb = now - timedelta(hours=8)
    record_events(
        env,
        case.sb,
        wms_b,
        carrier_b,
        [("order_released", tb), ("wms_acknowledged", tb + timedelta(seconds=10000))],
    )
    message(wms_b, "dead", company=case.company_b)
    exception("missing_tracking", case.sb, "high", company=case.company_b, backend=carrier_b)

    env["logistics.handoff"]._cron_refresh()

    def user(login, group, company):
        return new_test_user(
            env,
            login,
            password=login.replace("_", "-"),
            groups=f"base.group_user,{group}",
            company_id=company.id,
            company_ids=[company.id],
        )

    case.user = user("dash_user", GROUP_USER, company_a)
    case.manager = user("dash_manager", GROUP_MANAGER, company_a)
    case.user_b = user("dash_user_b", GROUP_USER, case.company_b)
