"""The checks of ``GET /logistics/health`` (issue 15 §2), one method per check.

The answer follows the IETF draft "Health Check Response Format for HTTP APIs"
(draft-inadarei-api-health-check-06, media type ``application/health+json``): a ``status``
(``pass`` or ``fail``) and, per check name, a list of observations ``{"status", "time",
"componentId"?, "componentType"?, "observedValue"?, "observedUnit"?, "output"?}``.

Every check reads a few rows through indexes, whatever the size of the database: the jobs due
to run by one probe per job channel and the last success of each checked backend by one probe
of the messages (both through ``logistics_health_indexes.py``), the jobs handed to a worker
through queue_job's state index, the suite's scheduled actions and the production backends
from their small tables. Nothing is written.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from odoo.addons.logistics_integration_base.models.logistics_backend_health import LAST_SUCCESS_SQL

_logger = logging.getLogger(__name__)

# The checks, in the order of the answer.
CHECKS = ("database", "job_runner", "crons", "backends", "circuits")

# System parameters of the bounds (seconds) and their defaults, shipped as data
# (data/logistics_health_data.xml).
MAX_WAIT_PARAM = "logistics_monitoring.health_job_max_wait_seconds"
MAX_ENQUEUED_PARAM = "logistics_monitoring.health_job_max_enqueued_seconds"
CRON_GRACE_PARAM = "logistics_monitoring.health_cron_grace_seconds"
BOUND_DEFAULTS = {MAX_WAIT_PARAM: 300, MAX_ENQUEUED_PARAM: 60, CRON_GRACE_PARAM: 600}

# The circuit states that fail the circuits check (logistics.backend.circuit_state). A
# half-open circuit waits for its probe call, which closes or opens it again.
FAILING_CIRCUITS = ("open", "credentials_refused")


@dataclass(frozen=True)
class Finding:
    """One failing component of a check: what a caller with a valid token reads.

    ``component_id`` names it (a backend code, a job channel, a scheduled action's XML id, a
    system parameter), ``component_type`` is the draft's ``componentType`` (``system``,
    ``component``, ``datastore``), ``observed`` a number in ``unit`` (``s``: seconds) or a
    state, ``output`` says why in words. ``company_id`` keeps company tokens to their
    companies' backends; it is not part of the answer.
    """

    component_id: str
    component_type: str
    output: str
    observed: object = None
    unit: str = ""
    company_id: int = 0


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: failing components (none: the check passes) and, for a
    passing check, a value of the whole (database round trip in ms, oldest due job's wait in
    seconds)."""

    findings: tuple = ()
    observed: object = None
    unit: str = ""

    @property
    def status(self):
        return "fail" if self.findings else "pass"


class HealthConfigError(ValueError):
    """A bound's system parameter is not a whole number of seconds: the check fails, naming
    the parameter (``key``)."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


def iso_utc(moment):
    """``2026-12-01T06:40:00Z``: a naive UTC datetime as the draft's ``time`` (ISO 8601)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_between(earlier, later):
    return max(int((later - earlier).total_seconds()), 0)


