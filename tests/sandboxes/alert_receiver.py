"""An alert receiver on 127.0.0.1 that takes PagerDuty Events API v2 events, as the suite's
alert rules send them through the outbound pipeline, and keeps what it got.

    python tests/sandboxes/alert_receiver.py --port 8705 --routing-key sandbox-alert-routing-key

Shape (PagerDuty Events API v2, "Send an Alert Event" / "Send a Resolve Event",
https://developer.pagerduty.com/api-reference/368ae3d938c9e-send-an-event-to-pager-duty):
``POST /v2/enqueue`` with ``{routing_key, event_action: trigger | acknowledge | resolve,
dedup_key, payload: {summary, source, severity: critical | error | warning | info, timestamp,
component, group, class, custom_details}}``; answered ``202 {status: "success", message:
"Event processed", dedup_key}``, or ``400 {status: "invalid event", message, errors: [...]}``.
"""

import sys
import uuid
from pathlib import Path

try:
    from .common import (
        Sandbox,
        command_line_parser,
        json_response,
        recorded_at,
        route,
        serve_until_signalled,
    )
except ImportError:  # run as a script: python tests/sandboxes/alert_receiver.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sandboxes.common import (
        Sandbox,
        command_line_parser,
        json_response,
        recorded_at,
        route,
        serve_until_signalled,
    )

DEFAULT_PORT = 8705
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
INCIDENT_STATUS = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}


class AlertReceiverSandbox(Sandbox):
    """Takes ``POST /v2/enqueue`` like PagerDuty's Events API v2 (no auth header: the
    ``routing_key`` in the body says which integration, and must be this sandbox's when one is
    set). ``GET /_admin/state`` gives every accepted event in arrival order and one incident per
    ``dedup_key`` with its status (triggered / resolved) and event count."""

    name = "alert_receiver"

    def __init__(self, *, routing_key=None, port=0, retry_base_seconds=1.0):
        self.routing_key = routing_key
        self._events = []
        self._incidents = {}
        super().__init__(port=port, step_seconds=0, retry_base_seconds=retry_base_seconds)

    def routes(self):
        return [route("POST", "/v2/enqueue", self._enqueue)]

    def authenticate(self, request):
        # PagerDuty's Events API has no credentials but the routing key, checked per event.
        return True

    def error_response(self, status, code, message, **extra):
        return json_response(
            status, {"status": code, "message": message, "errors": [message], **extra}
        )

    def _invalid(self, *errors):
        return json_response(
            400,
            {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        )

    def _enqueue(self, request, match):
        event = request.json()
        if not isinstance(event, dict):
            return self._invalid("the event must be a JSON object")
        errors = []
        if not event.get("routing_key"):
            errors.append("'routing_key' is missing or blank")
        elif self.routing_key and event["routing_key"] != self.routing_key:
            errors.append("'routing_key' is invalid")
        action = event.get("event_action")
        if action not in ACTIONS:
            errors.append("'event_action' is invalid (trigger, acknowledge or resolve)")
        if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
            errors.append(f"'dedup_key' is required to {action}")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                errors.append("'payload' is missing")
            else:
                errors += [
                    f"'payload.{key}' is missing or blank"
                    for key in ("summary", "source", "severity")
                    if not payload.get(key)
                ]
                if payload.get("severity") and payload["severity"] not in SEVERITIES:
                    errors.append("'payload.severity' is invalid")
        if errors:
            return self._invalid(*errors)
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        self._events.append(dict(event, dedup_key=dedup_key, received_at=recorded_at()))
        incident = self._incidents.setdefault(dedup_key, {"status": None, "events": 0})
        incident["events"] += 1
        incident["status"] = INCIDENT_STATUS[action]
        if action == "trigger":
            incident["summary"] = event["payload"]["summary"]
            incident["severity"] = event["payload"]["severity"]
        return json_response(
            202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
        )

    def reset_state(self):
        self._events.clear()
        self._incidents.clear()

    def business_state(self):
        return {
            "events": [dict(event) for event in self._events],
            "incidents": {key: dict(value) for key, value in self._incidents.items()},
        }


def main(argv=None):
    parser = command_line_parser(
        "alert_receiver", "A PagerDuty Events v2 alert receiver on 127.0.0.1.", DEFAULT_PORT
    )
    parser.add_argument(
        "--routing-key",
        default="sandbox-alert-routing-key",
        help="the routing key events must carry ('' accepts any)",
    )
    args = parser.parse_args(argv)
    sandbox = AlertReceiverSandbox(
        routing_key=args.routing_key or None,
        port=args.port,
        retry_base_seconds=args.retry_base_seconds,
    )
    return serve_until_signalled(sandbox, args.faults, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
