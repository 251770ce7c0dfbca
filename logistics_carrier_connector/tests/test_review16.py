"""Review of issue 16 (labels per package, the shipping method provider): each test shows a bug
a user or a partner would hit. They fail on the code under review; the docstring says what
happens and what should."""

import copy

from odoo import fields
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import PDF, CarrierFlowCase, label_pdf

TWO_PACKAGES = [
    {"reference": "PKG-A", "weight": 3.0, "weight_unit": "kg"},
    {"reference": "PKG-B", "weight": 4.5, "weight_unit": "kg"},
]
ADDRESS_ERROR = {"error": {"code": "ADDRESS.VERIFY.FAILURE", "message": "Unable to verify"}}


@tagged("post_install", "-at_install")
class TestReview16(CarrierFlowCase):
    def setUp(self):
        super().setUp()
        self.pdf = label_pdf()
        self.labels = self.two_carrier_labels()

    # --- helpers ------------------------------------------------------------------------------
    def two_labels_bought(self):
        (created_a, bought_a), (created_b, bought_b) = self.labels["a"], self.labels["b"]
        self.partner.answer(201, created_a).answer(201, created_b)
        self.partner.answer(200, bought_a).answer(200, self.pdf)
        self.partner.answer(200, bought_b).answer(200, self.pdf)
        self.packed(packages=TWO_PACKAGES)
        self.assertEqual(self.shipment.package_ids.mapped("tracking_number"), ["TRK-A", "TRK-B"])

    def tracked(self, tracking_code, status, status_detail, event_id):
        """A tracker.updated webhook; its scan time is now + len(event_id) minutes, so a longer
        event id is a later scan."""
        body = self.tracker_event(status, status_detail, event_id, tracking_code=tracking_code)
        return self.deliver_webhook(body)

    def logistics_method(self):
        product = self.env["product.product"].create(
            {"name": "Shipping (review)", "type": "service", "list_price": 0.0}
        )
        method = self.env["delivery.carrier"].create(
            {
                "name": "Review Carrier Method",
                "delivery_type": "logistics",
                "logistics_backend_id": self.carrier.id,
                "product_id": product.id,
                "margin": 0.1,
                "invoice_policy": "real",
            }
        )
        self.shipment.picking_id.carrier_id = method
        return method

    # --- findings -----------------------------------------------------------------------------
    def test_reroute_after_booking_bills_the_customer_once(self):
        """Labels bought at packing are booked on the transfer by Odoo's send_to_shipper (invoice
        policy: real cost), which writes the cost on the sale order's delivery line. A reroute
        then buys new labels and calls send_to_shipper again: Odoo's
        ``_get_matching_delivery_lines`` only matches delivery lines priced 0, so a SECOND
        delivery line is added and the customer is invoiced shipping twice. Expected: one
        delivery line, at the new carrier's price."""
        self.logistics_method()
        self.buy_label()
        sale = self.sale
        lines = sale.order_line.filtered("is_delivery")
        self.assertEqual(len(lines), 1)
        created = copy.deepcopy(self.created)
        created["id"] = "shp_alt"
        bought = copy.deepcopy(self.bought)
        bought["id"], bought["tracking_code"] = "shp_alt", "TRK-ALT"
        self.partner.answer(200, dict(self.bought, refund_status="submitted"))
        self.partner.answer(201, created).answer(200, bought).answer(200, PDF)
        with trap_jobs() as trap:
            self.shipment._reroute(self.alternate)
            self.run_jobs(trap)
        alternate = self.shipment.label_purchase_ids.filtered(
            lambda p: p.backend_id == self.alternate
        )
        self.assertEqual(alternate.mapped("state"), ["bought"])
        self.assertEqual(self.shipment.picking_id.carrier_tracking_ref, "TRK-ALT")
        lines = sale.order_line.filtered("is_delivery")
        self.assertEqual(
            len(lines),
            1,
            "the customer is charged shipping once: got "
            f"{[(line.name, line.price_unit) for line in lines]}",
        )

    def test_one_packages_delivery_does_not_close_anothers_failed_delivery(self):
        """Package A's delivery failed (a delivery_failed exception for a person); package B is
        then delivered. B's delivered event is held for the shipment (A is not delivered), but
        ``_react`` -> ``_auto_resolve_exceptions`` still closes the shipment's delivery_failed
        exception, because it works per shipment, not per package: nobody sees that parcel A
        did not arrive. Expected: the exception stays open until A is delivered."""
        self.two_labels_bought()
        self.tracked("TRK-A", "in_transit", "arrived_at_facility", "e1")
        self.tracked("TRK-B", "in_transit", "arrived_at_facility", "e22")
        self.tracked("TRK-A", "failure", "address_not_found", "e333")
        failed = self.shipment.exception_ids.filtered(lambda e: e.type_code == "delivery_failed")
        self.assertEqual(len(failed), 1)
        self.assertFalse(failed.is_closed)
        self.tracked("TRK-B", "delivered", "arrived_at_destination", "e4444")
        self.assertNotEqual(self.shipment.status_code, "delivered")
        self.assertFalse(
            failed.is_closed, "parcel A's failed delivery is closed by parcel B's delivery"
        )

    def test_one_packages_scan_does_not_end_anothers_exception(self):
        """Package A is in exception (failed delivery), so is the shipment. A later routine
        scan of package B (in_transit, same rank as the rank kept under A's exception) moves
        the shipment out of exception back to in_transit (``_decide``: B's rank equals the
        minimum, so the event is not held, and ``moves_status`` lets a same-rank newer event
        leave the side branch). Expected: the shipment stays in exception while one of its
        packages is (a shipment follows its slowest package, DESIGN §2 / §5b)."""
        self.two_labels_bought()
        self.tracked("TRK-A", "in_transit", "arrived_at_facility", "e1")
        self.tracked("TRK-B", "in_transit", "arrived_at_facility", "e22")
        self.tracked("TRK-A", "failure", "address_not_found", "e333")
        self.assertEqual(self.shipment.status_code, "exception")
        self.tracked("TRK-B", "in_transit", "departed_facility", "e4444")
        package_a = self.shipment.package_ids.filtered(lambda p: p.name == "PKG-A")
        self.assertEqual(package_a.status_code, "exception")
        self.assertEqual(
            self.shipment.status_code,
            "exception",
            "package A is still in exception; package B's scan ended the shipment's exception",
        )

    def test_the_shipment_follows_its_slowest_package_when_the_fastest_jumps_ahead(self):
        """A and B in transit (shipment in_transit); A out for delivery (held: B is behind);
        B delivered (held: A is behind). The slowest package is now A at out_for_delivery, but
        the shipment stays at in_transit: ``_decide`` only moves the shipment to the event's own
        rank when that rank is the new minimum, never to the new minimum reached through
        another package. Expected: out_for_delivery."""
        self.two_labels_bought()
        self.tracked("TRK-A", "in_transit", "arrived_at_facility", "e1")
        self.tracked("TRK-B", "in_transit", "arrived_at_facility", "e22")
        self.assertEqual(self.shipment.status_code, "in_transit")
        self.tracked("TRK-A", "out_for_delivery", "out_for_delivery", "e333")
        self.tracked("TRK-B", "delivered", "arrived_at_destination", "e4444")
        self.assertEqual(
            self.shipment.package_ids.mapped("status_code"), ["out_for_delivery", "delivered"]
        )
        self.assertEqual(self.shipment.status_code, "out_for_delivery")

    def test_a_package_the_wms_no_longer_lists_gets_no_label(self):
        """Both labels of a packed [A, B] failed (the carrier refused the address). The WMS
        re-packs and confirms the shipment as shipped with [A, C]: C is added, but B is never
        removed (``_record_packages`` only adds or updates), so the reroute a person then asks
        buys THREE labels for two parcels, one of them for a package that does not exist
        any more. Expected: labels for A and C only."""
        self.partner.answer(422, ADDRESS_ERROR).answer(422, ADDRESS_ERROR)
        self.packed(packages=TWO_PACKAGES)
        self.assertEqual(self.shipment.label_purchase_ids.mapped("state"), ["failed", "failed"])
        repacked = [TWO_PACKAGES[0], {"reference": "PKG-C", "weight": 1.0}]
        self.partner.answer(422, ADDRESS_ERROR)  # C at the first carrier: the same refusal
        with trap_jobs() as trap:
            self.env["logistics.event"].ingest_events(
                self.wms.code,
                [
                    self.event(
                        "shipped",
                        fields.Datetime.now().isoformat() + "+00:00",
                        "wms-shipped-1",
                        payload={"packages": repacked},
                    )
                ],
            )
            self.run_jobs(trap)
        with trap_jobs():
            self.shipment._reroute(self.alternate)
        at_alternate = self.shipment.label_purchase_ids.filtered(
            lambda p: p.backend_id == self.alternate
        )
        self.assertEqual(
            sorted(at_alternate.package_id.mapped("name")),
            ["PKG-A", "PKG-C"],
            "a label is bought for PKG-B, which the WMS no longer ships",
        )

    def test_a_refund_taken_after_its_message_died_is_recorded(self):
        """The refund request times out until its last attempt (the carrier may well have taken
        it): ``_on_dead_label_refund`` records it as refund_rejected ("the carrier rejected the
        refund ... ask the carrier for a credit"), a state with no way out. EasyPost's
        refund.successful Event then says the label was refunded, but ``_apply_refund_events``
        only looks at refund_submitted labels: the label stays refund_rejected and its
        exception open. Expected: refunded (or an unknown outcome that the Event settles)."""
        self.buy_label()
        purchase = self.shipment.label_purchase_ids
        self.carrier.write({"max_attempts": 1})
        self.partner.answer(504, {})
        with trap_jobs() as trap:
            self.shipment._cancel_labels("order cancelled")
            self.run_jobs(trap)
        self.assertEqual(purchase.refund_message_id.state, "dead")
        self.deliver_refund_event(purchase.carrier_shipment_ref, "refunded")
        self.assertEqual(purchase.state, "refunded", "the carrier refunded the label")
        rejected = self.shipment.exception_ids.filtered(
            lambda e: e.type_code == "label_refund_rejected" and not e.is_closed
        )
        self.assertFalse(rejected, "an exception asks a person to claim a credit already given")

    def stocked(self):
        picking = self.shipment.picking_id
        self.env["stock.quant"]._update_available_quantity(self.product, picking.location_id, 100)
        picking.action_assign()
        picking.move_ids.quantity = picking.move_ids.product_uom_qty
        picking.move_ids.picked = True
        picking.picking_type_id.print_label = True
        return picking

    def test_a_refunded_label_keeps_its_pdf(self):
        """Cancelling the shipment refunds its one label; ``_refresh_label_pdf`` then deletes
        the shipment's previous label attachment, which is not a merged PDF but the package's
        own label (the purchase's ``label_attachment_id``): the refunded label's PDF is gone.
        A refund can still be rejected (then the label is paid for and valid, and the PDF is
        the evidence and the way to use it). Expected: only a merged PDF is deleted."""
        self.buy_label()
        purchase = self.shipment.label_purchase_ids
        attachment = purchase.label_attachment_id
        self.assertTrue(attachment)
        self.partner.answer(200, dict(self.bought, refund_status="submitted"))
        with trap_jobs() as trap:
            self.shipment._cancel_labels("order cancelled")
            self.run_jobs(trap)
        self.assertEqual(purchase.state, "refund_submitted")
        self.assertTrue(attachment.exists(), "the refunded label's PDF was deleted")
        self.assertEqual(purchase.label_attachment_id, attachment)

    def test_a_stock_user_validates_a_transfer_whose_label_purchase_timed_out(self):
        """The carrier never answered the label purchase (unconfirmed: a Logistics Manager must
        decide). The warehouse validates the transfer in Odoo: Odoo's send_shipping ->
        ``_request_labels`` -> ``_labels_refusal`` raises a UserError, and since it is the first
        carrier picking of the batch Odoo re-raises it: the goods cannot be validated until a
        manager settles the purchase. The WMS path avoids this on purpose
        (``_request_labels_when_possible``); the validation path does not. Expected: the
        transfer is validated, the chatter (or an activity) says the label is pending."""
        self.logistics_method()
        self.carrier.write({"max_attempts": 1})
        self.partner.answer(201, self.created).answer(504, {})
        self.packed()
        self.assertEqual(self.shipment.label_purchase_ids.state, "unconfirmed")
        picking = self.stocked()
        stock_user = new_test_user(
            self.env, "review_stock_user", groups="base.group_user,stock.group_stock_user"
        )
        picking.with_user(stock_user).button_validate()
        self.assertEqual(picking.state, "done")
        self.assertEqual(len(self.shipment.label_purchase_ids), 1, "nothing bought twice")

    def test_another_companys_transfer_is_not_sent_to_this_companys_backend(self):
        """A shipping method shared by every company (no company) may use this company's
        carrier backend (``_check_logistics_backend`` allows it); its rate refuses an order of
        another company cleanly ("belongs to another company than the order"), but its labels
        do not: ``_label_backend`` takes the method's backend whatever its company,
        ``_request_labels`` creates the purchase and its outbound message there, then writes
        the shipment's ``carrier_backend_id`` and Odoo's check_company raises "Uh-oh! You've
        got some company inconsistencies here" (the whole transaction rolls back). Validating
        that company's transfer (Odoo's send_shipping) fails with that technical error.
        Expected: another company's backend is never chosen (the shipment's company's carrier
        backend, or none), and the transfer is sent without a company crossover error."""
        other = self.env["res.company"].create({"name": "Review Other Company"})
        method = self.logistics_method()
        self.assertFalse(method.company_id, "a method shared by the companies")
        sale = self.create_sale_order(company=other)
        picking = sale.picking_ids
        shipment = picking.logistics_shipment_ids
        self.assertEqual(shipment.company_id, other)
        picking.carrier_id = method
        with trap_jobs():
            method.send_shipping(picking)  # raises the company crossover error
        self.assertFalse(
            shipment.label_purchase_ids.filtered(lambda p: p.backend_id.company_id != other),
            "a purchase of another company's transfer at this company's carrier backend",
        )

    def test_a_scan_of_a_label_being_refunded_reaches_its_shipment(self):
        """The shipment is rerouted: its first label's refund is submitted and a new label is
        bought at the alternate carrier. The parcel then gets scanned under the FIRST label (it
        left with the label printed before the reroute: the refund will be rejected, and the
        new label is paid for nothing). ``_request_refund`` cleared the package's tracking
        number, so ``_find_shipments`` knows the number no more: the scan is rejected as an
        unmatched event, not linked to the shipment, and nobody learns that the parcel travels
        under the label being refunded. Expected: the scan is recorded on the shipment (the
        purchase still knows its tracking number)."""
        self.buy_label()
        old_tracking = self.bought["tracking_code"]
        created = copy.deepcopy(self.created)
        created["id"] = "shp_alt"
        bought = copy.deepcopy(self.bought)
        bought["id"], bought["tracking_code"] = "shp_alt", "TRK-ALT"
        self.partner.answer(200, dict(self.bought, refund_status="submitted"))
        self.partner.answer(201, created).answer(200, bought).answer(200, PDF)
        with trap_jobs() as trap:
            self.shipment._reroute(self.alternate)
            self.run_jobs(trap)
        self.assertEqual(self.shipment.tracking_number, "TRK-ALT")
        # The webhook as the carrier sends it: stored, then processed with its batch.
        body = self.tracker_event(
            "in_transit", "arrived_at_facility", "evt_old_label", tracking_code=old_tracking
        )
        self.inbound_webhook(body)
        scans = self.shipment.event_ids.filtered(lambda e: e.source_event_id.startswith("evt_old"))
        self.assertEqual(scans.type_id.code, "in_transit", "the scan is on its shipment")
        warned = self.shipment.exception_ids.filtered(
            lambda e: e.type_code == "label_refund_rejected" and not e.is_closed
        )
        self.assertEqual(len(warned), 1)
        self.assertIn(old_tracking, warned.name)

    def test_a_package_that_came_with_its_tracking_number_is_not_labelled_again(self):
        """A canonical package may come with its ``tracking_number`` (a WMS or an external
        system that printed the carrier label itself). ``_request_labels`` buys a label for it
        anyway (it looks at purchases only) and ``_on_delivered_label_buy`` overwrites the
        package's tracking number: a second label is paid for a parcel that has one, and the
        carrier's scans of the parcel's real label no longer find it. Expected: no purchase
        for a package that has its tracking number."""
        self.partner.answer(201, self.created).answer(200, self.bought).answer(200, PDF)
        self.packed(packages=[{"reference": "PKG-1", "weight": 2.0, "tracking_number": "1Z-WMS"}])
        self.assertFalse(self.shipment.label_purchase_ids, "a second label was bought")
        self.assertEqual(self.shipment.package_ids.tracking_number, "1Z-WMS")

    def test_a_label_bought_for_a_locked_sale_order_is_recorded(self):
        """Sales orders locked at confirmation (Sales setting *Lock Confirmed Sales*) and a
        shipping method invoiced at real cost: once the label is bought, ``_labels_changed``
        calls Odoo's ``send_to_shipper`` inside the label purchase's job, whose
        ``_add_delivery_cost_to_so`` writes the price on the locked order's delivery line and
        raises "It is forbidden to modify ... in a locked order". Nothing catches it: the job
        fails and its transaction is rolled back, so the label the carrier sold (and charged)
        is not recorded (no tracking number, no PDF, the purchase left in progress behind a
        failed job). Expected: the label is recorded whatever Odoo's booking on the
        sale order does (the booking's failure told to a person)."""
        self.logistics_method()
        self.sale.action_lock()
        self.assertTrue(self.sale.locked)
        self.buy_label()
        purchase = self.shipment.label_purchase_ids
        self.assertEqual(purchase.state, "bought")
        self.assertEqual(self.shipment.tracking_number, self.bought["tracking_code"])
