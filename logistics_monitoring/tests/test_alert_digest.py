from datetime import timedelta

from .alert_common import AlertCase


class TestAlertDigest(AlertCase):
    """One email per recipient per period, with the alerts firing for them and the open
    exceptions of their companies."""

    def digests(self):
        return self.env["mail.mail"].search(
            [
                ("recipient_ids", "in", self.recipient.partner_id.ids),
                ("subject", "like", "Logistics digest"),
            ]
        )

    def test_one_digest_per_recipient_per_period(self):
        Digest = self.env["logistics.alert.digest"]
        rule = self.make_rule()
        # Two rules telling the same recipient: still one email.
        self.make_rule(name="Carrier dead letters", backend_ids=[(6, 0, self.carrier.ids)])
        self.dead_letter()
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        self.assertEqual(Digest._cron_send_digests(now=self.t0), 1)
        (mail,) = self.digests()
        self.assertIn("1 alerts firing", mail.subject)
        self.assertIn("Dead letters on the WMS", mail.body_html)
        self.assertIn("backend=t_wms", mail.body_html)
        card_link = f"logistics_exception_action/{alert.exception_id.id}"
        self.assertIn(card_link, mail.body_html, "its card is an open exception")
        # Within the period: nothing more.
        self.assertEqual(Digest._cron_send_digests(now=self.t0 + timedelta(minutes=30)), 0)
        self.assertEqual(len(self.digests()), 1)
        # The next period: the next digest.
        self.assertEqual(Digest._cron_send_digests(now=self.t0 + timedelta(minutes=60)), 1)
        self.assertEqual(len(self.digests()), 2)

    def test_digest_period_is_configurable_and_zero_turns_it_off(self):
        self.make_rule()
        self.dead_letter()
        self.env["ir.config_parameter"].set_param("logistics.alert_digest_minutes", "0")
        self.assertEqual(self.env["logistics.alert.digest"]._cron_send_digests(now=self.t0), 0)
        self.assertFalse(self.digests())
