"""The EasyPost adapter against EasyPost's own recordings (shared/fixtures/easypost): request
bodies as EasyPost received them, responses parsed exactly as recorded. No database needed."""

import copy
import json
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers

from odoo.tests import BaseCase, tagged

from ..adapters import easypost
from .fixtures import load_cassette, request_json, response_json, response_status, response_text

# A webhook body and its signatures, computed outside Python (openssl dgst -sha256 -hmac with
# the key bytes given in hex), so the test does not check the code against itself.
SIGNED_BODY = b'{"description":"tracker.updated","id":"evt_1","object":"Event"}'
# key "se\u0301cret" = 7365cc8163726574, the NFKD form of "s\u00e9cret" (composed or not)
SIGNATURE_SECRET_NFKD = (
    "hmac-sha256-hex=9807326201bb74c508529aec57e5021c98ef0a561de2021d9adb1f7fcd63267a"
)
# key "s\u00e9cret" UTF-8 without normalisation (73c3a963726574): what EasyPost never sends
SIGNATURE_SECRET_COMPOSED = (
    "hmac-sha256-hex=bb7b163fd53bcf50684ab62d6e46d1003c77ccace0971bfe7c05781f2735b350"
)
# key "fish", the NFKD form of "\ufb01sh" (with the "fi" ligature)
SIGNATURE_FISH = "hmac-sha256-hex=85558752f8c7d6372aef89dcfc8567be1e6ce789752e903a15cab0de0f573904"


def rate(rate_id, amount, days=None, carrier="USPS", service="Priority"):
    return easypost.Rate(
        id=rate_id,
        carrier=carrier,
        service=service,
        amount=amount,
        currency="USD",
        delivery_days=days,
        carrier_account_id="ca_1",
    )


def tracker_event(tracker, description="tracker.updated", **values):
    """An EasyPost webhook Event around a tracker, in the shape EasyPost posts."""
    return {
        "id": "evt_5a0c2b8e3f9d4e6a8b1c7d2e4f6a8b0c",
        "object": "Event",
        "mode": "test",
        "description": description,
        "previous_attributes": {"status": "unknown"},
        "created_at": "2025-03-07T16:50:00Z",
        "updated_at": "2025-03-07T16:50:01Z",
        "pending_urls": ["https://example.com/logistics/webhook/easypost"],
        "completed_urls": [],
        "status": "pending",
        "result": tracker,
        **values,
    }


# EasyPost's documented Refund object (docs.easypost.com/docs/refunds, "Refund Object"), as the
# result of the refund.successful Event (docs.easypost.com/docs/events) once it completed.
DOCUMENTED_REFUND = {
    "id": "rfnd_92d852c508204fc3a34e62977eaa6c50",
    "object": "Refund",
    "created_at": "2025-05-09T20:40:01Z",
    "updated_at": "2025-05-09T20:40:01Z",
    "tracking_code": "9405500208303109884137",
    "confirmation_number": None,
    "status": "submitted",
    "carrier": "USPS",
    "shipment_id": "shp_744d6715c6794d8c8cd0874c368878ba",
}


def refund_event(refund, description="refund.successful", **values):
    """An EasyPost webhook Event around a Refund, in the shape EasyPost posts."""
    return tracker_event(refund, description, previous_attributes={"status": "submitted"}, **values)


