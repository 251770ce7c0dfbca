"""A sales channel (marketplace) on 127.0.0.1 that takes milestone publications, such as the
tracking number of an order, and confirms them: the subscriber end of the suite's publication.

    python tests/sandboxes/channel.py --port 8704 --api-key sandbox-channel-key
"""

import sys
import uuid
from pathlib import Path

try:
    from .common import (
        Sandbox,
        command_line_parser,
        json_response,
        route,
        serve_until_signalled,
    )
except ImportError:  # run as a script: python tests/sandboxes/channel.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sandboxes.common import (
        Sandbox,
        command_line_parser,
        json_response,
        route,
        serve_until_signalled,
    )

DEFAULT_PORT = 8704
REQUIRED = ("type", "occurred_at", "event_id", "shipment_ref")


class ChannelSandbox(Sandbox):
    """Takes ``POST /milestones`` (a canonical milestone as the suite publishes it) with
    ``Authorization: Bearer <api_key>`` and answers 200 with a confirmation id; 422 when a
    field is missing. ``GET /_admin/state`` lists what each order was told, in arrival order."""

    name = "channel"

    def __init__(self, *, api_key, port=0, retry_base_seconds=1.0):
        if not api_key:
            raise ValueError("the channel sandbox needs an api_key")
        self.api_key = api_key
        self._orders = {}
        super().__init__(port=port, step_seconds=0, retry_base_seconds=retry_base_seconds)

    def routes(self):
        return [route("POST", "/milestones", self._milestone)]

    def authenticate(self, request):
        return request.header("Authorization") == f"Bearer {self.api_key}"

    def _milestone(self, request, match):
        document = request.json()
        missing = [
            key for key in REQUIRED if not isinstance(document, dict) or not document.get(key)
        ]
        if missing:
            return self.error_response(422, "validation", f"missing: {', '.join(missing)}")
        confirmation = f"conf-{uuid.uuid4().hex[:12]}"
        self._orders.setdefault(document["shipment_ref"], []).append(
            {"type": document["type"], "event_id": document["event_id"], "id": confirmation}
        )
        return json_response(200, {"confirmed": True, "id": confirmation})

    def reset_state(self):
        self._orders.clear()

    def business_state(self):
        return {"orders": {ref: list(items) for ref, items in self._orders.items()}}


def main(argv=None):
    parser = command_line_parser("channel", "A sales channel sandbox on 127.0.0.1.", DEFAULT_PORT)
    parser.add_argument(
        "--api-key", default="sandbox-channel-key", help="the Bearer token clients must send"
    )
    args = parser.parse_args(argv)
    sandbox = ChannelSandbox(
        api_key=args.api_key, port=args.port, retry_base_seconds=args.retry_base_seconds
    )
    return serve_until_signalled(sandbox, args.faults, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
