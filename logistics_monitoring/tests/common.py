"""A shipment with a story to tell, for the timeline's tests: released by Odoo, acknowledged and
picked by the WMS (the pick sent twice), labelled by the carrier before the WMS's packed
confirmation arrived (late), a shipped milestone from the carrier, which the WMS owns (not
owner), a label purchase that died on 503s and was replayed, and an exception resolved by a
Manager. Nothing scanned yet: in_transit is the open gap."""

from datetime import timedelta

from odoo import Command, fields
from odoo.tests import new_test_user

from odoo.addons.logistics_integration_base.tests.common import GROUP_MANAGER, GROUP_USER

TRACKING = "TRK-TIMELINE-1"
# A W3C trace id that only an event of the shipment carries (a partner's own traceparent).
PARTNER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def iso(moment):
    return moment.isoformat() + "+00:00"


def build_story(case):
    """Build the story on ``case`` (a test class, in setUpClass): sets ``case.shipment``,
    ``case.sale``, ``case.picking``, ``case.wms``, ``case.carrier``, ``case.t0``, ``case.dead``,
    ``case.replay``, ``case.exception``, ``case.inbound``, ``case.user`` (Logistics User,
    password "timeline-user") and ``case.manager``."""
    env = case.env
    env["logistics.subscription"].search([]).unlink()
    Backend = env["logistics.backend"]
    case.wms = Backend.create({"name": "Timeline WMS", "code": "tl_wms", "kind": "wms"})
    case.carrier = Backend.create(
        {"name": "Timeline Carrier", "code": "tl_carrier", "kind": "carrier"}
    )
    customer = env["res.partner"].create({"name": "Timeline Customer"})
    product = env["product.product"].create(
        {"name": "Timeline Widget", "type": "consu", "is_storable": True}
    )
    case.sale = env["sale.order"].create(
        {
            "partner_id": customer.id,
            "order_line": [Command.create({"product_id": product.id, "product_uom_qty": 1})],
        }
    )
    case.sale.action_confirm()
    case.picking = case.sale.picking_ids
    case.shipment = case.picking.logistics_shipment_ids
    case.shipment.sudo().write(
        {
            "tracking_number": TRACKING,
            "wms_backend_id": case.wms.id,
            "carrier_backend_id": case.carrier.id,
        }
    )
    case.user = new_test_user(
        env,
        "timeline_user",
        password="timeline-user",
        groups=f"base.group_user,{GROUP_USER}",
    )
    case.manager = new_test_user(
        env,
        "timeline_manager",
        password="timeline-manager",
        groups=f"base.group_user,{GROUP_MANAGER}",
    )
    now = fields.Datetime.now().replace(microsecond=0)
    case.t0 = t0 = now - timedelta(hours=3)
    Event = env["logistics.event"]
    ref = case.shipment.name

    def event(code, minutes, event_id, **extra):
        return dict(
            type=code,
            occurred_at=iso(t0 + timedelta(minutes=minutes)),
            event_id=event_id,
            shipment_ref=ref,
            **extra,
        )

    # What Odoo did itself: the release (owner Odoo), recorded with the WMS backend.
    Event._record_odoo_events(case.wms, [event("order_released", 0, "odoo-release-tl")])
    # The WMS's acknowledgement came in a webhook message, with its own trace id.
    case.inbound = env["logistics.message"].create(
        {
            "direction": "inbound",
            "backend_id": case.wms.id,
            "operation": "webhook",
            "payload": {"type": "wms_acknowledged", "event_id": "wms-ack-tl"},
            "request_body": '{"type": "wms_acknowledged", "event_id": "wms-ack-tl"}',
            "state": "done",
        }
    )
    Event.sudo()._ingest(
        case.wms,
        [
            event(
                "wms_acknowledged",
                2,
                "wms-ack-tl",
                traceparent=f"00-{PARTNER_TRACE}-" + "1" * 16 + "-01",
            )
        ],
        messages=[case.inbound],
    )
    picked = event("picked", 10, "wms-pick-tl")
    Event.ingest_events("tl_wms", [picked])
    Event.ingest_events("tl_wms", [picked])  # the WMS sent its pick again: a duplicate
    Event.ingest_events(
        "tl_carrier",
        [
            event(
                "label_created",
                20,
                "ep-label-tl",
                payload={
                    "message": "Label created",
                    "location": {"city": "HOUSTON", "state": "TX", "zip": "77063"},
                    "signed_by": None,
                },
            )
        ],
    )
    # The WMS's packed confirmation, stamped before the label, arrived after it: late.
    Event.ingest_events("tl_wms", [event("packed", 15, "wms-pack-tl")])
    # The carrier says shipped; the WMS is the system of record for it: not owner.
    Event.ingest_events("tl_carrier", [event("shipped", 25, "ep-shipped-tl")])

    # Odoo's label purchase died on 503s, then a Manager replayed it.
    Message = env["logistics.message"]
    case.dead = Message.create(
        {
            "direction": "outbound",
            "backend_id": case.carrier.id,
            "operation": "label_buy",
            "payload": {"rate": "rate_1", "api_key": "***"},
            "shipment_id": case.shipment.id,
            "correlation_id": case.shipment.correlation_id,
            "state": "dead",
            "attempts": 2,
            "http_status": 503,
            "error_class": "transient",
            "error": "HTTP 503: Service Unavailable",
        }
    )
    env["logistics.message.attempt"].create(
        [
            {
                "message_id": case.dead.id,
                "number": number,
                "attempted_at": t0 + timedelta(minutes=20, seconds=number),
                "http_status": 503,
                "error_class": "transient",
                "error": "HTTP 503: Service Unavailable",
                "latency_ms": 120 * number,
            }
            for number in (1, 2)
        ]
    )
    case.replay = case.dead.with_user(case.manager).action_replay("The carrier is back")
    # An exception about the shipment, resolved by a Manager (audited).
    case.exception = env["logistics.exception"]._raise(
        "label_failed",
        [{"name": f"No label for {ref}", "shipment_id": case.shipment.id}],
    )
    closed = env["logistics.exception.stage"].search([("is_closed", "=", True)], limit=1)
    case.exception.with_user(case.manager).write(
        {"stage_id": closed.id, "resolution_note": "Bought by hand on the carrier's site"}
    )
