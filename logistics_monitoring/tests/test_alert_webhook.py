import json
import urllib.request

from odoo.addons.logistics_integration_base.tests.partner_server import LoopbackPartnerMixin
from odoo.addons.logistics_integration_base.tests.sandbox_servers import sandbox_class
from odoo.addons.queue_job.tests.common import trap_jobs

from .alert_common import AlertCase

ROUTING_KEY = "R0UT1NGK3Y-alerts-test-0123456789"


class TestPagerDutyWebhook(LoopbackPartnerMixin, AlertCase):
    """Alert webhooks in PagerDuty Events v2 shape, through the outbound pipeline (a queue_job
    delivery job, retries, dead letters), to the alert receiver sandbox over real HTTP."""

    def setUp(self):
        super().setUp()
        self.receiver = sandbox_class("alert_receiver", "AlertReceiverSandbox")(
            routing_key=ROUTING_KEY
        ).start()
        self.addCleanup(self.receiver.stop)
        self.pagerduty = self.env["logistics.backend"].create(
            {
                "name": "On-call (PagerDuty)",
                "code": "t_pagerduty",
                "kind": "alerting",
                "adapter": "pagerduty",
                "auth_type": "none",
                "base_url": self.receiver.url,
                "api_key": ROUTING_KEY,
                "max_attempts": 2,
                "backoff_base": 1.0,
            }
        )
        self.rule = self.make_rule(
            severity="critical", webhook_backend_id=self.pagerduty.id, repeat_minutes=0
        )

    def receiver_state(self):
        # The sandbox's own admin API, on 127.0.0.1.
        url = self.receiver.url + "/_admin/state"
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310
            return json.load(answer)

    def sent(self):
        return self.env["logistics.message"].search(
            [("backend_id", "=", self.pagerduty.id), ("operation", "=", "alert_notify")],
            order="id",
        )

    def test_trigger_then_resolve_reach_the_receiver_through_the_pipeline(self):
        dead = self.dead_letter()
        with trap_jobs() as trap:
            self.evaluate(self.rule, 0)
            alert = self.alerts(self.rule)
            trigger = self.sent()
            self.assertEqual(len(trigger), 1)
            self.assertNotIn("routing_key", trigger.payload, "the secret is not stored")
            trap.assert_jobs_count(1, only=trigger._deliver)
            trap.perform_enqueued_jobs()
        self.assertEqual(trigger.state, "done")
        self.assertEqual(trigger.http_status, 202)
        self.assertNotIn(ROUTING_KEY, trigger.request_body or "", "redacted when stored")
        state = self.receiver_state()
        (event,) = state["events"]
        self.assertEqual(event["routing_key"], ROUTING_KEY)
        self.assertEqual(event["event_action"], "trigger")
        self.assertEqual(event["dedup_key"], f"logistics-alert-{self.rule.id}-backend=t_wms")
        self.assertEqual(event["payload"]["severity"], "critical")
        self.assertEqual(event["payload"]["source"], "t_wms")
        self.assertIn("Dead letters on the WMS", event["payload"]["summary"])
        self.assertTrue(event["payload"]["timestamp"].endswith("Z"))
        self.assertEqual(event["payload"]["custom_details"]["labels"], {"backend": "t_wms"})
        self.assertEqual(event["payload"]["custom_details"]["value"], 1.0)
        self.assertEqual(state["incidents"][event["dedup_key"]]["status"], "triggered")

        dead.unlink()
        with trap_jobs() as trap:
            self.evaluate(self.rule, 2)
            self.assertEqual(alert.state, "resolved")
            trap.perform_enqueued_jobs()
        resolve = self.sent()[-1]
        self.assertEqual(resolve.state, "done")
        state = self.receiver_state()
        self.assertEqual([e["event_action"] for e in state["events"]], ["trigger", "resolve"])
        self.assertEqual(state["events"][1]["dedup_key"], event["dedup_key"])
        self.assertEqual(state["incidents"][event["dedup_key"]]["status"], "resolved")

    def test_receiver_down_retries_then_dead_letter(self):
        self.receiver.faults.update(error_rate=1.0)
        self.dead_letter()
        with trap_jobs() as trap:
            self.evaluate(self.rule, 0)
            trap.perform_enqueued_jobs()
            message = self.sent()
            self.assertEqual(message.state, "retrying", "a 500 is transient: retried")
            self.assertEqual(message.attempts, 1)
            trap.perform_enqueued_jobs()
        self.assertEqual(message.state, "dead", "max attempts reached: a dead letter")
        self.assertEqual(message.attempts, 2)
        self.assertFalse(self.receiver_state()["events"])

    def test_wrong_routing_key_is_refused_for_good(self):
        self.pagerduty.api_key = "not-the-key"
        self.dead_letter()
        with trap_jobs() as trap:
            self.evaluate(self.rule, 0)
            trap.perform_enqueued_jobs()
        message = self.sent()
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.http_status, 400)
        self.assertEqual(message.error_class, "business")
