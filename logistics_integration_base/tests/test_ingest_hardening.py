"""One bad event is rejected with its index and the others of its batch are unaffected; an RPC
client never gets a Fault with a traceback (issue 10, items 7, 8, 9 and 11)."""

import json
import re
import xmlrpc.client
from datetime import datetime
from pathlib import Path

from dateutil.parser import isoparse

from odoo.exceptions import UserError
from odoo.tests import HttpCase, new_test_user, tagged

from ..models.event_time import event_time, parse_iso8601
from .common import GROUP_USER, LogisticsCase

SUITE = Path(__file__).resolve().parents[2]


class TestEventTimes(LogisticsCase):
    def test_times_out_of_range_reject_only_their_event(self):
        times = [
            "2026-03-01T10:00:00+00:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "1999-12-31T23:59:59Z",
            "2099-01-01T00:00:00Z",
            "2026-03-01T11:00:00.1234567Z",
        ]
        result = self.ingest(
            self.carrier,
            [self.event("in_transit", at, f"time-{n}") for n, at in enumerate(times)],
        )
        self.assertEqual(result["accepted"], 2)
        self.assertEqual(
            result["rejected"],
            [
                {
                    "index": 1,
                    "error": "'occurred_at' is out of range once converted to UTC: "
                    "'0001-01-01T00:00:00+01:00'",
                },
                {
                    "index": 2,
                    "error": "'occurred_at' is out of range once converted to UTC: "
                    "'9999-12-31T23:59:59-01:00'",
                },
                {
                    "index": 3,
                    "error": "'occurred_at' is before 2000-01-01, outside the plausible window: "
                    "'1999-12-31T23:59:59Z'",
                },
                {"index": 4, "error": result["rejected"][3]["error"]},
            ],
        )
        self.assertRegex(
            result["rejected"][3]["error"],
            r"^'occurred_at' is more than a day ahead of Odoo's clock \(\d{4}-.*Z\), outside "
            r"the plausible window: '2099-01-01T00:00:00Z'$",
        )
        self.assertEqual(
            self.shipment.event_ids.sorted("occurred_at").mapped("occurred_at"),
            [datetime(2026, 3, 1, 10, 0), datetime(2026, 3, 1, 11, 0, 0, 123456)],
        )

    def test_one_parser_for_every_supported_python(self):
        """Python 3.10's datetime.fromisoformat refuses the "Z" suffix and 7-digit fractions
        that 3.11 takes: dateutil's isoparse, behind one function, takes both everywhere."""
        self.assertEqual(
            event_time("2026-03-01T10:00:00.1234567Z"), datetime(2026, 3, 1, 10, 0, 0, 123456)
        )
        self.assertEqual(event_time("2026-03-01T10:00:00+01:00"), datetime(2026, 3, 1, 9, 0))
        self.assertEqual(event_time("20260301T100000Z"), datetime(2026, 3, 1, 10, 0))
        # The fast road for the common RFC 3339 form reads what isoparse reads.
        for text in [
            "2026-03-01T10:00:00Z",
            "2026-03-01T10:00:00.5Z",
            "2026-03-01T10:00:00.123+01:00",
            "2026-03-01T10:00:00.123456-05:30",
            "2026-03-01T23:59:59.999999+14:00",
        ]:
            self.assertEqual(parse_iso8601(text), isoparse(text), text)
        with self.assertRaises(ValueError):
            parse_iso8601("2026-13-01T10:00:00Z")
        with self.assertRaisesRegex(ValueError, "has no UTC offset"):
            event_time("2026-03-01T10:00:00")
        with self.assertRaisesRegex(ValueError, "not an ISO 8601 date-time"):
            event_time("1 March 2026")
        calls = [
            f"{path.relative_to(SUITE)}:{number}"
            for path in SUITE.glob("logistics_*/**/*.py")
            for number, line in enumerate(path.read_text().splitlines(), start=1)
            if re.search(r"\bfromisoformat\(", line)
            and "tests" not in path.parts
            and path.name != "event_time.py"  # the one place, for its fast road
        ]
        self.assertEqual(calls, [], "date-times are parsed by event_time.parse_iso8601 only")

    def test_naive_datetime_is_utc_and_other_types_say_what_was_sent(self):
        result = self.ingest(
            self.carrier,
            [
                self.event("in_transit", datetime(2026, 3, 1, 10, 0), "naive-1"),
                self.event("in_transit", 1772359200, "epoch-1"),
            ],
        )
        self.assertEqual(result["accepted"], 1)
        self.assertEqual(self.shipment.event_ids.occurred_at, datetime(2026, 3, 1, 10, 0))
        self.assertEqual(
            result["rejected"][0]["error"],
            "'occurred_at' must be an ISO 8601 date-time string with a UTC offset (e.g. "
            "2026-11-22T10:00:00+01:00), got int: 1772359200",
        )

    def test_unstorable_backend_code_and_reasons_are_clear_errors(self):
        with self.assertRaisesRegex(UserError, "No logistics backend with code 't_wms\\\\x00'"):
            self.env["logistics.event"].ingest_events("t_wms\x00", [])
        message = self.env["logistics.message"].create(
            {"direction": "inbound", "operation": "webhook", "state": "dead"}
        )
        with self.assertRaisesRegex(UserError, "The reason can't be kept: the value holds"):
            message.with_user(self.manager).action_replay("fixed\x00")
        with self.assertRaisesRegex(UserError, "The reason can't be kept"):
            message.with_user(self.manager).action_discard("no\udce9")
        self.assertEqual(message.state, "dead")

    def test_unstorable_strings_reject_only_their_event(self):
        result = self.ingest(
            self.carrier,
            [
                self.event("in_transit", "2026-03-01T10:00:00Z", "ok-1", payload={"a": [None]}),
                self.event("in_transit", "2026-03-01T10:00:00Z", "nul-1", payload={"a": "x\x00"}),
                self.event("in_transit", "2026-03-01T10:00:00Z", "sur\udce9"),
                self.event(
                    "in_transit", "2026-03-01T10:00:00Z", "nan-1", payload={"v": [float("nan")]}
                ),
                self.event("in_transit", "2026-03-01T10:00:00Z", "key-1", payload={"k\x00": 1}),
                # A backslash followed by "u0000" is text like any other.
                self.event("in_transit", "2026-03-01T10:00:00Z", "ok-2", payload={"a": "\\u0000"}),
            ],
        )
        self.assertEqual(result["accepted"], 2)
        self.assertEqual(
            result["rejected"],
            [
                {
                    "index": 1,
                    "error": "payload.a holds \\u0000 (NUL), which PostgreSQL text can't hold",
                },
                {
                    "index": 2,
                    "error": "event_id holds the lone surrogate \\udce9, which is not Unicode "
                    "text (RFC 8259 §8.2)",
                },
                {"index": 3, "error": "payload.v[0] is nan, which is not JSON (RFC 8259 §6)"},
                {
                    "index": 4,
                    "error": "a key of payload holds \\u0000 (NUL), which PostgreSQL text can't "
                    "hold",
                },
            ],
        )
        exceptions = self.env["logistics.exception"].search(
            [("backend_id", "=", self.carrier.id), ("type_id.code", "=", "schema_invalid")]
        )
        self.assertEqual(len(exceptions), 4)
        self.assertEqual(
            sorted(exceptions.mapped("source_event_id"), key=str),
            [False, "key-1", "nan-1", "nul-1"],
        )


