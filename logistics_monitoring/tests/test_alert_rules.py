from datetime import timedelta

from .alert_common import AlertCase


class TestAlertLifecycle(AlertCase):
    """pending → firing after the "for" duration → resolved; one card; told once, then after
    the repeat interval; resolution told when the rule says so."""

    def test_fires_only_after_the_for_duration(self):
        rule = self.make_rule(for_minutes=5)
        self.dead_letter(count=2)
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        self.assertEqual(alert.state, "pending")
        self.assertEqual(alert.label_key, "backend=t_wms")
        self.assertEqual(alert.backend_id, self.wms)
        self.assertEqual(alert.last_value, 2.0)
        self.assertFalse(alert.exception_id, "a pending alert opens no card")
        self.assertFalse(self.told(alert))
        self.evaluate(rule, 4)
        self.assertEqual(alert.state, "pending", "4 minutes < 5")
        result = self.evaluate(rule, 5)
        self.assertEqual(result["fired"], 1)
        self.assertEqual(alert.state, "firing")
        self.assertEqual(alert.fired_at, self.t0 + timedelta(minutes=5))
        self.assertEqual(
            alert.history_ids.filtered(lambda h: not h.note).mapped("state"), ["pending", "firing"]
        )
        card = alert.exception_id
        self.assertEqual(card.type_code, "alert_firing")
        self.assertEqual(card.severity, "high")
        self.assertEqual(card.backend_id, self.wms)
        self.assertFalse(card.is_closed)
        self.assertTrue(card.grouping_key.endswith(f"|alert:{rule.id}:backend=t_wms"))
        self.assertEqual(len(self.told(alert)), 1)
        self.assertIn("Firing", self.told(alert).body)

    def test_one_alert_per_label_set(self):
        rule = self.make_rule(backend_ids=[(6, 0, (self.wms | self.carrier).ids)])
        self.dead_letter(self.wms)
        self.dead_letter(self.carrier, count=3)
        self.evaluate(rule)
        alerts = self.alerts(rule)
        self.assertEqual(sorted(alerts.mapped("label_key")), ["backend=t_carrier", "backend=t_wms"])
        self.assertEqual(alerts.mapped("state"), ["firing", "firing"])
        self.assertEqual(len(alerts.exception_id), 2, "one card per rule and label set")
        self.evaluate(rule, 1)
        self.assertEqual(len(self.alerts(rule)), 2, "the next evaluation keeps the same alerts")

    def test_notifies_once_then_again_after_the_repeat_interval(self):
        rule = self.make_rule(repeat_minutes=60)
        self.dead_letter()
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        card = alert.exception_id
        for minute in (1, 2, 30, 59):
            self.evaluate(rule, minute)
        self.assertEqual(len(self.told(alert)), 1, "told once while it fires")
        self.assertEqual(alert.notified_count, 1)
        self.assertEqual(card.occurrence_count, 1)
        self.evaluate(rule, 60)
        self.assertEqual(len(self.told(alert)), 2, "told again after the repeat interval")
        self.assertEqual(alert.exception_id, card, "the same card, updated")
        self.assertEqual(card.occurrence_count, 2)
        self.evaluate(rule, 61)
        self.assertEqual(len(self.told(alert)), 2)

    def test_repeat_zero_tells_once(self):
        rule = self.make_rule(repeat_minutes=0)
        self.dead_letter()
        for minute in (0, 120, 600):
            self.evaluate(rule, minute)
        self.assertEqual(len(self.told(self.alerts(rule))), 1)

    def test_resolves_closes_its_card_and_tells_the_resolution(self):
        rule = self.make_rule()
        dead = self.dead_letter()
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        card = alert.exception_id
        dead.unlink()
        result = self.evaluate(rule, 3)
        self.assertEqual(result["resolved"], 1)
        self.assertEqual(alert.state, "resolved")
        self.assertEqual(alert.resolved_at, self.t0 + timedelta(minutes=3))
        self.assertTrue(card.is_closed)
        self.assertTrue(card.auto_resolved)
        told = self.told(alert)
        self.assertEqual(len(told), 2)
        self.assertIn("Resolved", told[-1].body)
        # The next breach is a new alert (the resolved one is history), and a new card.
        self.dead_letter()
        self.evaluate(rule, 10)
        alerts = self.alerts(rule)
        self.assertEqual(alerts.mapped("state"), ["resolved", "firing"])
        self.assertNotEqual(alerts[1].exception_id, card)
        self.assertFalse(alerts[1].exception_id.is_closed)

    def test_resolution_not_told_without_send_resolved(self):
        rule = self.make_rule(send_resolved=False)
        dead = self.dead_letter()
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        dead.unlink()
        self.evaluate(rule, 1)
        self.assertEqual(alert.state, "resolved")
        self.assertTrue(alert.exception_id.is_closed)
        self.assertEqual(len(self.told(alert)), 1, "only the firing was told")

    def test_pending_alert_that_clears_resolves_silently(self):
        rule = self.make_rule(for_minutes=10)
        dead = self.dead_letter()
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        dead.unlink()
        self.evaluate(rule, 5)
        self.assertEqual(alert.state, "resolved")
        self.assertFalse(alert.fired_at)
        self.assertFalse(alert.exception_id)
        self.assertFalse(self.told(alert))

    def test_threshold_and_operator(self):
        rule = self.make_rule(operator=">=", threshold=3)
        self.dead_letter(count=2)
        self.evaluate(rule)
        self.assertFalse(self.alerts(rule), "2 >= 3 is false")
        self.dead_letter()
        self.evaluate(rule, 1)
        self.assertEqual(self.alerts(rule).state, "firing")
        self.assertEqual(self.alerts(rule).last_value, 3.0)

    def test_group_and_discuss_channel_recipients(self):
        group = self.env["res.groups"].create({"name": "On-call"})
        on_call = self.manager
        on_call.group_ids |= group
        channel = self.env["discuss.channel"].create({"name": "logistics-alerts"})
        rule = self.make_rule(
            user_ids=[(5, 0, 0)],
            group_ids=[(6, 0, group.ids)],
            discuss_channel_id=channel.id,
        )
        self.dead_letter()
        self.evaluate(rule)
        alert = self.alerts(rule)
        self.assertEqual(len(self.told(alert, on_call.partner_id)), 1)
        self.assertFalse(self.told(alert), "the recipient is not in the rule any more")
        posted = self.env["mail.message"].search(
            [
                ("model", "=", "discuss.channel"),
                ("res_id", "=", channel.id),
                ("body", "ilike", "Firing"),
            ]
        )
        self.assertEqual(len(posted), 1)

    def test_label_filter(self):
        rule = self.make_rule(backend_ids=[(5, 0, 0)], label_filter="backend=t_carrier")
        self.dead_letter(self.wms)
        self.evaluate(rule)
        self.assertFalse(self.alerts(rule))
        self.dead_letter(self.carrier)
        self.evaluate(rule, 1)
        self.assertEqual(self.alerts(rule).label_key, "backend=t_carrier")

    def test_cron_evaluates_every_active_rule(self):
        rule = self.make_rule()
        inactive = self.make_rule(name="Off", active=False)
        self.dead_letter()
        result = self.env["logistics.alert.rule"]._cron_evaluate()
        self.assertGreaterEqual(result["rules"], 1)
        self.assertEqual(self.alerts(rule).state, "firing")
        self.assertFalse(self.alerts(inactive))
        self.assertTrue(rule.last_evaluated_at)


