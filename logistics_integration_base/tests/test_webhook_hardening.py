"""Bad webhook inputs get a clear 4xx, are kept (bounded), and never a 500 (issue 10, items 1-5,
7 and 8 through the webhook)."""

import base64
import gzip
import json

from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from ..controllers.webhook import NOT_AUTHENTICATED
from ..models.logistics_webhook_refusal import KEPT_PER_MINUTE
from .common import GROUP_MANAGER
from .test_webhook import WebhookCase

URL = "/logistics/webhook/hook_carrier"


@tagged("post_install", "-at_install")
class TestWebhookBodies(WebhookCase):
    def event_text(self, **replace):
        """A valid event as JSON text, with raw JSON fragments put in place of values."""
        text = json.dumps(self.event(event_id="bad-1", payload={"note": "NOTE"}))
        for value, fragment in replace.items():
            text = text.replace(json.dumps(value), fragment)
        return text

    def assert_refused(self, response, status, reason, raw, kept_reason=None):
        self.assertEqual(response.status_code, status, response.text)
        self.assertTrue(response.headers["Content-Type"].startswith("application/json"))
        body = response.json()
        self.assertEqual(body["status"], "rejected")
        self.assertIn(reason, body["error"])
        message = self.env["logistics.message"].browse(body["message_id"])
        self.assertEqual((message.state, message.http_status), ("rejected", status))
        self.assertIn(kept_reason or reason, message.error)
        # The exact bytes, whatever they hold, are kept beside the readable text.
        self.assertEqual(base64.b64decode(message.rejected_body), raw)
        self.assertFalse(self.shipment.event_ids)
        return message

    def test_bodies_postgresql_text_cannot_hold_are_400_and_kept(self):
        cases = [
            ("a raw NUL byte", self.event_text(NOTE='"a\x00b"').encode(), "not UTF-8"),
            ("the escape \\u0000", self.event_text(NOTE='"a\\u0000b"').encode(), "\\u0000"),
            ("a lone surrogate", self.event_text(NOTE='"caf\\udce9"').encode(), "surrogate"),
            ("NaN", self.event_text(NOTE="NaN").encode(), "NaN is not JSON"),
            ("Infinity", self.event_text(NOTE="-Infinity").encode(), "-Infinity is not JSON"),
            ("UTF-16 JSON", self.event_text().encode("utf-16"), "JSON must be UTF-8"),
            ("UTF-16LE JSON", self.event_text().encode("utf-16-le"), "JSON must be UTF-8"),
            ("Latin-1 JSON", self.event_text(NOTE='"caf\xe9"').encode("latin-1"), "not UTF-8"),
        ]
        for label, raw, reason in cases:
            with self.subTest(label):
                # Only the first refusals of a minute are kept: make each case a first one.
                self.env["logistics.webhook.refusal"].search([]).unlink()
                message = self.assert_refused(self.post(raw), 400, reason, raw)
                self.assertEqual(message.backend_id, self.backend)
                self.assertNotIn("\x00", message.request_body)
        self.assertIn(
            "payload.note holds \\u0000",
            self.messages(state="rejected", http_status=400)[1].error,
        )

    def test_raw_nul_on_an_unknown_backend_is_401_and_kept(self):
        raw = b'{"type": "in\x00transit"}'
        response = self.post(raw, path="/logistics/webhook/nobody")
        message = self.assert_refused(
            response, 401, NOT_AUTHENTICATED, raw, kept_reason="unknown backend 'nobody'"
        )
        self.assertEqual(message.request_body, '{"type": "in\\x00transit"}')
        self.assertEqual(message.endpoint, "/logistics/webhook/nobody")

    def test_refused_requests_replay_only_with_a_checked_payload(self):
        """A refused request kept its body as received: nothing checked to apply. Replayed as
        it is, it is refused with the reason (never a 500); with an edited payload (a manager's
        corrected event) it goes through the pipeline."""
        manager = new_test_user(self.env, "hook_manager", groups=f"base.group_user,{GROUP_MANAGER}")
        unknown = self.env["logistics.message"].browse(
            self.post(self.event(), path="/logistics/webhook/nobody").json()["message_id"]
        )
        with self.assertRaisesRegex(UserError, "was sent to no known backend"):
            unknown.with_user(manager).action_replay("try again")
        unsigned = self.env["logistics.message"].browse(
            self.post(self.event(event_id="unsigned-1"), signature="0" * 64).json()["message_id"]
        )
        with self.assertRaisesRegex(UserError, "was refused at the door \\(signature refused"):
            unsigned.with_user(manager).action_replay("try again")
        self.assertFalse(unsigned.replay_ids)
        (replay,) = unsigned.with_user(manager).action_replay(
            "checked with the partner", payload=self.event(event_id="unsigned-1")
        )
        self.run_queued_jobs()
        self.assertEqual(replay.state, "done")
        self.assertEqual(self.shipment.event_ids.source_event_id, "unsigned-1")

    def test_nul_in_the_path_is_an_unknown_backend(self):
        response = self.post(self.event(), path="/logistics/webhook/hook%00carrier")
        self.assertEqual(response.status_code, 401, response.text)
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertEqual(message.endpoint, "/logistics/webhook/hook\\x00carrier")
        self.assertIn("unknown backend 'hook\\x00carrier'", message.error)

    def test_stored_copy_of_a_refused_body_is_bounded(self):
        self.backend.webhook_max_bytes = 200_000
        raw = b'{"blob": "' + b"\xff" * 100_000 + b'"}'
        response = self.post(raw)
        self.assertEqual(response.status_code, 400)
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertEqual(len(base64.b64decode(message.rejected_body)), 65536)
        self.assertEqual(message.request_body[:14], '{"blob": "\\xff')

    def test_times_out_of_range_are_422_not_500(self):
        for occurred_at, reason in [
            ("0001-01-01T00:00:00+01:00", "out of range once converted to UTC"),
            ("9999-12-31T23:59:59-01:00", "out of range once converted to UTC"),
            ("1999-12-31T23:59:59+00:00", "before 2000-01-01"),
            ("2099-01-01T00:00:00+00:00", "more than a day ahead"),
        ]:
            with self.subTest(occurred_at):
                self.env["logistics.webhook.refusal"].search([]).unlink()
                raw = json.dumps(self.event(occurred_at=occurred_at)).encode()
                self.assert_refused(self.post(raw), 422, reason, raw)


