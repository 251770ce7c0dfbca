"""``GET /logistics/health`` over real HTTP against the test server: each check passing and
failing alone, one check at a time, tokens, and what the answer never holds."""

import os
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.logistics_integration_base.tests.common import GROUP_MANAGER

from ..models.logistics_health import (
    CHECKS,
    CRON_GRACE_PARAM,
    MAX_ENQUEUED_PARAM,
    MAX_WAIT_PARAM,
)

URL = "/logistics/health"
TOKEN = "health-test-token-7f3a"
COMPANY_TOKEN = "health-company-token-51c2"
API_KEY = "sk_live_health_never_shown_91b4"
PASSWORD = "pw-health-never-shown-03d8"
# Keys of an observation (draft-inadarei-api-health-check-06 §4): nothing else, no counts.
OBSERVATION_KEYS = {
    "status",
    "time",
    "componentId",
    "componentType",
    "observedValue",
    "observedUnit",
    "output",
}


@tagged("post_install", "-at_install")
class TestHealthEndpoint(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.now = fields.Datetime.now()
        # A healthy deployment: no job waiting (the test server runs no job runner), the
        # suite's scheduled actions due later, no production backend failing.
        env["queue.job"].search([("state", "in", ("pending", "enqueued"))]).write({"state": "done"})
        cls.crons = env["ir.cron"].browse(
            env["ir.model.data"]
            .search([("model", "=", "ir.cron"), ("module", "=like", "logistics\\_%")])
            .mapped("res_id")
        )
        cls.crons.write(
            {
                "nextcall": cls.now + timedelta(hours=1),
                "failure_count": 0,
                "first_failure_date": False,
            }
        )
        env["logistics.backend"].search([]).write({"environment": "test"})
        Backend = env["logistics.backend"]
        cls.carrier = Backend.create(
            {
                "name": "Health Carrier",
                "code": "health_carrier",
                "kind": "carrier",
                "environment": "production",
                "auth_type": "basic",
                "username": "health-user",
                "base_url": "https://api.carrier.example",
                "expected_success_interval": 60,
            }
        )
        cls.carrier.write({"api_key": API_KEY, "password": PASSWORD})
        cls.succeeded(cls.carrier, minutes_ago=10)
        cls.sla_cron = env.ref("logistics_integration_base.ir_cron_evaluate_sla")

    def setUp(self):
        super().setUp()
        self.startPatcher(
            patch.dict(
                os.environ,
                {
                    "LOGISTICS_METRICS_TOKEN": TOKEN,
                    "LOGISTICS_METRICS_COMPANY_TOKENS": "",
                },
            )
        )

    # --- helpers ------------------------------------------------------------------------------
    @classmethod
    def succeeded(cls, backend, minutes_ago):
        """A call to ``backend`` delivered ``minutes_ago`` (a done outbound message)."""
        return cls.env["logistics.message"].create(
            {
                "direction": "outbound",
                "backend_id": backend.id,
                "operation": "health_probe",
                "state": "done",
                "state_changed_at": cls.now - timedelta(minutes=minutes_ago),
                "company_id": backend.company_id.id,
            }
        )

    def get(self, check=None, token=None, headers=None):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.url_open(URL, params={"check": check} if check else None, headers=headers)

    def job(self, channel="root.logistics.operational"):
        """A job stored as ``with_delay`` stores it (pending, due now)."""
        self.env["logistics.health"].with_delay(channel=channel).check_database()
        return self.env["queue.job"].search([], order="id desc", limit=1)

    def assertOnlyFailing(self, response, name):
        self.assertEqual(response.status_code, 503, response.text)
        body = response.json()
        self.assertEqual(body["status"], "fail")
        failing = [
            check
            for check, observations in body["checks"].items()
            if any(obs["status"] == "fail" for obs in observations)
        ]
        self.assertEqual(failing, [name])
        return body["checks"][name]

    def assertDetails(self, name, component_id, *words):
        """With the token: one failing observation for ``component_id``, an age in seconds,
        and ``words`` in its output."""
        observations = self.assertOnlyFailing(self.get(token=TOKEN), name)
        [observation] = [obs for obs in observations if obs.get("componentId") == component_id]
        self.assertLessEqual(set(observation), OBSERVATION_KEYS)
        for word in words:
            self.assertIn(word, observation["output"])
        return observation

    # --- every check passing ------------------------------------------------------------------
    def test_every_check_passing_answers_200_pass(self):
        response = self.get()
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.headers["Content-Type"], "application/health+json")
        self.assertEqual(response.headers["Cache-Control"], "no-store")
        self.assertNotIn("Set-Cookie", response.headers)
        body = response.json()
        self.assertEqual(body["status"], "pass")
        self.assertEqual(list(body["checks"]), list(CHECKS))
        for observations in body["checks"].values():
            [observation] = observations
            # No token: the status and its time, nothing measured.
            self.assertEqual(set(observation), {"status", "time"})
            self.assertEqual(observation["status"], "pass")
            self.assertRegex(observation["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    # --- each check failing alone -------------------------------------------------------------
    def test_a_job_due_for_too_long_fails_the_job_runner(self):
        job = self.job()
        # Due now: a runner has time to start it.
        self.assertEqual(self.get().status_code, 200)
        job.write({"eta": self.now - timedelta(hours=1)})
        [observation] = self.assertOnlyFailing(self.get(), "job_runner")
        self.assertIn("queue_job runner", observation["output"])
        self.assertNotIn("root.logistics", observation["output"])
        detail = self.assertDetails(
            "job_runner", "root.logistics.operational", "has waited", "bound: 300 s"
        )
        self.assertGreaterEqual(detail["observedValue"], 3600)
        self.assertEqual(detail["observedUnit"], "s")
        # A job postponed to later (a retry's eta) is not due: not waiting.
        job.write({"eta": self.now + timedelta(hours=1)})
        self.assertEqual(self.get().status_code, 200)
        # The bound is the system parameter's.
        job.write({"eta": self.now - timedelta(hours=1)})
        self.env["ir.config_parameter"].set_param(MAX_WAIT_PARAM, "7200")
        self.assertEqual(self.get().status_code, 200)

    def test_a_job_enqueued_without_starting_fails_the_job_runner(self):
        job = self.job(channel="root.logistics.reporting")
        job.write({"state": "enqueued", "date_enqueued": self.now - timedelta(seconds=30)})
        self.assertEqual(self.get().status_code, 200)
        job.write({"date_enqueued": self.now - timedelta(minutes=10)})
        self.assertOnlyFailing(self.get(), "job_runner")
        detail = self.assertDetails(
            "job_runner", "root.logistics.reporting", "handed to a worker", "has not started"
        )
        self.assertGreaterEqual(detail["observedValue"], 600)
        self.env["ir.config_parameter"].set_param(MAX_ENQUEUED_PARAM, "3600")
        self.assertEqual(self.get().status_code, 200)

    def test_a_cron_that_did_not_run_on_time_fails_the_crons(self):
        self.sla_cron.nextcall = self.now - timedelta(minutes=5)
        self.assertEqual(self.get().status_code, 200)  # within the grace
        self.sla_cron.nextcall = self.now - timedelta(hours=1)
        [observation] = self.assertOnlyFailing(self.get(), "crons")
        self.assertIn("did not run on time", observation["output"])
        detail = self.assertDetails(
            "crons",
            "logistics_integration_base.ir_cron_evaluate_sla",
            "evaluate SLA policies",
            "has not run",
        )
        self.assertGreaterEqual(detail["observedValue"], 3600)
        self.env["ir.config_parameter"].set_param(CRON_GRACE_PARAM, "7200")
        self.assertEqual(self.get().status_code, 200)

    def test_a_cron_whose_runs_fail_fails_the_crons(self):
        # Odoo 19 reschedules a failed run like a successful one: the next call is on time.
        self.sla_cron.write(
            {"failure_count": 3, "first_failure_date": self.now - timedelta(hours=2)}
        )
        self.assertOnlyFailing(self.get(), "crons")
        self.assertDetails(
            "crons", "logistics_integration_base.ir_cron_evaluate_sla", "last 3 runs failed"
        )

    def test_only_the_suites_active_crons_are_checked(self):
        other = self.env.ref("base.autovacuum_job")
        other.nextcall = self.now - timedelta(days=1)
        self.sla_cron.write({"active": False, "nextcall": self.now - timedelta(days=1)})
        self.assertEqual(self.get().status_code, 200)

    def test_a_production_backend_without_a_recent_success_fails_the_backends(self):
        self.carrier.expected_success_interval = 5
        [observation] = self.assertOnlyFailing(self.get(), "backends")
        self.assertIn("expected interval", observation["output"])
        self.assertNotIn("health_carrier", observation["output"])
        detail = self.assertDetails(
            "backends", "health_carrier", "last succeeded", "expected within 300 s"
        )
        self.assertGreaterEqual(detail["observedValue"], 600)
        self.assertEqual(detail["componentType"], "system")
        # A newer success, or no interval, or a test backend: passing.
        self.succeeded(self.carrier, minutes_ago=1)
        self.assertEqual(self.get().status_code, 200)

    def test_unchecked_backends_pass(self):
        self.carrier.expected_success_interval = 0
        self.carrier.flush_recordset()
        self.env.cr.execute(
            "UPDATE logistics_message SET state_changed_at = %s WHERE backend_id = %s",
            (self.now - timedelta(days=2), self.carrier.id),
        )
        self.assertEqual(self.get().status_code, 200)
        self.carrier.write({"expected_success_interval": 60, "environment": "test"})
        self.assertEqual(self.get().status_code, 200)
        self.carrier.write({"environment": "production", "active": False})
        self.assertEqual(self.get().status_code, 200)

    def test_a_backend_that_never_succeeded_fails_once_its_interval_passed(self):
        wms = self.env["logistics.backend"].create(
            {
                "name": "Health WMS",
                "code": "health_wms",
                "kind": "wms",
                "environment": "production",
                "expected_success_interval": 30,
            }
        )
        # Just created: its first success may still come.
        self.assertEqual(self.get().status_code, 200)
        wms.flush_recordset()
        self.env.cr.execute(
            "UPDATE logistics_backend SET create_date = %s WHERE id = %s",
            (self.now - timedelta(hours=1), wms.id),
        )
        self.assertOnlyFailing(self.get(), "backends")
        self.assertDetails("backends", "health_wms", "has not succeeded since it was created")
        # An inbound message (a webhook) is not a success of our calls.
        self.env["logistics.message"].create(
            {"direction": "inbound", "backend_id": wms.id, "operation": "webhook", "state": "done"}
        )
        self.assertOnlyFailing(self.get(), "backends")

    def test_an_open_circuit_fails_the_circuits(self):
        self.carrier.write(
            {"circuit_state": "open", "circuit_opened_at": self.now - timedelta(minutes=3)}
        )
        [observation] = self.assertOnlyFailing(self.get(), "circuits")
        self.assertIn("circuit is open", observation["output"])
        detail = self.assertDetails("circuits", "health_carrier", "circuit of health_carrier")
        self.assertGreaterEqual(detail["observedValue"], 180)
        self.carrier.circuit_state = "credentials_refused"
        self.assertOnlyFailing(self.get(), "circuits")
        self.assertDetails("circuits", "health_carrier", "has refused our credentials")
        # Half-open waits for its probe call: not a failure (yet).
        self.carrier.circuit_state = "half_open"
        self.assertEqual(self.get().status_code, 200)
        self.carrier.write({"circuit_state": "open", "environment": "test"})
        self.assertEqual(self.get().status_code, 200)

    def test_a_bound_that_is_not_a_number_fails_its_check(self):
        self.env["ir.config_parameter"].set_param(MAX_WAIT_PARAM, "five minutes")
        self.assertOnlyFailing(self.get(), "job_runner")
        self.assertDetails("job_runner", MAX_WAIT_PARAM, "not a whole number of seconds")

    # --- one check, unknown check, no database ------------------------------------------------
    def test_one_check_runs_alone(self):
        self.sla_cron.nextcall = self.now - timedelta(hours=1)
        response = self.get(check="circuits")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(list(response.json()["checks"]), ["circuits"])
        response = self.get(check="crons")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(list(response.json()["checks"]), ["crons"])

    def test_an_unknown_check_is_a_404_listing_the_checks(self):
        response = self.get(check="disk")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json()["checkNames"], list(CHECKS))
        self.assertIn("disk", response.json()["output"])

    def test_a_request_no_database_serves_fails_the_database_check(self):
        # The server's filter (one database) rejects this one: Odoo serves it without a
        # database, through the server-wide modules' routes.
        response = self.get(headers={"X-Odoo-Database": "no_such_database_health"})
        self.assertEqual(response.status_code, 503, response.text)
        self.assertEqual(response.headers["Content-Type"], "application/health+json")
        body = response.json()
        self.assertEqual(body["status"], "fail")
        [observation] = body["checks"]["database"]
        self.assertEqual(observation["status"], "fail")
        self.assertIn("No database serves this request", observation["output"])

    # --- tokens -------------------------------------------------------------------------------
    def test_an_invalid_token_is_a_401(self):
        response = self.get(token="not-the-token")
        self.assertEqual(response.status_code, 401)
        self.assertIn("Bearer", response.headers["WWW-Authenticate"])
        self.assertNotIn("checks", response.json())

    def test_a_valid_token_adds_details(self):
        body = self.get(token=TOKEN).json()
        self.assertEqual(body["status"], "pass")
        [database] = body["checks"]["database"]
        self.assertEqual(database["observedUnit"], "ms")
        self.assertGreaterEqual(database["observedValue"], 0)
        [job_runner] = body["checks"]["job_runner"]
        self.assertEqual((job_runner["observedValue"], job_runner["observedUnit"]), (0, "s"))

    def test_a_company_token_sees_its_companies_backends_only(self):
        other_company = self.env["res.company"].create({"name": "Health Other Co"})
        other = self.env["logistics.backend"].create(
            {
                "name": "Other Carrier",
                "code": "health_other_carrier",
                "kind": "carrier",
                "environment": "production",
                "company_id": other_company.id,
                "circuit_state": "open",
                "circuit_opened_at": self.now,
            }
        )
        self.carrier.write({"circuit_state": "open", "circuit_opened_at": self.now})
        os.environ["LOGISTICS_METRICS_COMPANY_TOKENS"] = f"{other_company.id}:{COMPANY_TOKEN}"
        observations = self.assertOnlyFailing(self.get(token=COMPANY_TOKEN), "circuits")
        self.assertEqual([obs["componentId"] for obs in observations], [other.code])
        # Only the other company's backend fails: the carrier's company sees the failure,
        # without the other company's code.
        self.carrier.circuit_state = "closed"
        os.environ["LOGISTICS_METRICS_COMPANY_TOKENS"] = (
            f"{self.carrier.company_id.id}:{COMPANY_TOKEN}"
        )
        [observation] = self.assertOnlyFailing(self.get(token=COMPANY_TOKEN), "circuits")
        self.assertNotIn("componentId", observation)
        self.assertNotIn(other.code, observation["output"])

    def test_no_secret_and_no_count_in_either_answer(self):
        self.carrier.write(
            {
                "expected_success_interval": 5,
                "circuit_state": "credentials_refused",
                "circuit_opened_at": self.now,
                "last_error": f"401 from https://health-user:{PASSWORD}@api.carrier.example",
            }
        )
        for _index in range(3):
            self.job().write({"eta": self.now - timedelta(hours=1)})
        shipment = self.env["logistics.shipment"].create({"name": "SHP/HEALTH/31337"})
        self.env["logistics.exception"]._raise(
            "mapping_missing", [{"name": "health", "shipment_id": shipment.id}]
        )
        for token in (None, TOKEN):
            response = self.get(token=token)
            self.assertEqual(response.status_code, 503)
            for secret in (API_KEY, PASSWORD, "health-user", "api.carrier.example", "31337"):
                self.assertNotIn(secret, response.text)
            for observations in response.json()["checks"].values():
                for observation in observations:
                    self.assertLessEqual(set(observation), OBSERVATION_KEYS)
            # Three overdue jobs on one channel: one observation, no count.
            jobs = response.json()["checks"]["job_runner"]
            self.assertEqual(len(jobs), 1)

    # --- the model, over RPC ------------------------------------------------------------------
    def test_the_checks_over_rpc_are_for_administrators(self):
        Health = self.env["logistics.health"]
        self.carrier.write({"circuit_state": "open", "circuit_opened_at": self.now})
        [observation] = Health.check_circuits()
        self.assertEqual(observation["componentId"], "health_carrier")
        self.assertEqual(Health.get_health(["crons"])["status"], "pass")
        with self.assertRaises(UserError):
            Health.get_health(["disk"])
        manager = new_test_user(
            self.env, "health_manager", groups=f"base.group_user,{GROUP_MANAGER}"
        )
        with self.assertRaises(AccessError):
            Health.with_user(manager).check_circuits()

    def test_the_checks_take_the_same_queries_whatever_the_backends(self):
        Health = self.env["logistics.health"]

        def queries():
            self.env.flush_all()
            before = self.env.cr.sql_log_count
            Health._health_document(details=True)
            return self.env.cr.sql_log_count - before

        # Every check failing once, with its details.
        self.carrier.write(
            {
                "expected_success_interval": 1,
                "circuit_state": "open",
                "circuit_opened_at": self.now,
            }
        )
        self.job().write({"eta": self.now - timedelta(hours=1)})
        self.sla_cron.nextcall = self.now - timedelta(hours=1)
        queries()  # the system parameters cached, as in a running server
        few = queries()
        for index in range(5):
            backend = self.env["logistics.backend"].create(
                {
                    "name": f"Health Extra {index}",
                    "code": f"health_extra_{index}",
                    "kind": "wms",
                    "environment": "production",
                    "expected_success_interval": 1,
                    "circuit_state": "open",
                    "circuit_opened_at": self.now,
                }
            )
            self.succeeded(backend, minutes_ago=30)
            self.job().write({"eta": self.now - timedelta(hours=1)})
        queries()
        self.assertEqual(queries(), few)
