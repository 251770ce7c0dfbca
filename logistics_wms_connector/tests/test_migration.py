import importlib.util
from pathlib import Path

from odoo.addons.logistics_integration_base.tests.common import LogisticsCase

MIGRATION = Path(__file__).parents[1] / "migrations" / "19.0.1.1.0" / "post-migrate-ack-policy.py"


def run_migration(cr):
    spec = importlib.util.spec_from_file_location("post_migrate_ack_policy", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.migrate(cr, "19.0.1.0.0")


class TestAckDelayMigration(LogisticsCase):
    """A database of 19.0.1.0.0 kept each WMS backend's acknowledgement delay in a column: the
    upgrade turns it into SLA policies, changing nobody's setting."""

    def setUp(self):
        super().setUp()
        self.env.cr.execute("ALTER TABLE logistics_backend ADD COLUMN wms_ack_minutes integer")
        self.policy = self.env.ref("logistics_wms_connector.sla_policy_wms_acknowledgement")
        self.wms_backends = self.env["logistics.backend"].search([("kind", "=", "wms")])

    def set_delays(self, minutes_by_backend):
        for backend, minutes in minutes_by_backend.items():
            self.env.cr.execute(
                "UPDATE logistics_backend SET wms_ack_minutes = %s WHERE id = %s",
                [minutes, backend.id],
            )

    def test_one_delay_for_every_backend_becomes_the_policys_time(self):
        self.set_delays(dict.fromkeys(self.wms_backends, 15))
        run_migration(self.env.cr)
        self.assertEqual(self.policy.duration_minutes, 15)

    def test_a_backend_with_its_own_delay_gets_a_policy_of_its_own(self):
        delays = dict.fromkeys(self.wms_backends, 30)
        delays[self.wms] = 10
        self.set_delays(delays)
        run_migration(self.env.cr)
        own = self.env["logistics.sla.policy"].search([("backend_id", "=", self.wms.id)])
        self.assertEqual(own.duration_minutes, 10)
        self.assertEqual(own.exception_type_id.code, "delayed_ack")
        self.assertEqual(self.policy.duration_minutes, 30)