class TestNoDataRule(AlertCase):
    def test_no_events_from_a_backend_fires_and_resolves(self):
        rule = self.make_rule(
            name="WMS silent",
            metric_code="backend_event_silence_seconds",
            threshold=3600,
        )
        self.ingest(self.wms, [self.event("wms_acknowledged", "2026-01-05T09:00:00Z", "nd-1")])
        self.evaluate(rule, 0)
        self.assertFalse(self.alerts(rule), "an event just came")
        self.evaluate(rule, 61)
        alert = self.alerts(rule)
        self.assertEqual(alert.state, "firing")
        self.assertGreater(alert.last_value, 3600)
        self.ingest(self.wms, [self.event("picked", "2026-01-05T10:00:00Z", "nd-2")])
        # Evaluated right after the new event (events are recorded now, t0 is now).
        self.evaluate(rule, 0)
        self.assertEqual(alert.state, "resolved")


class TestSilencesAndInhibition(AlertCase):
    def test_silenced_alert_changes_state_but_tells_nobody(self):
        rule = self.make_rule()
        silence = self.env["logistics.alert.silence"].create(
            {
                "rule_id": rule.id,
                "label_filter": "backend=t_wms",
                "starts_at": self.t0,
                "ends_at": self.t0 + timedelta(minutes=30),
                "comment": "WMS maintenance",
            }
        )
        self.assertEqual(silence.created_by_id, self.env.user)
        self.dead_letter()
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        self.assertEqual(alert.state, "firing", "a silence does not stop the state machine")
        self.assertEqual(alert.silence_id, silence)
        self.assertFalse(self.told(alert))
        self.assertFalse(alert.exception_id, "no card while silenced")
        self.evaluate(rule, 29)
        self.assertFalse(self.told(alert))
        # The silence ends while the alert still fires: told now, and its card opens.
        self.evaluate(rule, 31)
        self.assertFalse(alert.silence_id)
        self.assertEqual(len(self.told(alert)), 1)
        self.assertTrue(alert.exception_id)

    def test_silence_of_other_labels_does_not_match(self):
        rule = self.make_rule()
        self.env["logistics.alert.silence"].create(
            {
                "label_filter": "backend=t_carrier",
                "starts_at": self.t0,
                "ends_at": self.t0 + timedelta(hours=1),
                "comment": "carrier only",
            }
        )
        self.dead_letter()
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        self.assertFalse(alert.silence_id)
        self.assertEqual(len(self.told(alert)), 1)

    def test_silenced_resolution_is_not_told(self):
        rule = self.make_rule()
        dead = self.dead_letter()
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        self.env["logistics.alert.silence"].create(
            {
                "rule_id": rule.id,
                "starts_at": self.t0,
                "ends_at": self.t0 + timedelta(hours=1),
                "comment": "known",
            }
        )
        dead.unlink()
        self.evaluate(rule, 5)
        self.assertEqual(alert.state, "resolved")
        self.assertEqual(len(self.told(alert)), 1, "only the firing, before the silence")
        self.assertTrue(alert.exception_id.is_closed, "its card still closes")

    def test_open_partner_unavailable_exception_inhibits_the_backend_alerts(self):
        rule = self.make_rule()
        outage = self.env["logistics.exception"]._raise(
            "partner_unavailable",
            [{"name": "Test WMS down", "backend_id": self.wms.id, "cause": "down"}],
        )
        self.dead_letter()
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        self.assertEqual(alert.state, "firing")
        self.assertTrue(alert.inhibited)
        self.assertFalse(self.told(alert))
        self.assertFalse(alert.exception_id)
        # Another backend's alert is not inhibited.
        other = self.make_rule(name="Carrier dead letters", backend_ids=[(6, 0, self.carrier.ids)])
        self.dead_letter(self.carrier)
        self.evaluate(other, 0)
        self.assertFalse(self.alerts(other).inhibited)
        self.assertEqual(len(self.told(self.alerts(other))), 1)
        # The partner is back: the alert is told at the next evaluation.
        outage._close_automatically("back")
        self.evaluate(rule, 1)
        self.assertFalse(alert.inhibited)
        self.assertEqual(len(self.told(alert)), 1)
        self.assertTrue(alert.exception_id)

    def test_firing_partner_unavailable_alert_inhibits_the_other_alerts_of_its_backend(self):
        down = self.make_rule(name="WMS down", marks_partner_unavailable=True, severity="critical")
        downstream = self.make_rule(name="WMS dead letters")
        self.dead_letter()
        (down | downstream)._evaluate(now=self.t0)
        self.assertFalse(self.alerts(down).inhibited, "it never inhibits itself")
        self.assertEqual(len(self.told(self.alerts(down))), 1)
        self.assertTrue(self.alerts(downstream).inhibited)
        self.assertFalse(self.told(self.alerts(downstream)))