@tagged("post_install", "-at_install")
class TestWebhookTransport(WebhookCase):
    GZIP = {"Content-Encoding": "gzip"}

    def post_raw(self, raw, signed=None, headers=None):
        timestamp, signature = self.sign(raw if signed is None else signed)
        return self.url_open(
            URL,
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Logistics-Signature": f"t={timestamp},v1={signature}",
                **(headers or {}),
            },
        )

    def test_gzip_body_signed_decompressed_is_accepted(self):
        raw = json.dumps(self.event(event_id="gz-1")).encode()
        response = self.post_raw(
            gzip.compress(raw), signed=raw, headers={"Content-Encoding": "gzip"}
        )
        self.assertEqual(response.status_code, 202, response.text)
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertEqual(message.request_body, raw.decode())
        self.assertEqual(message.partner_event_id, "gz-1")

    def test_gzip_bomb_is_413_and_other_encodings_415(self):
        # 4 KiB backend limit: 10 MB of zeros compress to about 10 KiB; 100 KB to 100 bytes.
        bomb = gzip.compress(b" " * 100_000)
        self.assertLess(len(bomb), 4096)
        response = self.post_raw(bomb, headers=self.GZIP)
        self.assertEqual(response.status_code, 413, response.text)
        self.assertIn("inflates past the 4096-byte limit", response.json()["error"])
        raw = json.dumps(self.event(event_id="br-1")).encode()
        response = self.post_raw(raw, headers={"Content-Encoding": "br"})
        self.assertEqual(response.status_code, 415, response.text)
        self.assertIn("Content-Encoding 'br' is not supported", response.json()["error"])
        response = self.post_raw(b"\x1f\x8b not gzip", headers=self.GZIP)
        self.assertEqual(response.status_code, 400, response.text)
        self.assertIn("gzip body is corrupt", response.json()["error"])
        response = self.post_raw(
            gzip.compress(raw)[:-8], signed=raw, headers={"Content-Encoding": "gzip"}
        )
        self.assertEqual(response.status_code, 400, response.text)
        self.assertIn("truncated", response.json()["error"])
        response = self.post_raw(
            gzip.compress(raw) + gzip.compress(b"more"), signed=raw, headers=self.GZIP
        )
        self.assertEqual(response.status_code, 400, response.text)
        self.assertIn("data after its end", response.json()["error"])
        # The exact bytes received are kept.
        message = self.env["logistics.message"].browse(response.json()["message_id"])
        self.assertEqual(base64.b64decode(message.rejected_body)[:2], b"\x1f\x8b")

    def test_form_content_type_keeps_the_raw_body_for_the_signature(self):
        raw = json.dumps(self.event(event_id="form-1")).encode()
        response = self.post_raw(raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(response.status_code, 202, response.text)
        multipart = b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n'
        response = self.post_raw(
            multipart, headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        # Signed, so the signature passes on the raw bytes; then it is not JSON.
        self.assertEqual(response.status_code, 400, response.text)

    def test_signature_header_with_spaces_any_order_and_rotated_secrets(self):
        raw = json.dumps(self.event(event_id="sig-1")).encode()
        timestamp, good = self.sign(raw)
        _t, old = self.sign(raw, secret="whsec_old_secret")
        for number, header in enumerate(
            [
                f"t={timestamp}, v1={good}",
                f"v1={good} ,t={timestamp} ",
                f"t={timestamp},v1={good},v1={old}",
                f"t={timestamp},v1={old},v1={good}",
                f"t={timestamp}, v0=abc, v1={good}",
            ]
        ):
            with self.subTest(header):
                body = json.dumps(self.event(event_id=f"sig-{number}")).encode()
                header = header.replace(good, self.sign(body, timestamp=timestamp)[1])
                response = self.url_open(URL, data=body, headers={"X-Logistics-Signature": header})
                self.assertEqual(response.status_code, 202, response.text)
        for header, reason in [
            (f"t={timestamp},v1={old}", "does not match"),
            (f"t={timestamp},v1={old},v1=é{good}", "does not match"),
            (f"t={timestamp},t={timestamp},v1={good}", "malformed"),
            (f"v1={good}", "malformed"),
        ]:
            with self.subTest(header):
                response = self.url_open(
                    URL, data=raw, headers={"X-Logistics-Signature": header.encode("latin-1")}
                )
                self.assertEqual(response.status_code, 401, response.text)
                self.assertEqual(response.json()["error"], NOT_AUTHENTICATED)
                message = self.env["logistics.message"].browse(response.json()["message_id"])
                self.assertIn(reason, message.error)


@tagged("post_install", "-at_install")
class TestWebhookRefusalFlood(WebhookCase):
    def test_refusals_are_counted_and_only_the_first_bodies_kept(self):
        Message = self.env["logistics.message"]
        Refusal = self.env["logistics.webhook.refusal"]
        before = Message.search_count([("state", "=", "rejected")])
        for number in range(20):
            self.post(self.event(event_id=f"flood-{number}"), signature="0" * 64)
        for number in range(12):
            self.post(self.event(), path=f"/logistics/webhook/probe-{number}")
        refusals = Refusal.search([("backend_id", "=", self.backend.id)])
        self.assertEqual(sum(refusals.mapped("request_count")), 20)
        self.assertEqual(set(refusals.mapped("http_status")), {401})
        for refusal in refusals:  # one row a minute (two if the test crossed a minute)
            self.assertEqual(refusal.kept, min(refusal.request_count, KEPT_PER_MINUTE))
        unknown = Refusal.search([("backend_id", "=", False), ("http_status", "=", 401)])
        self.assertEqual(sum(unknown.mapped("request_count")), 12)
        self.assertLessEqual(len(unknown), 2)  # every unknown path counts in one row a minute
        kept = Message.search_count([("state", "=", "rejected")]) - before
        self.assertEqual(kept, sum((refusals | unknown).mapped("kept")))
        self.assertLessEqual(kept, 4 * KEPT_PER_MINUTE)
        # The answer is the same whether the body was kept or only counted.
        response = self.post(self.event(), signature="0" * 64)
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["status"], "rejected")
        self.assertEqual(response.json()["error"], NOT_AUTHENTICATED)

    def test_refusals_of_a_signed_partner_are_always_kept(self):
        """A partner that proved who it is sends bad data: every refusal stays readable."""
        for number in range(KEPT_PER_MINUTE + 3):
            response = self.post(self.event(event_id=f"signed-{number}", occurred_at="bad"))
            self.assertEqual(response.status_code, 422, response.text)
            self.assertTrue(response.json()["message_id"])
        messages = self.messages(backend_id=self.backend.id, state="rejected", http_status=422)
        self.assertEqual(len(messages), KEPT_PER_MINUTE + 3)

    def test_a_large_body_is_counted_without_being_read(self):
        response = self.post(self.event(payload={"blob": "x" * 5000}))
        self.assertEqual(response.status_code, 413)
        refusal = self.env["logistics.webhook.refusal"].search(
            [("backend_id", "=", self.backend.id), ("http_status", "=", 413)]
        )
        self.assertEqual(refusal.request_count, 1)
        self.assertIn("over the 4096-byte limit", refusal.last_error)

    def test_old_counts_are_purged_with_the_payloads(self):
        self.post(self.event(), signature="0" * 64)
        self.env.cr.execute(
            "UPDATE logistics_webhook_refusal SET minute = minute - interval '91 days'"
        )
        self.assertEqual(self.env["logistics.webhook.refusal"]._cron_purge(), 1)