class LogisticsHealth(models.AbstractModel):
    """The health checks of the suite's deployment: is it doing its work now?

    Each ``check_<name>`` (RPC, administrators) returns the observations of one check as a
    caller with a valid token reads them; ``get_health`` returns the whole answer. The HTTP
    endpoint (``controllers/health.py``) calls ``_health_document``, which also leaves the
    details out for callers without a token.
    """

    _name = "logistics.health"
    _description = "Logistics Health Checks"

    # --- RPC ------------------------------------------------------------------------------------
    @api.model
    def get_health(self, checks=None):
        """The health answer with its details, as ``GET /logistics/health`` gives it to a
        caller with a valid token.

        :param list checks: check names (``CHECKS``) to run; default: all
        :return: ``{"status": "pass" | "fail", "checks": {name: [observation]}}`` where an
            observation is ``{"status", "time", "componentId"?, "componentType"?,
            "observedValue"?, "observedUnit"?, "output"?}`` (draft-inadarei-api-health-check);
            XML-RPC-safe (no None)
        :raises AccessError: the user is not a Settings administrator
        :raises UserError: an unknown check name
        """
        self._check_health_access()
        return self._health_document(checks, details=True)

    @api.model
    def check_database(self):
        """The database check: one round trip to PostgreSQL, in milliseconds.

        :return: a list of observations (see ``get_health``)
        :raises AccessError: the user is not a Settings administrator
        """
        return self._rpc_check("database")

    @api.model
    def check_job_runner(self):
        """The job runner check (queue_job): fails when the oldest job due to run (pending,
        eta empty or past) has waited longer than
        ``logistics_monitoring.health_job_max_wait_seconds`` (300), or when a job was handed
        to a worker (enqueued) longer than ``logistics_monitoring.health_job_max_enqueued_
        seconds`` (60) ago and has not started; one failing observation per job channel.

        :return: a list of observations (see ``get_health``); when passing, the wait of the
            oldest job due to run, in seconds
        :raises AccessError: the user is not a Settings administrator
        """
        return self._rpc_check("job_runner")

    @api.model
    def check_crons(self):
        """The scheduled actions check: the active ``ir.cron`` records of the suite's addons
        (``logistics_*`` XML ids) fail when they did not run on time (next call more than
        ``logistics_monitoring.health_cron_grace_seconds``, 600, in the past) or when their
        runs fail since longer than that (Odoo 19 counts a cron's consecutive failures and
        reschedules a failed run like a successful one).

        :return: a list of observations (see ``get_health``), one per failing cron
        :raises AccessError: the user is not a Settings administrator
        """
        return self._rpc_check("crons")

    @api.model
    def check_backends(self):
        """The backends check: each active production backend with an *Expected Success
        Interval* fails when its last success (the last delivered outbound message, as
        ``last_success_at``) is older than the interval, or, never having succeeded, when it
        was created longer than the interval ago.

        :return: a list of observations (see ``get_health``), one per failing backend, with
            the seconds since its last success
        :raises AccessError: the user is not a Settings administrator
        """
        return self._rpc_check("backends")

    @api.model
    def check_circuits(self):
        """The circuits check: active production backends whose circuit breaker is open or
        whose credentials the partner refused (``circuit_state``) fail.

        :return: a list of observations (see ``get_health``), one per failing backend, with
            the seconds since its circuit opened
        :raises AccessError: the user is not a Settings administrator
        """
        return self._rpc_check("circuits")

    def _check_health_access(self):
        # The checks read the job queue and every company's backends.
        if not self.env.is_system():
            raise AccessError(self.env._("Only administrators can run the health checks."))

    def _rpc_check(self, name):
        self._check_health_access()
        return self._health_document([name], details=True)["checks"][name]

    # --- the answer -----------------------------------------------------------------------------
    @api.model
    def _health_document(self, checks=None, details=False, company_ids=None):
        """The health answer (module docstring) for ``checks`` (default: all).

        Without ``details`` each check is one observation with its status and, when it fails,
        a generic output: no backend codes, channels, ages or counts (what anyone who can
        reach the URL reads). With ``details`` a failing check has one observation per failing
        component (``componentId``, its age in seconds or its state, why); ``company_ids``
        (a company token's) shows only those companies' backends, the others counted in the
        status only. No check ever reads a secret or a business number (shipments,
        exceptions, orders).

        A check that raises fails, with its traceback in the log (not in the answer).

        :raises UserError: an unknown check name
        """
        names = list(checks or CHECKS)
        unknown = [name for name in names if name not in CHECKS]
        if unknown:
            raise UserError(
                self.env._(
                    "Unknown health check %(names)s; the checks are %(checks)s.",
                    names=", ".join(map(str, unknown)),
                    checks=", ".join(CHECKS),
                )
            )
        now = fields.Datetime.now()
        answer = {}
        for name in names:
            answer[name] = self._observations(
                name, self._run_check(name, now), now, details, company_ids
            )
        failing = any(
            obs["status"] == "fail" for observations in answer.values() for obs in observations
        )
        return {"status": "fail" if failing else "pass", "checks": answer}

    def _run_check(self, name, now):
        try:
            # A failed query aborts the transaction: the savepoint keeps it for the next check.
            with self.env.cr.savepoint(flush=False):
                return getattr(self, f"_check_{name}")(now)
        except HealthConfigError as error:
            return CheckResult((Finding(error.key, "component", str(error)),))
        except Exception:
            # Whatever broke, the check fails and the answer stays a health document.
            _logger.exception("health check %s could not run", name)
            return CheckResult(
                (
                    Finding(
                        name,
                        "component",
                        self.env._("The check could not run (see the log)."),
                    ),
                )
            )

    def _observations(self, name, result, now, details, company_ids):
        base = {"status": result.status, "time": iso_utc(now)}
        if result.status == "pass":
            if details and result.observed is not None:
                base.update(observedValue=result.observed, observedUnit=result.unit)
            return [base]
        visible = [
            finding
            for finding in result.findings
            if company_ids is None or not finding.company_id or finding.company_id in company_ids
        ]
        if not details or not visible:
            return [dict(base, output=self._generic_output(name))]
        observations = []
        for finding in visible:
            observation = dict(
                base,
                componentId=finding.component_id,
                componentType=finding.component_type,
                output=finding.output,
            )
            if finding.observed is not None:
                observation["observedValue"] = finding.observed
                if finding.unit:
                    observation["observedUnit"] = finding.unit
            observations.append(observation)
        return observations

    def _generic_output(self, name):
        """What a failing check says to a caller without a token: the kind of failure, with
        no name, age or count."""
        return {
            "database": self.env._("The database does not answer."),
            "job_runner": self.env._(
                "Jobs wait too long to start: the queue_job runner or its workers do not keep up."
            ),
            "crons": self.env._("A scheduled action of the suite did not run on time or fails."),
            "backends": self.env._(
                "A production backend has not succeeded within its expected interval."
            ),
            "circuits": self.env._(
                "A production backend's circuit is open or its credentials are refused."
            ),
        }[name]

    def _bound(self, key):
        """The bound of system parameter ``key``, in seconds (its default when unset).

        :raises HealthConfigError: the value is not a whole number of seconds, 0 or more
        """
        raw = self.env["ir.config_parameter"].sudo().get_param(key)
        if raw in (None, False, ""):
            return BOUND_DEFAULTS[key]
        try:
            value = int(str(raw).strip())
        except ValueError:
            value = -1
        if value < 0:
            raise HealthConfigError(
                key,
                self.env._(
                    "The system parameter %(key)s is %(value)r, not a whole number of seconds.",
                    key=key,
                    value=raw,
                ),
            )
        return value

    # --- the checks -----------------------------------------------------------------------------
    def _check_database(self, now):
        started = time.perf_counter()
        try:
            self.env.cr.execute("SELECT 1")
        except psycopg2.Error:
            _logger.exception("health check: the database does not answer")
            return CheckResult(
                (Finding("database", "datastore", self.env._("The database does not answer.")),)
            )
        return CheckResult(observed=round((time.perf_counter() - started) * 1000, 1), unit="ms")

    def _check_job_runner(self, now):
        max_wait = self._bound(MAX_WAIT_PARAM)
        max_enqueued = self._bound(MAX_ENQUEUED_PARAM)
        self.env["queue.job"].flush_model(["state", "eta", "date_created", "date_enqueued"])
        # A job is due from its eta (a retry's postponement, or a delayed job) or its creation.
        # Per channel, the oldest job due to run: the channels are walked through the partial
        # index on the pending jobs (a loose index scan: one probe per channel, as PostgreSQL
        # has no skip scan), each channel's oldest due job is the next probe. Measured on
        # 1,000,000 done and 22,000 pending jobs (PostgreSQL 15): 0.4 ms, where queue_job's
        # state index made PostgreSQL read every pending job (25-55 ms).
        due = SQL("COALESCE(q.eta, q.date_created)")
        self.env.cr.execute(
            SQL(
                """
                WITH RECURSIVE channels(channel) AS (
                    (SELECT channel FROM queue_job WHERE state = 'pending'
                      ORDER BY channel LIMIT 1)
                    UNION ALL
                    SELECT (SELECT q.channel FROM queue_job q
                             WHERE q.state = 'pending' AND q.channel > c.channel
                             ORDER BY q.channel LIMIT 1)
                      FROM channels c WHERE c.channel IS NOT NULL
                )
                SELECT c.channel, oldest.due
                  FROM channels c
                  CROSS JOIN LATERAL (
                      SELECT min(%s) AS due FROM queue_job q
                       WHERE q.state = 'pending' AND q.channel = c.channel AND %s <= %s
                  ) oldest
                 WHERE c.channel IS NOT NULL AND oldest.due IS NOT NULL
              ORDER BY oldest.due, c.channel
                """,
                due,
                due,
                now,
            )
        )
        oldest = [(channel, seconds_between(at, now)) for channel, at in self.env.cr.fetchall()]
        findings = []
        for channel, seconds in oldest:
            if seconds <= max_wait:
                break
            output = self.env._(
                "The oldest job due to run on channel %(channel)s has waited %(seconds)s s "
                "(bound: %(bound)s s).",
                channel=channel,
                seconds=seconds,
                bound=max_wait,
            )
            findings.append(Finding(channel, "component", output, seconds, "s"))
        # The runner hands a job to a worker (enqueued), the worker starts it at once
        # (started); queue_job's runner puts an enqueued job that no worker locked back to
        # pending after 10 s. Few rows: at most the channels' capacity (state index).
        self.env.cr.execute(
            SQL(
                "SELECT channel, min(date_enqueued) FROM queue_job"
                " WHERE state = 'enqueued' AND date_enqueued < %s"
                " GROUP BY channel ORDER BY 2, 1",
                now - timedelta(seconds=max_enqueued),
            )
        )
        for channel, enqueued in self.env.cr.fetchall():
            seconds = seconds_between(enqueued, now)
            output = self.env._(
                "A job of channel %(channel)s was handed to a worker %(seconds)s s ago and has "
                "not started (bound: %(bound)s s).",
                channel=channel,
                seconds=seconds,
                bound=max_enqueued,
            )
            findings.append(Finding(channel or "", "component", output, seconds, "s"))
        return CheckResult(tuple(findings), observed=oldest[0][1] if oldest else 0, unit="s")

    def _check_crons(self, now):
        grace = self._bound(CRON_GRACE_PARAM)
        limit = now - timedelta(seconds=grace)
        xml_ids = {
            data.res_id: f"{data.module}.{data.name}"
            for data in self.env["ir.model.data"]
            .sudo()
            .search_fetch(
                [("model", "=", "ir.cron"), ("module", "=like", "logistics\\_%")],
                ["module", "name", "res_id"],
            )
        }
        crons = (
            self.env["ir.cron"]
            .sudo()
            .search_fetch(
                [("id", "in", list(xml_ids)), ("active", "=", True)],
                ["cron_name", "nextcall", "failure_count", "first_failure_date"],
                order="id",
            )
        )
        findings = []
        for cron in crons:
            if cron.nextcall < limit:
                late = seconds_between(cron.nextcall, now)
                output = self.env._(
                    "%(cron)s was due %(seconds)s s ago and has not run (grace: %(grace)s s).",
                    cron=cron.cron_name,
                    seconds=late,
                    grace=grace,
                )
            elif cron.first_failure_date and cron.first_failure_date < limit:
                late = seconds_between(cron.first_failure_date, now)
                output = self.env._(
                    "%(cron)s fails: its last %(failures)s runs failed, the first %(seconds)s s "
                    "ago (grace: %(grace)s s).",
                    cron=cron.cron_name,
                    failures=cron.failure_count,
                    seconds=late,
                    grace=grace,
                )
            else:
                continue
            findings.append(Finding(xml_ids[cron.id], "component", output, late, "s"))
        return CheckResult(tuple(findings))

    def _check_backends(self, now):
        self.env["logistics.backend"].flush_model()
        self.env["logistics.message"].flush_model(
            ["backend_id", "direction", "state", "state_changed_at"]
        )
        # The last success as the base defines it (``LAST_SUCCESS_SQL``: one index probe).
        self.env.cr.execute(
            SQL(
                """
                SELECT b.code, b.company_id, b.expected_success_interval, b.create_date,
                       b.paused, %s
                  FROM logistics_backend b
                 WHERE b.active AND b.environment = 'production'
                   AND b.expected_success_interval > 0
              ORDER BY b.code
                """,
                LAST_SUCCESS_SQL,
            )
        )
        findings = []
        for code, company_id, interval, created, paused, last in self.env.cr.fetchall():
            since = last or created
            age = seconds_between(since, now)
            if age <= interval * 60:
                continue
            if last:
                output = self.env._(
                    "%(code)s last succeeded %(seconds)s s ago; expected within %(bound)s s.",
                    code=code,
                    seconds=age,
                    bound=interval * 60,
                )
            else:
                output = self.env._(
                    "%(code)s has not succeeded since it was created %(seconds)s s ago; "
                    "expected within %(bound)s s.",
                    code=code,
                    seconds=age,
                    bound=interval * 60,
                )
            if paused:
                output += " " + self.env._("It is paused.")
            findings.append(Finding(code, "system", output, age, "s", company_id))
        return CheckResult(tuple(findings))

    def _check_circuits(self, now):
        backends = (
            self.env["logistics.backend"]
            .sudo()
            .search_fetch(
                [("environment", "=", "production"), ("circuit_state", "in", FAILING_CIRCUITS)],
                ["code", "circuit_state", "circuit_opened_at", "company_id"],
                order="code",
            )
        )
        findings = []
        for backend in backends:
            opened = seconds_between(backend.circuit_opened_at or now, now)
            if backend.circuit_state == "credentials_refused":
                output = self.env._(
                    "%(code)s has refused our credentials for %(seconds)s s: its calls wait "
                    "for a new secret or Resume.",
                    code=backend.code,
                    seconds=opened,
                )
            else:
                output = self.env._(
                    "The circuit of %(code)s has been open for %(seconds)s s: its calls wait "
                    "for a probe after the cool-down.",
                    code=backend.code,
                    seconds=opened,
                )
            findings.append(
                Finding(backend.code, "system", output, opened, "s", backend.company_id.id)
            )
        return CheckResult(tuple(findings))
