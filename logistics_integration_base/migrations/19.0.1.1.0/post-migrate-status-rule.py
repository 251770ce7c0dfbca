"""The ranks of the status rule (DESIGN §2) on the event types the module's data created (that
file is ``noupdate``: an update does not rewrite them), and each shipment's rank reached, from
the milestones that set its status."""

RANKS = {
    "order_released": 10,
    "wms_acknowledged": 20,
    "picked": 30,
    "packed": 40,
    "label_created": 50,
    "carrier_booked": 50,
    "tracking_published": 60,
    "shipped": 70,
    "in_transit": 80,
    "out_for_delivery": 90,
    "ready_for_pickup": 90,
    "delivery_attempted": 90,
    "delivered": 100,
    "returning": 110,
    "returned": 120,
}


def migrate(cr, version):
    for code, rank in RANKS.items():
        cr.execute(
            "UPDATE logistics_event_type t SET rank = %s"
            "  FROM ir_model_data d"
            " WHERE d.model = 'logistics.event.type' AND d.res_id = t.id"
            "   AND d.module = 'logistics_integration_base' AND d.name = %s",
            [rank, f"event_type_{code}"],
        )
    # Delivered is no longer final: a parcel can still come back (returning).
    cr.execute(
        "UPDATE logistics_event_type t SET is_final = false"
        "  FROM ir_model_data d"
        " WHERE d.model = 'logistics.event.type' AND d.res_id = t.id"
        "   AND d.module = 'logistics_integration_base' AND d.name = 'event_type_delivered'"
    )
    cr.execute(
        """
        UPDATE logistics_shipment s
           SET status_rank = reached.rank
          FROM (SELECT e.shipment_id, max(t.rank) AS rank
                  FROM logistics_event e JOIN logistics_event_type t ON t.id = e.type_id
                 WHERE e.state = 'applied' AND t.sets_status
                 GROUP BY e.shipment_id) AS reached
         WHERE s.id = reached.shipment_id
        """
    )