class TestEvaluationCost(AlertCase):
    def test_fifty_rules_one_registry_query_each(self):
        rules = self.env["logistics.alert.rule"].create(
            [
                {
                    "name": f"Rule {n}",
                    "metric_code": "dead_letters",
                    "operator": ">",
                    "threshold": 1000,
                    "backend_ids": [(6, 0, self.wms.ids)],
                }
                for n in range(50)
            ]
        )
        self.dead_letter()
        rules._evaluate(now=self.t0)
        rules.invalidate_recordset()
        # Nothing breaks the rules: the queries are the registry's (one per rule) and a
        # fixed handful around them, whatever the number of messages.
        with self.assertQueryCount(60):
            rules._evaluate(now=self.t0)


class TestCarrierBreachRateRule(AlertCase):
    def test_breach_rate_over_the_window_fires_per_carrier(self):
        policy = self.env["logistics.sla.policy"].search([], limit=1)
        self.shipment.sudo().carrier_backend_id = self.carrier
        others = self.create_sale_order().picking_ids.logistics_shipment_ids
        others |= self.create_sale_order().picking_ids.logistics_shipment_ids
        others.sudo().write({"carrier_backend_id": self.carrier.id})
        Sla = self.env["logistics.shipment.sla"].sudo()
        Sla.search([("shipment_id", "in", (self.shipment | others).ids)]).unlink()
        due = self.t0 - timedelta(minutes=20)
        rows = [
            # One breached in the window, two on time in the window, one breached long ago.
            (self.shipment, "breached", due, due),
            (others[0], "met", due, False),
            (others[1], "on_time", due, False),
        ]
        Sla.create(
            [
                {
                    "shipment_id": shipment.id,
                    "policy_id": policy.id,
                    "state": state,
                    "due_at": due_at,
                    "breached_at": breached_at,
                    "company_id": self.env.company.id,
                }
                for shipment, state, due_at, breached_at in rows
            ]
        )
        rule = self.make_rule(
            name="Carrier breach rate",
            metric_code="carrier_sla_breach_ratio",
            backend_ids=[(5, 0, 0)],
            carrier_backend_ids=[(6, 0, self.carrier.ids)],
            threshold=0.1,
            window_minutes=60,
        )
        self.evaluate(rule, 0)
        alert = self.alerts(rule)
        self.assertEqual(alert.label_key, "carrier=t_carrier")
        self.assertAlmostEqual(alert.last_value, 1 / 3)
        self.assertEqual(alert.backend_id, self.carrier)
        self.assertEqual(alert.state, "firing")
        # Two hours later the window holds none of them: the rate is gone, the alert resolves.
        self.evaluate(rule, 120)
        self.assertEqual(alert.state, "resolved")


