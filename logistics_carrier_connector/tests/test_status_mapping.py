from odoo.tests import TransactionCase, tagged

from ..adapters import easypost

# The canonical event types of DESIGN.md's taxonomy.
CANONICAL_EVENT_TYPES = {
    "order_released",
    "wms_acknowledged",
    "picked",
    "packed",
    "label_created",
    "carrier_booked",
    "tracking_published",
    "shipped",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "ready_for_pickup",
    "delivery_attempted",
    "exception",
    "returning",
    "returned",
    "cancelled",
    "freight_invoiced",
    "freight_reconciled",
    "cod_collected",
    "dispatch_confirmed",
}

# Each EasyPost tracker status, whatever its detail: (event type, reason, action required).
EXPECTED_BY_STATUS = {
    "pre_transit": ("tracking_published", None, False),
    "in_transit": ("in_transit", None, False),
    "out_for_delivery": ("out_for_delivery", None, False),
    "delivered": ("delivered", None, False),
    "available_for_pickup": ("ready_for_pickup", None, False),
    "return_to_sender": ("returning", "return_to_sender", True),
    "failure": ("exception", "delivery_failed", True),
    "error": ("exception", "carrier_error", True),
    "cancelled": ("exception", "carrier_cancelled", True),
    "unknown": (None, "unknown_status", False),
}


@tagged("post_install", "-at_install")
class TestStatusMapping(TransactionCase):
    """The EasyPost status mapping table as shipped (data): every tracker status, the details
    that refine one, and what is not mapped."""

    def mapped(self, status, detail):
        row = self.env["logistics.carrier.status.map"]._map("easypost", status, detail)
        return row.event_type_id.code or None, row.reason or None, row.action_required

    def test_every_tracker_status_maps_as_designed(self):
        rows = self.env["logistics.carrier.status.map"].search([("adapter", "=", "easypost")])
        self.assertEqual(set(EXPECTED_BY_STATUS), set(easypost.TRACKER_STATUSES))
        self.assertEqual(set(rows.mapped("status")), set(easypost.TRACKER_STATUSES))
        for status, expected in EXPECTED_BY_STATUS.items():
            for detail in (None, "status_update", "arrived_at_facility"):
                self.assertEqual(self.mapped(status, detail), expected, (status, detail))

    def test_status_details_refine_the_status(self):
        for status in ("in_transit", "out_for_delivery", "failure", "available_for_pickup"):
            self.assertEqual(
                self.mapped(status, "attempted_delivery"),
                ("delivery_attempted", "attempted_delivery", False),
                status,
            )
        for detail in ("address_not_found", "undeliverable_address"):
            self.assertEqual(self.mapped("failure", detail), ("exception", "address_invalid", True))
        self.assertEqual(self.mapped("failure", "damaged"), ("exception", "damaged", True))
        self.assertEqual(self.mapped("failure", "lost"), ("exception", "lost", True))
        self.assertEqual(
            self.mapped("in_transit", "return_to_sender"), ("returning", "return_to_sender", True)
        )
        # A detail refines its own status only.
        self.assertEqual(
            self.mapped("in_transit", "undeliverable_address"), ("in_transit", None, False)
        )
        self.assertEqual(self.mapped("delivered", "attempted_delivery"), ("delivered", None, False))

    def test_cash_on_delivery_collected_is_a_detail_of_delivered(self):
        # The carrier sandbox's convention (EasyPost has no COD event): a finance milestone.
        self.assertEqual(self.mapped("delivered", "cod_collected"), ("cod_collected", None, False))
        self.assertFalse(
            self.env.ref("logistics_integration_base.event_type_cod_collected").sets_status
        )

    def test_unmapped_statuses_give_no_row(self):
        Map = self.env["logistics.carrier.status.map"]
        self.assertIsNone(Map._map("easypost", "teleported", None))
        self.assertIsNone(Map._map("easypost", False, "attempted_delivery"))
        self.assertEqual(self.mapped("unknown", "unknown"), (None, "unknown_status", False))

    def test_rows_use_canonical_types_once_per_status_and_detail(self):
        rows = self.env["logistics.carrier.status.map"].search([("adapter", "=", "easypost")])
        for row in rows:
            self.assertIn(
                row.event_type_id.code or None, CANONICAL_EVENT_TYPES | {None}, row.status
            )
        pairs = [(row.status, row.status_detail or None) for row in rows]
        self.assertEqual(len(pairs), len(set(pairs)), "one row per status and detail")

    def test_a_manager_remaps_a_status_without_a_release(self):
        row = self.env["logistics.carrier.status.map"]._map(
            "easypost", "available_for_pickup", None
        )
        row.event_type_id = self.env.ref("logistics_integration_base.event_type_delivery_attempted")
        self.assertEqual(self.mapped("available_for_pickup", None)[0], "delivery_attempted")
