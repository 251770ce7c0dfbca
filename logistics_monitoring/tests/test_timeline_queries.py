"""The timeline reads in a fixed number of queries, whatever the number of entries (DESIGN §8:
a timeline in < 50 ms at scale): no query per event, message, attempt or exception."""

from datetime import timedelta

from odoo.tests import TransactionCase

from .common import TRACKING, build_story, iso


class TestTimelineQueries(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        build_story(cls)

    def timeline(self):
        """(queries run, answer) of one get_timeline call by the Logistics User, from a cold
        cache."""
        self.env.flush_all()
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        answer = self.env["logistics.shipment"].with_user(self.user).get_timeline(TRACKING)
        return self.env.cr.sql_log_count - before, answer

    def test_queries_do_not_grow_with_the_entries(self):
        self.timeline()  # Odoo's own caches (access rules, selection labels) warm up
        queries, answer = self.timeline()
        self.assertLessEqual(queries, 24, "a fixed handful of queries")
        scans = [
            {
                "type": "in_transit",
                "occurred_at": iso(self.t0 + timedelta(minutes=40 + n)),
                "event_id": f"scan-{n}",
                "shipment_ref": self.shipment.name,
                "payload": {"location": {"city": f"HUB {n}"}, "message": "Arrived at hub"},
            }
            for n in range(20)
        ]
        self.env["logistics.event"].ingest_events("tl_carrier", scans)
        Message = self.env["logistics.message"]
        for n in range(5):
            message = Message.create(
                {
                    "direction": "outbound",
                    "backend_id": self.carrier.id,
                    "operation": "label_buy",
                    "payload": {"n": n},
                    "shipment_id": self.shipment.id,
                    "correlation_id": self.shipment.correlation_id,
                    "state": "dead",
                    "error_class": "security",
                    "error": "HTTP 401",
                }
            )
            self.env["logistics.message.attempt"].create(
                [{"message_id": message.id, "number": i, "http_status": 401} for i in (1, 2)]
            )
        self.env["logistics.exception"]._raise(
            "missing_tracking",
            [{"name": f"Silent {n}", "shipment_id": self.shipment.id} for n in range(3)],
        )
        more_queries, more = self.timeline()
        self.assertGreaterEqual(len(more["entries"]), len(answer["entries"]) + 28)
        self.assertEqual(more_queries, queries)