@tagged("post_install", "-at_install")
class TestIngestOverRpc(HttpCase):
    """The same faults through the real RPC endpoints: the valid events of the call are
    accepted and the client gets the answer, never a Fault."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["logistics.backend"].create(
            {"name": "RPC Hard", "code": "rpc_hard", "kind": "carrier"}
        )
        cls.shipment = cls.env["logistics.shipment"].create({"name": "SHP/HARD/1"})
        cls.user = new_test_user(
            cls.env, "rpc_hard", password="rpc-hard-pw", groups=f"base.group_user,{GROUP_USER}"
        )

    def event(self, event_id, occurred_at="2026-03-01T10:00:00+00:00", **extra):
        return dict(
            type="in_transit",
            occurred_at=occurred_at,
            event_id=event_id,
            shipment_ref="SHP/HARD/1",
            **extra,
        )

    def test_xmlrpc_overflowing_dates_and_datetime_values(self):
        uid = self.xmlrpc_common.authenticate(self.env.cr.dbname, "rpc_hard", "rpc-hard-pw", {})
        result = self.xmlrpc_object.execute_kw(
            self.env.cr.dbname,
            uid,
            "rpc-hard-pw",
            "logistics.event",
            "ingest_events",
            [
                "rpc_hard",
                [
                    self.event("x-1"),
                    self.event("x-2", occurred_at="0001-01-01T00:00:00+01:00"),
                    self.event("x-3", occurred_at="9999-12-31T23:59:59-01:00"),
                    # An XML-RPC dateTime.iso8601 carries no offset: taken as UTC.
                    self.event("x-4", occurred_at=datetime(2026, 3, 1, 12, 30)),
                    # dateTime and base64 values are no JSON values: in a payload they
                    # reject their event, not the call.
                    self.event("x-5", payload={"at": datetime(2026, 3, 1, 12, 30)}),
                    self.event("x-6", payload={"pdf": xmlrpc.client.Binary(b"%PDF")}),
                ],
            ],
        )
        self.assertEqual(result["accepted"], 2)
        self.assertEqual([r["index"] for r in result["rejected"]], [1, 2, 4, 5])
        self.assertIn("out of range once converted to UTC", result["rejected"][0]["error"])
        self.assertEqual(
            [r["error"] for r in result["rejected"][2:]],
            [
                "payload.at is a datetime, which is not a JSON value",
                "payload.pdf is a Binary, which is not a JSON value",
            ],
        )
        self.assertEqual(
            self.shipment.event_ids.filtered(lambda e: e.source_event_id == "x-4").occurred_at,
            datetime(2026, 3, 1, 12, 30),
        )

    def test_jsonrpc_nul_surrogate_and_nan_reject_only_their_event(self):
        self.authenticate("rpc_hard", "rpc-hard-pw")
        events = [
            json.dumps(self.event("j-1", payload={"ok": None})),
            json.dumps(self.event("j-2", payload={"note": "NUL"})).replace('"NUL"', '"a\\u0000"'),
            json.dumps(self.event("j-3", payload={"note": "SUR"})).replace('"SUR"', '"\\udce9"'),
            json.dumps(self.event("j-4", payload={"note": "NAN"})).replace('"NAN"', "NaN"),
        ]
        body = (
            '{"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"model": '
            '"logistics.event", "method": "ingest_events", "args": ["rpc_hard", ['
            + ", ".join(events)
            + ']], "kwargs": {}}}'
        )
        response = self.url_open(
            "/web/dataset/call_kw/logistics.event/ingest_events",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        self.assertNotIn("error", answer, answer)
        result = answer["result"]
        self.assertEqual(result["accepted"], 1)
        self.assertEqual(
            [(r["index"], r["error"][:22]) for r in result["rejected"]],
            [
                (1, "payload.note holds \\u0"),
                (2, "payload.note holds the"),
                (3, "payload.note is nan, w"),
            ],
        )
        self.assertEqual(self.shipment.event_ids.source_event_id, "j-1")
        self.assertEqual(self.shipment.event_ids.payload, {"ok": None})
