"""The hand-off rollup (logistics.handoff): the timeline's hand-offs, kept up to date from an
event-id watermark, rebuilt when a milestone arrives late, scoped by company."""

from datetime import timedelta

from odoo.tests import TransactionCase, tagged

from ..models.logistics_handoff import WATERMARK_PARAM
from .common_dashboard import build_dashboard_data, record_events


@tagged("post_install", "-at_install")
class TestHandoffRollup(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        build_dashboard_data(cls)

    def rows(self, shipment):
        handoffs = self.env["logistics.handoff"].search(
            [("shipment_id", "=", shipment.id)], order="to_rank"
        )
        return [(h.handoff, h.seconds, h.step) for h in handoffs]

    def test_the_rollup_holds_the_timelines_handoffs(self):
        timeline = self.env["logistics.shipment"].get_timeline(self.s1.name)
        expected = [(h["from_code"], h["to_code"], h["seconds"]) for h in timeline["handoffs"]]
        rows = self.env["logistics.handoff"].search(
            [("shipment_id", "=", self.s1.id)], order="to_rank"
        )
        self.assertEqual(len(rows), 9)
        self.assertEqual(
            [(r.from_type_id.code, r.to_type_id.code, int(r.seconds)) for r in rows], expected
        )
        self.assertEqual(rows[0].handoff, "order_released>wms_acknowledged")
        self.assertEqual(rows[-1].step, 10)
        self.assertEqual(rows[-1].carrier_backend_id, self.c1)
        self.assertEqual(rows[-1].channel_id, self.east)

    def test_new_events_are_picked_up_from_the_watermark(self):
        params = self.env["ir.config_parameter"].sudo()
        before = int(params.get_param(WATERMARK_PARAM))
        self.assertEqual(self.rows(self.s4), [])
        start = self.now - timedelta(hours=2)
        record_events(
            self.env,
            self.s4,
            self.wms,
            self.c1,
            [("order_released", start), ("wms_acknowledged", start + timedelta(seconds=45))],
        )
        self.assertEqual(self.rows(self.s4), [], "nothing before the cron runs")
        self.env["logistics.handoff"]._cron_refresh()
        self.assertEqual(self.rows(self.s4), [("order_released>wms_acknowledged", 45.0, 2)])
        # The latency histogram counted it too (45 s: bucket round(ln(46) / ln(1.05)) = 78).
        bucket = self.env["logistics.handoff.bucket"].search(
            [
                ("day", "=", start.date()),
                ("company_id", "=", self.company_a.id),
                ("bucket", "=", 78),
            ]
        )
        self.assertEqual(sum(bucket.mapped("count")), 1)
        self.assertGreater(int(params.get_param(WATERMARK_PARAM)), before)
        # A second run changes nothing (the overlap reads the same events again).
        self.env["logistics.handoff"]._cron_refresh()
        self.assertEqual(self.rows(self.s4), [("order_released>wms_acknowledged", 45.0, 2)])

    def test_a_late_milestone_rebuilds_the_chain(self):
        # S2 went released -> acknowledged -> delivered; the WMS's picked arrives late.
        self.assertEqual(
            [row[0] for row in self.rows(self.s2)],
            ["order_released>wms_acknowledged", "wms_acknowledged>delivered"],
        )
        acked = self.s2.event_ids.filtered(lambda e: e.type_id.code == "wms_acknowledged")
        record_events(
            self.env,
            self.s2,
            self.wms,
            self.c2,
            [("picked", acked.occurred_at + timedelta(seconds=30))],
        )
        self.env["logistics.handoff"]._cron_refresh()
        self.assertEqual(
            self.rows(self.s2),
            [
                ("order_released>wms_acknowledged", 120.0, 2),
                ("wms_acknowledged>picked", 30.0, 3),
                ("picked>delivered", self.rows(self.s2)[2][1], 4),
            ],
        )

    def test_a_user_reads_only_the_handoffs_of_their_companies(self):
        Handoff = self.env["logistics.handoff"]
        self.assertTrue(Handoff.with_user(self.user).search([]))
        self.assertFalse(
            Handoff.with_user(self.user).search([("company_id", "=", self.company_b.id)])
        )
        self.assertEqual(Handoff.with_user(self.user_b).search([]).shipment_id, self.sb)
