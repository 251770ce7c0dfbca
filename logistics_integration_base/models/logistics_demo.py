from datetime import timedelta

from odoo import api, fields, models


class LogisticsDemo(models.AbstractModel):
    """Builds the demo story through the same paths real data takes: confirmed sale orders
    create shipments, partner events go through ingestion."""

    _name = "logistics.demo"
    _description = "Logistics Demo Story"

    @api.model
    def _load_history_extras(self, start, end):
        """Hook, called once after ``setup/run`` generated the demo database's history
        (``setup/monitoring_history.py``: shipments, events, messages, SLA rows and exceptions
        from ``start`` to ``end``, naive UTC datetimes). An addon adds what it shows of that
        period (the alert rules: alerts that fired and resolved) by overriding it and calling
        ``super()``. Returns nothing; the base adds nothing.
        """

    @api.model
    def _load_story(self):
        env = self.env
        wms = env.ref("logistics_integration_base.demo_backend_wms")
        carrier = env.ref("logistics_integration_base.demo_backend_carrier")
        now = fields.Datetime.now()

        def at(hours_ago):
            return (now - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S+00:00")

        def order(partner_xmlid, lines):
            sale = env["sale.order"].create(
                {
                    "partner_id": env.ref(partner_xmlid).id,
                    "order_line": [
                        (0, 0, {"product_id": env.ref(product).id, "product_uom_qty": qty})
                        for product, qty in lines
                    ],
                }
            )
            sale.action_confirm()
            return sale.picking_ids.logistics_shipment_ids[:1]

        def events(backend, shipment, steps, prefix):
            return env["logistics.event"]._ingest(
                backend,
                [
                    {
                        "type": event_type,
                        "occurred_at": at(hours_ago),
                        "event_id": f"{prefix}-{n}",
                        "shipment_ref": shipment.name,
                        "payload": payload,
                    }
                    for n, (event_type, hours_ago, payload) in enumerate(steps)
                ],
            )

        # 1. Happy path: warehouse and carrier take the order to the customer's door.
        happy = order("base.res_partner_2", [("product.product_product_12", 2)])
        happy.write(
            {
                "wms_backend_id": wms.id,
                "carrier_backend_id": carrier.id,
                "tracking_number": "EZ1000000001",
            }
        )
        events(
            wms,
            happy,
            [
                ("wms_acknowledged", 50, {"wms_order": "ACME-7781"}),
                ("picked", 48, {"lines": 1}),
                ("packed", 47, {"parcels": 1}),
                ("shipped", 46, {"parcels": 1}),
            ],
            "demo-happy-wms",
        )
        events(
            carrier,
            happy,
            [
                ("label_created", 46.5, {"carrier": "USPS", "service": "Priority"}),
                ("in_transit", 30, {"location": "Memphis, TN"}),
                ("out_for_delivery", 6, {"location": "Columbus, OH"}),
                ("delivered", 2, {"signed_by": "J. Doe"}),
            ],
            "demo-happy-carrier",
        )

        # 2. Partial shipment: the warehouse ships 3 of 5; the rest follows as a backorder.
        partial = order("base.res_partner_3", [("product.product_product_16", 5)])
        partial.write({"wms_backend_id": wms.id, "carrier_backend_id": carrier.id})
        events(
            wms,
            partial,
            [
                ("wms_acknowledged", 20, {}),
                ("picked", 18, {"ordered": 5, "picked": 3}),
                ("shipped", 16, {"ordered": 5, "shipped": 3, "backorder": 2}),
            ],
            "demo-partial-wms",
        )

        # 3. An exception being worked: the carrier could not deliver.
        failed = order("base.res_partner_4", [("product.product_product_27", 1)])
        failed.write(
            {
                "wms_backend_id": wms.id,
                "carrier_backend_id": carrier.id,
                "tracking_number": "EZ1000000003",
            }
        )
        events(
            wms,
            failed,
            [("picked", 30, {}), ("packed", 29, {}), ("shipped", 28, {})],
            "demo-failed-wms",
        )
        events(
            carrier,
            failed,
            [
                ("in_transit", 20, {}),
                ("delivery_attempted", 4, {"reason": "recipient_unavailable"}),
                ("exception", 3, {"reason": "address_not_found"}),
                # Late delivery of an older scan, and a WMS claiming a carrier milestone: both kept
                # on the timeline, neither moves the status.
                ("in_transit", 10, {"late_scan": True}),
            ],
            "demo-failed-carrier",
        )
        events(wms, failed, [("delivered", 1, {"note": "WMS guess"})], "demo-failed-notowner")
        env["logistics.exception"]._raise(
            "delivery_failed",
            [
                {
                    "name": f"{failed.name}: carrier could not find the address",
                    "shipment_id": failed.id,
                    "backend_id": carrier.id,
                    "user_id": env.ref("base.user_admin").id,
                    "stage_id": env.ref(
                        "logistics_integration_base.exception_stage_in_progress"
                    ).id,
                    "description": "Carrier exception 'address_not_found' after a failed attempt.",
                }
            ],
        )

        # 4. A return: the customer sends the happy-path order back.
        picking = happy.picking_id
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
        picking.move_ids.picked = True
        picking._action_done()
        wizard = (
            env["stock.return.picking"]
            .with_context(active_id=picking.id, active_model="stock.picking")
            .create({})
        )
        for line in wizard.product_return_moves:
            line.quantity = line.move_id.quantity
        returned = wizard._create_return().logistics_shipment_ids[:1]
        returned.write({"carrier_backend_id": carrier.id, "tracking_number": "EZ1000000004"})
        events(carrier, returned, [("returning", 1.5, {}), ("returned", 0.5, {})], "demo-return")

        # 5. A partner event nobody can match: rejected, and an exception for a person.
        env["logistics.event"]._ingest(
            carrier,
            [
                {
                    "type": "in_transit",
                    "occurred_at": at(1),
                    "event_id": "demo-orphan-1",
                    "tracking_number": "EZ9999999999",
                }
            ],
        )