@tagged("post_install", "-at_install")
class TestEasyPostAdapter(BaseCase):
    # --- shipments: the recordings, parsed as recorded --------------------------------------------
    def test_shipment_create_is_parsed_with_every_rate(self):
        (interaction,) = load_cassette("test_shipment_create")
        recorded = response_json(interaction)
        shipment = easypost.parse_shipment(response_text(interaction))

        self.assertEqual(response_status(interaction), 201)
        self.assertEqual(shipment.id, recorded["id"])
        self.assertTrue(shipment.id.startswith("shp_"))
        self.assertEqual(shipment.reference, "123")
        self.assertEqual(len(shipment.rates), 3)
        self.assertEqual(
            [
                (r.id, r.carrier, r.service, r.amount, r.currency, r.delivery_days)
                for r in shipment.rates
            ],
            [
                (
                    raw["id"],
                    raw["carrier"],
                    raw["service"],
                    float(raw["rate"]),
                    raw["currency"],
                    raw["delivery_days"],
                )
                for raw in recorded["rates"]
            ],
        )
        priority = next(
            r for r in shipment.rates if r.id == "rate_e10ea4fea5ba4d98a1a4135fe54737d7"
        )
        self.assertEqual(
            priority,
            easypost.Rate(
                id="rate_e10ea4fea5ba4d98a1a4135fe54737d7",
                carrier="USPS",
                service="Priority",
                amount=7.42,
                currency="USD",
                delivery_days=2,
                carrier_account_id="ca_b25657e9896e4d63ac8151ac346ac41e",
            ),
        )
        # Not bought yet: no label, no tracking, no selected rate.
        self.assertIsNone(shipment.tracking_code)
        self.assertIsNone(shipment.label_url)
        self.assertIsNone(shipment.label_file_type)
        self.assertIsNone(shipment.selected_rate)
        self.assertIsNone(shipment.tracker_id)
        self.assertIsNone(shipment.tracker_public_url)
        self.assertEqual(shipment.messages, [])

    def test_cheapest_rate_is_the_lowest_rate_of_the_recording(self):
        (interaction,) = load_cassette("test_shipment_lowest_rate")
        recorded = response_json(interaction)
        lowest = min(recorded["rates"], key=lambda raw: float(raw["rate"]))

        chosen = easypost.choose_rate(easypost.parse_shipment(recorded).rates, "cheapest")

        self.assertEqual(chosen.id, lowest["id"])
        self.assertEqual((chosen.service, chosen.amount), ("GroundAdvantage", 6.07))
        # The recording lists the rates in another order than test_shipment_create: the choice
        # does not depend on the order.
        self.assertNotEqual(recorded["rates"][0]["id"], lowest["id"])

    def test_fastest_rate_of_the_recording(self):
        (interaction,) = load_cassette("test_shipment_lowest_rate")
        rates = easypost.parse_shipment(response_json(interaction)).rates
        fastest = easypost.choose_rate(rates, "fastest")
        self.assertEqual(
            (fastest.service, fastest.delivery_days, fastest.amount), ("Express", 1, 34.15)
        )

    def test_buy_request_and_answer_as_recorded(self):
        create, buy = load_cassette("test_shipment_buy")
        created = easypost.parse_shipment(response_json(create))
        chosen = easypost.choose_rate(created.rates, "cheapest")

        # The recorded client bought the lowest rate: the same body and path as ours.
        self.assertEqual(buy["request"]["method"], "POST")
        self.assertEqual(easypost.buy_request(chosen.id), request_json(buy))
        self.assertEqual(easypost.buy_path(created.id), urlsplit(buy["request"]["uri"]).path)

        bought = easypost.parse_shipment(response_text(buy))
        self.assertEqual(response_status(buy), 200)
        self.assertEqual(bought.id, created.id)
        self.assertEqual(bought.tracking_code, "9400100208303109505657")
        self.assertEqual(
            bought.label_url,
            "https://easypost-files.s3.us-west-2.amazonaws.com/files/postage_label/20250307/"
            "e813a2cf6d079c4ea49714758be7711be0.png",
        )
        self.assertEqual(bought.label_file_type, "image/png")
        self.assertIsNone(bought.label_pdf_url)
        self.assertEqual(bought.selected_rate, chosen)
        self.assertEqual(bought.selected_rate.amount, 6.07)
        self.assertEqual(bought.tracker_id, "trk_279431562ef84af89555e5c8a2029b2f")
        self.assertEqual(
            bought.tracker_public_url,
            "https://track.easypost.com/djE6dHJrXzI3OTQzMTU2MmVmODRhZjg5NTU1ZTVjOGEyMDI5YjJm",
        )
        self.assertEqual(len(bought.rates), 3)

    def test_shipment_request_is_the_recorded_request(self):
        (interaction,) = load_cassette("test_shipment_create")
        recorded = request_json(interaction)["shipment"]
        self.assertEqual(interaction["request"]["method"], "POST")
        self.assertEqual(easypost.SHIPMENTS_PATH, urlsplit(interaction["request"]["uri"]).path)

        # The same data as Odoo gives it: empty fields are False or None.
        to_address = dict(recorded["to_address"], street2=False, company=None)
        body = easypost.shipment_request(
            reference=recorded["reference"],
            from_address=recorded["from_address"],
            to_address=to_address,
            parcel=easypost.parcel_from_kg(0.4366, length_cm=25.4, width_cm=20.32, height_cm=10.16),
            options=recorded["options"],
            customs_info=recorded["customs_info"],
        )

        self.assertEqual(set(body), {"shipment"})
        self.assertEqual(set(body["shipment"]), set(recorded))
        for key in ("from_address", "to_address", "parcel"):
            self.assertEqual(set(body["shipment"][key]), set(recorded[key]), key)
        self.assertEqual(body, {"shipment": recorded})

    def test_shipment_request_without_options_sends_only_what_is_given(self):
        body = easypost.shipment_request(
            reference="WH/OUT/00042",
            from_address={"name": "YourCompany", "street1": " 250 Executive Park Blvd ", "zip": ""},
            to_address={"name": "Deco Addict", "street2": None, "country": "US", "fax": "1"},
            parcel=easypost.parcel_from_kg(2),
        )
        self.assertEqual(
            body,
            {
                "shipment": {
                    "from_address": {"name": "YourCompany", "street1": "250 Executive Park Blvd"},
                    "to_address": {"name": "Deco Addict", "country": "US"},
                    "parcel": {"weight": 70.5},
                    "reference": "WH/OUT/00042",
                }
            },
        )
        with self.assertRaisesRegex(ValueError, "weight"):
            easypost.shipment_request("R", {}, {}, {"length": 1})
        with self.assertRaisesRegex(ValueError, "address"):
            easypost.shipment_request("R", None, {}, {"weight": 1})

    def test_cash_on_delivery_goes_as_easypost_options(self):
        # EasyPost's Options object: cod_amount a string, cod_method CASH / CHECK / MONEY_ORDER.
        options = easypost.cod_options(150, "usd")
        self.assertEqual(options, {"cod_amount": "150.00", "cod_method": "CASH", "currency": "USD"})
        self.assertEqual(easypost.cod_options(9.999, "EUR", "CHECK")["cod_amount"], "10.00")
        body = easypost.shipment_request(
            reference="SHP/00042/PKG-1",
            from_address={"name": "YourCompany"},
            to_address={"name": "Deco Addict"},
            parcel=easypost.parcel_from_kg(2),
            options={"label_format": "PDF", **options},
        )
        self.assertEqual(
            body["shipment"]["options"],
            {
                "label_format": "PDF",
                "cod_amount": "150.00",
                "cod_method": "CASH",
                "currency": "USD",
            },
        )
        for amount, currency, method in (
            (0, "USD", "CASH"),
            (-5, "USD", "CASH"),
            (float("inf"), "USD", "CASH"),
            ("lots", "USD", "CASH"),
            (True, "USD", "CASH"),
            (10, "US", "CASH"),
            (10, None, "CASH"),
            (10, "USD", "CARD"),
        ):
            with self.assertRaises(ValueError, msg=(amount, currency, method)):
                easypost.cod_options(amount, currency, method)

    def test_cod_collected_scan_gives_the_amount(self):
        (interaction,) = load_cassette("test_tracker_create")
        tracker = response_json(interaction)
        tracker.update(status="delivered", status_detail="cod_collected")
        tracker["tracking_details"].append(
            {
                "object": "TrackingDetail",
                "message": "Cash on Delivery Collected: 150.00 USD",
                "status": "delivered",
                "status_detail": "cod_collected",
                "datetime": "2025-02-08T10:00:00Z",
                "cod_amount": "150.00",
                "cod_currency": "USD",
            }
        )
        update = easypost.parse_event(tracker_event(tracker))
        self.assertEqual((update.status, update.status_detail), ("delivered", "cod_collected"))
        self.assertEqual((update.cod_amount, update.cod_currency), (150.0, "USD"))
        self.assertEqual(update.occurred_at, "2025-02-08T10:00:00+00:00")
        # Only a cod_collected scan carries it; a scan of another detail gives none.
        tracker["tracking_details"][-1]["status_detail"] = "arrived_at_destination"
        update = easypost.parse_event(tracker_event(tracker))
        self.assertEqual((update.cod_amount, update.cod_currency), (None, None))
        tracker["tracking_details"][-1].update(status_detail="cod_collected", cod_amount="n/a")
        self.assertIsNone(easypost.parse_event(tracker_event(tracker)).cod_amount)

    def test_parcel_in_ounces_and_inches(self):
        self.assertEqual(easypost.parcel_from_kg(1), {"weight": 35.3})
        self.assertEqual(easypost.parcel_from_kg(0.0), {"weight": 0.1})
        self.assertEqual(easypost.parcel_from_kg(0.001), {"weight": 0.1})
        self.assertEqual(
            easypost.parcel_from_kg(1.5, 30, 20.5, False),
            {"weight": 52.9, "length": 11.8, "width": 8.1},
        )
        self.assertEqual(easypost.parcel_from_kg(1, 0, None, 0.1), {"weight": 35.3, "height": 0.1})
        for bad in (-1, "heavy", None, float("nan")):
            with self.assertRaises(ValueError, msg=repr(bad)):
                easypost.parcel_from_kg(bad)
        with self.assertRaisesRegex(ValueError, "length"):
            easypost.parcel_from_kg(1, length_cm=-3)

    def test_paths_and_small_requests(self):
        self.assertEqual(easypost.buy_path("shp_123"), "/v2/shipments/shp_123/buy")
        self.assertEqual(easypost.buy_path("shp/../x"), "/v2/shipments/shp%2F..%2Fx/buy")
        self.assertEqual(easypost.buy_request("rate_1"), {"rate": {"id": "rate_1"}})
        for call, argument in (
            (easypost.buy_path, ""),
            (easypost.buy_path, None),
            (easypost.buy_request, ""),
        ):
            with self.assertRaises(ValueError):
                call(argument)

    # --- shipments: what EasyPost may leave out ---------------------------------------------------
    def test_shipment_with_missing_fields(self):
        shipment = easypost.parse_shipment(
            {
                "id": "shp_1",
                "rates": [
                    {"id": "rate_1", "rate": "1.50"},
                    {"id": "rate_2", "rate": None, "carrier": "UPS"},
                    {"rate": "0.10"},
                    "garbage",
                    {"id": "rate_3", "rate": 2, "est_delivery_days": "4", "delivery_days": None},
                ],
                "postage_label": None,
                "tracker": None,
                "messages": [
                    {"carrier": "FedEx", "type": "rate_error", "message": "account not active"}
                ],
            }
        )
        self.assertEqual([r.id for r in shipment.rates], ["rate_1", "rate_3"])
        first, third = shipment.rates
        self.assertEqual((first.amount, first.carrier, first.delivery_days), (1.5, None, None))
        self.assertEqual((third.amount, third.delivery_days), (2.0, 4))
        self.assertIsNone(shipment.reference)
        self.assertIsNone(shipment.label_url)
        self.assertEqual(shipment.messages, ["FedEx: account not active"])

    def test_not_a_shipment_is_refused_with_the_reason(self):
        (error,) = load_cassette("test_error")
        for body, reason in (
            (response_text(error), "PARAMETER.REQUIRED"),
            (None, "JSON object"),
            ("<html>502</html>", "not JSON"),
            ([], "JSON object"),
            ({"object": "Tracker", "id": "trk_1"}, "Shipment, got a Tracker"),
            ({"object": "Shipment"}, "no id"),
        ):
            with self.assertRaisesRegex(ValueError, reason):
                easypost.parse_shipment(body)

    # --- errors -----------------------------------------------------------------------------------
    def test_error_as_recorded(self):
        (interaction,) = load_cassette("test_error")
        self.assertEqual(request_json(interaction), {"shipment": {}})
        expected = easypost.CarrierError(
            status=422,
            code="PARAMETER.REQUIRED",
            message="Missing required parameter.",
            field_errors=["shipment: cannot be blank"],
        )
        status = response_status(interaction)
        self.assertEqual(easypost.parse_error(response_text(interaction), status), expected)
        self.assertEqual(easypost.parse_error(response_json(interaction), status), expected)
        self.assertEqual(
            easypost.parse_error(response_text(interaction).encode(), str(status)), expected
        )

    def test_unexpected_error_bodies(self):
        gateway = easypost.parse_error("<html><body>\n502 Bad Gateway " + "x" * 500, 502)
        self.assertEqual((gateway.status, gateway.code, gateway.field_errors), (502, "UNKNOWN", []))
        self.assertIn("HTTP 502", gateway.message)
        self.assertIn("502 Bad Gateway", gateway.message)
        self.assertLess(len(gateway.message), 200)

        for body in (None, "", b"", [], {"unexpected": True}, {"error": None}, 42):
            error = easypost.parse_error(body, 500)
            self.assertEqual((error.code, error.status), ("UNKNOWN", 500), repr(body))
            self.assertIn("HTTP 500", error.message)

        self.assertEqual(
            easypost.parse_error({"error": "Not authorized"}, 401),
            easypost.CarrierError(401, "UNKNOWN", "Not authorized", []),
        )
        no_status = easypost.parse_error("timeout", False)
        self.assertIsNone(no_status.status)
        self.assertEqual(no_status.code, "UNKNOWN")
        mixed = easypost.parse_error(
            {
                "error": {
                    "code": "ADDRESS.VERIFY.FAILURE",
                    "message": ["Unable to verify address."],
                    "errors": [
                        "E.ADDRESS.NOT_FOUND",
                        {"field": "zip", "message": ["too", "short"]},
                    ],
                }
            },
            422,
        )
        self.assertEqual(mixed.message, "Unable to verify address.")
        self.assertEqual(mixed.field_errors, ["E.ADDRESS.NOT_FOUND", "zip: too, short"])

    # --- rate choice ------------------------------------------------------------------------------
    def test_cheapest_ties_go_to_fewer_days_then_carrier_name(self):
        slow = rate("rate_slow", 5.0, days=5, carrier="Alpha")
        quick = rate("rate_quick", 5.0, days=2, carrier="Zulu")
        unknown_days = rate("rate_unknown", 5.0, days=None, carrier="Alpha")
        expensive = rate("rate_expensive", 9.0, days=1)
        self.assertEqual(
            easypost.choose_rate([slow, unknown_days, expensive, quick], "cheapest"), quick
        )
        ups = rate("rate_ups", 5.0, days=2, carrier="UPS")
        dhl = rate("rate_dhl", 5.0, days=2, carrier="DHLExpress")
        self.assertEqual(easypost.choose_rate([ups, dhl], "cheapest"), dhl)
        self.assertEqual(easypost.choose_rate([dhl, ups], "cheapest"), dhl)

    def test_fastest_treats_unknown_days_as_slowest_and_ties_go_to_the_cheapest(self):
        unknown_days = rate("rate_unknown", 1.0, days=None)
        three_days = rate("rate_3", 4.0, days=3)
        one_day_dear = rate("rate_1_dear", 30.0, days=1)
        one_day_cheap = rate("rate_1_cheap", 20.0, days=1)
        rates = [unknown_days, three_days, one_day_dear, one_day_cheap]
        self.assertEqual(easypost.choose_rate(rates, "fastest"), one_day_cheap)
        self.assertEqual(easypost.choose_rate([unknown_days, three_days], "fastest"), three_days)
        self.assertEqual(easypost.choose_rate([unknown_days], "fastest"), unknown_days)

    def test_preferred_carrier_and_its_fallbacks(self):
        usps_priority = rate("rate_usps_priority", 7.42, 2, "USPS", "Priority")
        usps_ground = rate("rate_usps_ground", 6.07, 3, "USPS", "GroundAdvantage")
        ups_ground = rate("rate_ups_ground", 9.10, 3, "UPSDAP", "Ground")
        ups_air = rate("rate_ups_air", 25.0, 1, "UPSDAP", "NextDayAir")
        fedex = rate("rate_fedex", 5.0, 4, "FedEx", "Ground")
        rates = [usps_priority, usps_ground, ups_ground, ups_air, fedex]

        def preferred(carrier, service=None):
            return easypost.choose_rate(rates, "preferred", carrier, service)

        self.assertEqual(preferred("UPSDAP"), ups_ground)
        self.assertEqual(preferred("upsdap", "nextdayair"), ups_air)
        self.assertEqual(preferred("USPS", "Priority"), usps_priority)
        # The carrier without that service: its cheapest rate.
        self.assertEqual(preferred("USPS", "Express"), usps_ground)
        # A carrier without any rate, or no preference at all (Odoo's empty field is False):
        # the cheapest rate.
        self.assertEqual(preferred("DHLExpress"), fedex)
        self.assertEqual(preferred("DHLExpress", "Ground"), fedex)
        self.assertEqual(preferred(False), fedex)
        self.assertEqual(preferred(None, "Priority"), fedex)

    def test_no_rate_or_unknown_rule_is_refused(self):
        with self.assertRaisesRegex(ValueError, "no rate"):
            easypost.choose_rate([], "cheapest")
        with self.assertRaisesRegex(ValueError, "no rate"):
            easypost.choose_rate(None, "preferred", "USPS")
        with self.assertRaisesRegex(ValueError, "unknown rate rule 'random'"):
            easypost.choose_rate([rate("rate_1", 1.0)], "random")
        with self.assertRaisesRegex(ValueError, "unknown rate rule"):
            easypost.choose_rate([rate("rate_1", 1.0)], False)

    # --- webhook signatures -----------------------------------------------------------------------
    def test_signature_uses_the_nfkd_normalised_secret(self):
        composed = "s\u00e9cret"
        decomposed = "se\u0301cret"
        self.assertNotEqual(composed, decomposed)
        self.assertEqual(easypost.sign(SIGNED_BODY, composed), SIGNATURE_SECRET_NFKD)
        self.assertEqual(easypost.sign(SIGNED_BODY, decomposed), SIGNATURE_SECRET_NFKD)
        self.assertEqual(easypost.sign(SIGNED_BODY, "\ufb01sh"), SIGNATURE_FISH)
        self.assertEqual(easypost.sign(SIGNED_BODY, "fish"), SIGNATURE_FISH)

        for secret in (composed, decomposed):
            easypost.verify_signature(
                SIGNED_BODY, {"X-Hmac-Signature": SIGNATURE_SECRET_NFKD}, secret
            )
        easypost.verify_signature(SIGNED_BODY, {"X-Hmac-Signature": SIGNATURE_FISH}, "\ufb01sh")
        # A signer that skips the normalisation is not EasyPost.
        with self.assertRaisesRegex(ValueError, "does not match"):
            easypost.verify_signature(
                SIGNED_BODY, {"X-Hmac-Signature": SIGNATURE_SECRET_COMPOSED}, composed
            )

    def test_signature_header_is_found_in_any_case(self):
        for headers in (
            {"x-hmac-signature": SIGNATURE_FISH},
            {"X-HMAC-SIGNATURE": SIGNATURE_FISH, "Content-Type": "application/json"},
            Headers([("x-hmac-signature", SIGNATURE_FISH)]),
        ):
            easypost.verify_signature(SIGNED_BODY, headers, "fish")

    def test_bad_signatures_are_refused_with_the_reason(self):
        hex_only = SIGNATURE_FISH.removeprefix("hmac-sha256-hex=")
        for raw_body, headers, secret, reason in (
            (SIGNED_BODY + b" ", {"X-Hmac-Signature": SIGNATURE_FISH}, "fish", "does not match"),
            (SIGNED_BODY, {"X-Hmac-Signature": SIGNATURE_FISH}, "fishy", "does not match"),
            (SIGNED_BODY, {"X-Hmac-Signature": hex_only}, "fish", "does not match"),
            (SIGNED_BODY, {"X-Hmac-Signature": "hmac-sha256-hex=\u00e9"}, "fish", "does not match"),
            (SIGNED_BODY, {"Content-Type": "application/json"}, "fish", "missing X-Hmac-Signature"),
            (SIGNED_BODY, {"X-Hmac-Signature": ""}, "fish", "missing X-Hmac-Signature"),
            (SIGNED_BODY, {}, "fish", "missing X-Hmac-Signature"),
            (SIGNED_BODY, {"X-Hmac-Signature": SIGNATURE_FISH}, "", "no webhook secret"),
            (SIGNED_BODY, {"X-Hmac-Signature": SIGNATURE_FISH}, False, "no webhook secret"),
            (SIGNED_BODY, {"X-Hmac-Signature": SIGNATURE_FISH}, None, "no webhook secret"),
        ):
            with self.assertRaisesRegex(ValueError, reason):
                easypost.verify_signature(raw_body, headers, secret)

    # --- trackers and webhook events --------------------------------------------------------------
    def test_recorded_trackers_in_tracker_updated_events(self):
        created = load_cassette("test_tracker_create")
        retrieved = load_cassette("test_tracker_retrieve")
        _create_call, get_call = retrieved

        expected = easypost.TrackerUpdate(
            event_id="evt_5a0c2b8e3f9d4e6a8b1c7d2e4f6a8b0c",
            tracking_code="EZ1000000001",
            status="pre_transit",
            status_detail="status_update",
            # The newest of the two tracking details.
            occurred_at="2025-02-07T08:25:26+00:00",
            est_delivery_date="2025-03-06T19:48:26+00:00",
            signed_by=None,
            carrier="USPS",
            public_url="https://track.easypost.com/djE6dHJrX2U3ZThmMTQzZjNlYjQwZDM4YmU5NTYyZTM3NjdjMzZh",
            shipment_id=None,
            message="Shipping Label Created",
            location={"city": "HOUSTON", "state": "TX", "zip": "77063"},
            tracker_id="trk_e7e8f143f3eb40d38be9562e3767c36a",
        )
        for interaction in (*created, *retrieved):
            tracker = json.loads(response_text(interaction))
            self.assertEqual(easypost.parse_event(tracker_event(tracker)), expected)
        recorded = response_json(get_call)
        self.assertEqual(len(recorded["tracking_details"]), 2)
        self.assertEqual(
            [detail["status"] for detail in recorded["tracking_details"]], ["pre_transit"] * 2
        )

    def test_tracker_updated_event_from_the_recorded_tracker(self):
        (interaction,) = load_cassette("test_tracker_create")
        tracker = response_json(interaction)
        event = tracker_event(tracker)
        raw = json.dumps(event).encode()
        headers = Headers([("X-Hmac-Signature", easypost.sign(raw, "s\u00e9cret"))])

        easypost.verify_signature(raw, headers, "se\u0301cret")
        update = easypost.parse_event(raw)

        self.assertEqual(update, easypost.parse_event(event))
        self.assertEqual(update.event_id, "evt_5a0c2b8e3f9d4e6a8b1c7d2e4f6a8b0c")
        self.assertEqual(update.tracking_code, "EZ1000000001")
        self.assertEqual((update.status, update.status_detail), ("pre_transit", "status_update"))
        self.assertEqual(update.occurred_at, "2025-02-07T08:25:26+00:00")
        self.assertEqual(update.message, "Shipping Label Created")
        self.assertEqual(update.location, {"city": "HOUSTON", "state": "TX", "zip": "77063"})
        self.assertEqual(update.carrier, "USPS")
        self.assertEqual(update.public_url, tracker["public_url"])
        self.assertEqual(update.est_delivery_date, "2025-03-06T19:48:26+00:00")

    def test_newest_scan_is_found_by_its_time_not_its_place(self):
        (interaction,) = load_cassette("test_tracker_create")
        tracker = response_json(interaction)
        tracker["tracking_details"].reverse()
        self.assertEqual(
            easypost.parse_event(tracker_event(tracker)).message, "Shipping Label Created"
        )

        delivered = copy.deepcopy(tracker)
        delivered.update(
            status="delivered", status_detail="arrived_at_destination", signed_by="J DOE"
        )
        delivered["tracking_details"].append(
            {
                "object": "TrackingDetail",
                "message": "Delivered, In/At Mailbox",
                "status": "delivered",
                "datetime": "2025-02-07T04:00:00-05:00",  # 09:00 UTC: the newest
                "tracking_location": {"city": "CHARLESTON", "state": "SC", "zip": None},
            }
        )
        delivered["tracking_details"].insert(
            0, {"message": "No time", "datetime": "yesterday", "tracking_location": None}
        )
        update = easypost.parse_event(tracker_event(delivered))
        self.assertEqual(update.occurred_at, "2025-02-07T04:00:00-05:00")
        self.assertEqual(update.message, "Delivered, In/At Mailbox")
        self.assertEqual(update.location, {"city": "CHARLESTON", "state": "SC"})
        self.assertEqual(update.signed_by, "J DOE")

    def test_event_time_without_tracking_details(self):
        # The tracker the label purchase created: no scan yet.
        _create, buy = load_cassette("test_shipment_buy")
        tracker = response_json(buy)["tracker"]
        self.assertEqual(tracker["tracking_details"], [])

        update = easypost.parse_event(tracker_event(tracker))
        self.assertEqual(update.occurred_at, "2025-03-07T16:50:01+00:00")  # the event's updated_at
        self.assertIsNone(update.message)
        self.assertIsNone(update.location)
        self.assertIsNone(update.est_delivery_date)
        self.assertEqual(update.shipment_id, "shp_16578f588f9546ec914afd2474e24ff5")
        self.assertEqual((update.status, update.status_detail), ("unknown", "unknown"))

        update = easypost.parse_event(tracker_event(tracker, updated_at=None))
        self.assertEqual(update.occurred_at, "2025-03-07T16:50:00+00:00")  # its created_at
        update = easypost.parse_event(tracker_event(tracker, updated_at=None, created_at=None))
        self.assertEqual(update.occurred_at, "2025-03-07T16:46:20+00:00")  # the tracker's

    def test_other_events_are_ignored(self):
        (interaction,) = load_cassette("test_tracker_create")
        tracker = response_json(interaction)
        for description in ("batch.created", "shipment.invoice.created", "tracker.created", None):
            self.assertIsNone(easypost.parse_event(tracker_event(tracker, description)))

    def test_bodies_that_are_no_tracker_event_are_refused_with_the_reason(self):
        (interaction,) = load_cassette("test_tracker_create")
        tracker = response_json(interaction)
        without_code = dict(tracker, tracking_code=None)
        for body, reason in (
            (tracker, "not an EasyPost Event"),
            ([tracker_event(tracker)], "JSON object"),
            (b"not json", "not JSON"),
            (tracker_event(None), "no result"),
            (tracker_event("trk_1"), "no result"),
            (tracker_event(without_code), "no tracking_code"),
            (tracker_event({"object": "Shipment", "id": "shp_1"}), "Tracker, got a Shipment"),
            (tracker_event(tracker, id=None), "no id"),
            (tracker_event(dict(tracker, status=None)), "no status"),
            (tracker_event(dict(tracker, status=" ")), "no status"),
        ):
            with self.assertRaisesRegex(ValueError, reason):
                easypost.parse_event(body)

    def test_event_id_of_any_event(self):
        (interaction,) = load_cassette("test_tracker_create")
        tracker = response_json(interaction)
        for description in ("tracker.updated", "batch.created", None):
            self.assertEqual(
                easypost.event_id(tracker_event(tracker, description)),
                "evt_5a0c2b8e3f9d4e6a8b1c7d2e4f6a8b0c",
            )
        self.assertEqual(easypost.event_id({"object": "Event", "id": 12}), "12")
        for body in (tracker, tracker_event(tracker, id=None), [], None, b"{}"):
            self.assertIsNone(easypost.event_id(body))

    # --- label refunds --------------------------------------------------------------------------
    def test_refund_path(self):
        self.assertEqual(easypost.refund_path("shp_123"), "/v2/shipments/shp_123/refund")
        self.assertEqual(easypost.refund_path("shp/../x"), "/v2/shipments/shp%2F..%2Fx/refund")
        for argument in ("", None, 12):
            with self.assertRaises(ValueError):
                easypost.refund_path(argument)

    def test_refund_status_of_the_shipment(self):
        create, buy = load_cassette("test_shipment_buy")
        # The recordings have asked for no refund: refund_status null.
        self.assertIsNone(easypost.parse_shipment(response_text(create)).refund_status)
        self.assertIsNone(easypost.parse_shipment(response_text(buy)).refund_status)
        # EasyPost answers a refund request with the bought Shipment, its refund submitted.
        recorded = response_json(buy)
        for status in easypost.REFUND_STATUSES:
            answer = dict(recorded, refund_status=status)
            shipment = easypost.parse_shipment(json.dumps(answer))
            self.assertEqual(shipment.refund_status, status)
            self.assertEqual(shipment.id, recorded["id"])
            self.assertEqual(shipment.tracking_code, "9400100208303109505657")
        self.assertIsNone(easypost.parse_shipment(dict(recorded, refund_status="")).refund_status)
        self.assertIsNone(easypost.parse_shipment({"id": "shp_1"}).refund_status)
        self.assertEqual(
            easypost.REFUND_STATUSES, ("submitted", "refunded", "rejected", "not_applicable")
        )

    def test_refund_successful_event(self):
        refunded = dict(
            DOCUMENTED_REFUND,
            status="refunded",
            confirmation_number="123456789012",
            updated_at="2025-05-24T08:00:00Z",
        )
        update = easypost.parse_refund_event(json.dumps(refund_event(refunded)).encode())
        self.assertEqual(
            update,
            easypost.RefundUpdate(
                event_id="evt_5a0c2b8e3f9d4e6a8b1c7d2e4f6a8b0c",
                shipment_id="shp_744d6715c6794d8c8cd0874c368878ba",
                tracking_code="9405500208303109884137",
                status="refunded",
                refund_id="rfnd_92d852c508204fc3a34e62977eaa6c50",
                confirmation_number="123456789012",
                carrier="USPS",
                occurred_at="2025-05-24T08:00:00+00:00",
            ),
        )
        # A rejected refund completes with the same Event: the Refund's status tells them apart.
        rejected = easypost.parse_refund_event(
            refund_event(dict(DOCUMENTED_REFUND, status="rejected"))
        )
        self.assertEqual(rejected.status, "rejected")
        self.assertIsNone(rejected.confirmation_number)
        # Found by its tracking code alone (a refund asked by tracking code, POST /v2/refunds).
        by_code = easypost.parse_refund_event(
            refund_event(dict(DOCUMENTED_REFUND, shipment_id=None, status="refunded"))
        )
        self.assertEqual(
            (by_code.shipment_id, by_code.tracking_code), (None, "9405500208303109884137")
        )
        # The refund Event is not a tracker update: the tracker parser leaves it alone.
        self.assertIsNone(easypost.parse_event(refund_event(refunded)))
        self.assertEqual(
            easypost.event_id(refund_event(refunded)), "evt_5a0c2b8e3f9d4e6a8b1c7d2e4f6a8b0c"
        )

    def test_other_events_are_no_refund(self):
        (interaction,) = load_cassette("test_tracker_create")
        tracker = response_json(interaction)
        for description in ("tracker.updated", "batch.created", "refund.created", None):
            self.assertIsNone(easypost.parse_refund_event(tracker_event(tracker, description)))

    def test_bodies_that_are_no_refund_event_are_refused_with_the_reason(self):
        nowhere = dict(DOCUMENTED_REFUND, shipment_id=None, tracking_code="")
        for body, reason in (
            (DOCUMENTED_REFUND, "not an EasyPost Event"),
            ([refund_event(DOCUMENTED_REFUND)], "JSON object"),
            (b"not json", "not JSON"),
            (refund_event(None), "no result"),
            (refund_event("rfnd_1"), "no result"),
            (refund_event(DOCUMENTED_REFUND, id=None), "no id"),
            (refund_event({"object": "Shipment", "id": "shp_1"}), "Refund, got a Shipment"),
            (refund_event(nowhere), "neither a shipment_id nor a tracking_code"),
            (refund_event(dict(DOCUMENTED_REFUND, status=None)), "unknown refund status None"),
            (refund_event(dict(DOCUMENTED_REFUND, status="voided")), "unknown refund status"),
        ):
            with self.assertRaisesRegex(ValueError, reason):
                easypost.parse_refund_event(body)