class TestUnmeasurableRule(AlertCase):
    def test_a_rule_whose_metric_is_gone_keeps_its_alerts_and_spares_the_others(self):
        broken = self.make_rule(name="Broken")
        healthy = self.make_rule(name="Healthy")
        self.dead_letter()
        (broken | healthy)._evaluate(now=self.t0)
        # The metric's addon is gone: its code is no longer in the registry.
        self.env.cr.execute(
            "UPDATE logistics_alert_rule SET metric_code = 'gone_metric' WHERE id = %s",
            [broken.id],
        )
        broken.invalidate_recordset()
        (broken | healthy)._evaluate(now=self.t0 + timedelta(minutes=1))
        self.assertEqual(self.alerts(broken).state, "firing", "not resolved by a failure")
        self.assertEqual(self.alerts(healthy).state, "firing")


class TestArchivedRule(AlertCase):
    def test_archiving_a_rule_resolves_its_alerts_and_closes_their_cards(self):
        rule = self.make_rule()
        self.dead_letter()
        self.evaluate(rule)
        alert = self.alerts(rule)
        rule.active = False
        self.assertEqual(alert.state, "resolved")
        self.assertTrue(alert.exception_id.is_closed)
        self.assertEqual(len(self.told(alert)), 1, "nobody is told of an archived rule")
