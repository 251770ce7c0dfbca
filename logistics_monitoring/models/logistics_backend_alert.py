import json

from odoo import fields, models

# PagerDuty Events API v2 severities, from the suite's (Events v2 "payload.severity":
# critical, error, warning, info).
PAGERDUTY_SEVERITIES = {
    "critical": "critical",
    "high": "error",
    "medium": "warning",
    "low": "info",
}


class LogisticsBackend(models.Model):
    """Alerting backends: where alert rules send their webhook events (DESIGN §5), through the
    outbound pipeline like any partner call (queue_job delivery, retries, dead letters).

    The PagerDuty adapter speaks the Events API v2
    (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): ``POST
    <base URL>/v2/enqueue`` with ``{routing_key, event_action, dedup_key, payload}``. The
    routing key is the backend's API key (a secret): it is added to the body when the call is
    made, so it is never stored in the message's payload, and redacted from the stored request.
    """

    _inherit = "logistics.backend"

    kind = fields.Selection(
        selection_add=[("alerting", "Alerting (on-call)")], ondelete={"alerting": "cascade"}
    )
    adapter = fields.Selection(
        selection_add=[("pagerduty", "PagerDuty Events v2")],
        ondelete={"pagerduty": "set default"},
    )

    def _alert_event(self, alert, action):
        """The webhook document telling this backend that ``alert`` fires (``action``
        ``"trigger"``) or resolved (``"resolve"``), in the backend adapter's shape
        (``_alert_event_<adapter>``), without the routing key.

        :return: a JSON-serialisable dict
        """
        self.ensure_one()
        return getattr(self, f"_alert_event_{self.adapter}")(alert, action)

    def _alert_endpoint(self):
        """The path, under the backend's base URL, that takes alert events."""
        self.ensure_one()
        return getattr(self, f"_alert_endpoint_{self.adapter}")()

    def _alert_endpoint_pagerduty(self):
        return "v2/enqueue"

    def _alert_event_pagerduty(self, alert, action):
        """PagerDuty Events API v2: a trigger with the alert's summary, source, severity,
        time stamp and details (rule, labels, value, threshold), or a resolve of the same
        ``dedup_key`` (one incident per rule and label set)."""
        event = {"event_action": action, "dedup_key": alert._dedup_key()}
        if action != "trigger":
            return event
        rule = alert.rule_id
        moment = alert.fired_at or fields.Datetime.now()
        event["payload"] = {
            "summary": alert._summary()[:1024],
            "source": alert.backend_id.code or alert.label_key or rule.company_id.name,
            "severity": PAGERDUTY_SEVERITIES.get(alert.severity, "error"),
            "timestamp": moment.isoformat(timespec="seconds") + "Z",
            "component": rule.metric_code,
            "group": alert.company_id.name,
            "class": "logistics_alert_rule",
            "custom_details": {
                "rule": rule.name,
                "rule_id": rule.id,
                "labels": alert.labels or {},
                "value": alert.last_value,
                "operator": rule.operator,
                "threshold": rule.threshold,
                "pending_since": fields.Datetime.to_string(alert.started_at),
                "exception_id": alert.exception_id.id or None,
            },
        }
        event["client"] = "Odoo Logistics"
        event["client_url"] = (
            f"{alert.get_base_url()}/odoo/action-logistics_monitoring.logistics_alert_action/{alert.id}"
        )
        return event

    def _send(self, message, body, headers):
        # The routing key is the backend's secret: added to the body only when the call is
        # made (the stored request is redacted by the pipeline, the payload never has it).
        if self.kind == "alerting" and body:
            document = json.loads(body)
            document["routing_key"] = self._get_secret("api_key") or ""
            body = json.dumps(document)
        return super()._send(message, body, headers)
