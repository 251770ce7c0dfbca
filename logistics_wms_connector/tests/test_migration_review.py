"""Review of the acknowledgement-delay migration (issue 14 §1): each test demonstrates one
finding of the review and fails while the defect is there."""

from datetime import datetime, timedelta

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase

from .test_migration import TestAckDelayMigration, run_migration

T0 = datetime(2026, 3, 6, 18, 0, 0)


class TestAckDelayMigrationReview(LogisticsCase):
    set_delays = TestAckDelayMigration.set_delays

    def setUp(self):
        super().setUp()
        self.env.cr.execute("ALTER TABLE logistics_backend ADD COLUMN wms_ack_minutes integer")
        self.policy = self.env.ref("logistics_wms_connector.sla_policy_wms_acknowledgement")
        self.wms_backends = self.env["logistics.backend"].search([("kind", "=", "wms")])
        # Only the acknowledgement policies matter here.
        self.env["logistics.sla.policy"].search([("id", "!=", self.policy.id)]).active = False

    def release(self, at):
        self.shipment.sudo().wms_backend_id = self.wms
        # In production the release job records the milestone in a later transaction than
        # the one that set the backend (see F10 in test_sla_review.py for the same transaction).
        self.env.flush_all()
        self.env["logistics.event"]._record_odoo_events(
            self.wms,
            [
                {
                    "type": "order_released",
                    "occurred_at": at.isoformat() + "Z",
                    "event_id": f"rel-{self.shipment.id}",
                    "shipment_ref": self.shipment.name,
                }
            ],
        )

    def evaluate_all(self, at):
        Sla = self.env["logistics.shipment.sla"]
        for policy in self.env["logistics.sla.policy"].search([]):
            Sla._evaluate_policy(policy, now=at)

    def delayed_ack_cards(self):
        return self.env["logistics.exception"].search(
            [
                ("occurrence_ids.shipment_id", "=", self.shipment.id),
                ("type_code", "=", "delayed_ack"),
                ("is_closed", "=", False),
            ]
        )

    def test_f6_a_backend_with_a_longer_delay_keeps_it(self):
        """F6: with different delays, the migration adds a policy scoped to each backend that
        differs from 30 minutes but leaves the default policy watching every backend
        (post-migrate-ack-policy.py:27-40): a backend whose delay was 60 minutes now raises
        delayed_ack after 30. The docstring's "nobody's setting is silently changed" does not
        hold."""
        delays = dict.fromkeys(self.wms_backends, 15)
        delays[self.wms] = 60
        self.set_delays(delays)
        run_migration(self.env.cr)
        self.release(T0)
        self.evaluate_all(T0 + timedelta(minutes=40))
        self.assertFalse(self.delayed_ack_cards(), "60 minutes were allowed to this WMS")

    def test_f6_a_backend_with_a_shorter_delay_raises_delayed_ack_once(self):
        """F6: a backend whose delay was 10 minutes gets a policy of its own and is still
        watched by the default 30-minute policy: one late acknowledgement raises two
        delayed_ack cards (two causes: sla:wms_acknowledgement_<code> and
        sla:wms_acknowledgement)."""
        delays = dict.fromkeys(self.wms_backends, 30)
        delays[self.wms] = 10
        self.set_delays(delays)
        run_migration(self.env.cr)
        self.release(T0)
        self.evaluate_all(T0 + timedelta(minutes=40))
        self.assertEqual(len(self.delayed_ack_cards()), 1)

    def test_f7_orders_released_before_the_upgrade_are_still_watched(self):
        """F7: the upgrade removes the delayed_ack cron and its policy only watches releases
        recorded after it (rows start when A arrives; neither migration starts rows for the
        shipments in flight). An order released before the upgrade and never acknowledged
        raises nothing any more."""
        self.policy.active = False  # before the upgrade: no policy, the cron watched
        self.release(T0)
        self.policy.active = True
        self.set_delays(dict.fromkeys(self.wms_backends, 30))
        run_migration(self.env.cr)
        self.evaluate_all(T0 + timedelta(hours=2))
        self.assertTrue(self.delayed_ack_cards(), "released, never acknowledged: late")
