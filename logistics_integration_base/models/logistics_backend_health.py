import random
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .logistics_access import check_manager

# A backend's last success, in one place: the newest delivered outbound message of backend
# ``b`` (a done message's state_changed_at is its delivery: done is final). One probe of the
# messages' index ``(backend_id, state_changed_at) WHERE state = 'done' AND direction =
# 'outbound'`` (``logistics.message._delivered_idx``), where a grouped max reads every
# delivered message of the backend. Read by ``last_success_at``, the health check's backends
# and the metric backend_last_success_timestamp_seconds.
LAST_SUCCESS_SQL = SQL(
    """(SELECT max(m.state_changed_at) FROM logistics_message m
         WHERE m.backend_id = b.id AND m.direction = 'outbound' AND m.state = 'done')"""
)


class LogisticsBackend(models.Model):
    """Partner health: pause and resume, circuit breaker, rate limit, backoff."""

    _inherit = "logistics.backend"

    # --- health: pause, circuit breaker, rate limit --------------------------------------------
    @api.depends("paused", "circuit_state", "consecutive_failures")
    def _compute_health(self):
        for backend in self:
            if backend.paused:
                backend.health = "paused"
            elif backend.circuit_state == "credentials_refused":
                backend.health = "credentials_refused"
            elif backend.circuit_state != "closed":
                backend.health = "down"
            elif backend.consecutive_failures:
                backend.health = "degraded"
            else:
                backend.health = "ok"

    def action_pause(self):
        check_manager(self.env, self.env._("pause a backend"))
        self.write({"paused": True})
        return True

    def action_resume(self):
        check_manager(self.env, self.env._("resume a backend"))
        self.write({"paused": False})
        self.filtered(lambda b: b.circuit_state == "credentials_refused")._probe_credentials()
        held = self.env["logistics.message"].search(
            [
                ("backend_id", "in", self.ids),
                ("direction", "=", "inbound"),
                ("state", "=", "queued"),
            ]
        )
        for backend in self:
            backend._enqueue_inbound_processing(
                held.filtered_domain([("backend_id", "=", backend.id)])
            )
        return True

    def _compute_last_success_at(self):
        """The time of the last delivered outbound message of each backend
        (``LAST_SUCCESS_SQL``), in one query."""
        self.env["logistics.message"].flush_model(
            ["backend_id", "direction", "state", "state_changed_at"]
        )
        self.env.cr.execute(
            SQL(
                "SELECT b.id, %s FROM logistics_backend b WHERE b.id = ANY(%s)",
                LAST_SUCCESS_SQL,
                self._origin.ids,
            )
        )
        last = dict(self.env.cr.fetchall())
        for backend in self:
            backend.last_success_at = last.get(backend._origin.id) or False

    def action_reset_circuit(self):
        """A person closes the circuit: the breaker's fields are not audited, the act is."""
        check_manager(self.env, self.env._("close a circuit"))
        opened = self.filtered(lambda b: b.circuit_state != "closed")
        self.write({"circuit_state": "closed", "consecutive_failures": 0})
        if opened:
            self.env["logistics.audit.log"]._record(
                "write", opened, changes="Circuit closed by hand"
            )
        return True

    def _probe_credentials(self):
        """A person set a new secret or resumed the backend after its credentials were refused:
        its waiting calls go, the first of them probing the credentials (half-open)."""
        self.sudo().write({"circuit_state": "half_open"})

    def _wait_before_call(self):
        """Seconds a call must wait (paused, circuit open, rate limit), or 0 to go ahead.
        Moves an open circuit whose cool-down is over to half-open: the next call is the probe."""
        self.ensure_one()
        if self.paused:
            return 60
        if self.circuit_state == "credentials_refused":
            # No automatic probe: refused credentials don't fix themselves (a new secret or
            # Resume does, see _probe_credentials).
            return 30
        now = fields.Datetime.now()
        if self.circuit_state == "open":
            reopen_at = self.circuit_opened_at + timedelta(seconds=self.circuit_cooldown)
            if now < reopen_at:
                return max((reopen_at - now).total_seconds(), 1)
            self.sudo().circuit_state = "half_open"
            # Written now: a conflict with another job probing at the same time fails this
            # job before its call, never after it (which would make queue_job call again).
            self.flush_recordset(["circuit_state"])
        if self.rate_limit:
            self.env["logistics.message.attempt"].flush_model(["attempted_at", "message_id"])
            self.env.cr.execute(
                SQL(
                    "SELECT count(*) FROM logistics_message_attempt a"
                    " JOIN logistics_message m ON m.id = a.message_id"
                    " WHERE m.backend_id = %s AND a.attempted_at > %s",
                    self.id,
                    now - timedelta(seconds=60),
                )
            )
            if self.env.cr.fetchone()[0] >= self.rate_limit:
                return 60 / self.rate_limit
        return 0

    def _record_call(self, error_class, message=None, error=None):
        """Feed the backend's health and circuit breaker with the outcome of one call.

        Every failure class counts toward health (``consecutive_failures``, ``last_error``,
        ``failing_since``). A transient failure opens the circuit after ``circuit_threshold`` in
        a row (or at once when probing); a security failure (401 / 403) puts it in
        *credentials refused*: a fault of the whole backend, whose other calls wait instead of
        each failing. Either raises (or joins) the backend's partner-level exception
        (partner_unavailable, grouped by cause), with ``message`` and its shipment as an
        occurrence. A success ends the run: the circuit closes and the partner-level
        exceptions close themselves (``logistics.exception._partner_recovered``).

        A success is written on the backend only when it ends a run of failures: the backend
        row is not written on every call, which would serialise concurrent deliveries on it.
        The last success is read from the messages (``last_success_at``).

        :param str error_class: None for a success, else transient, business or security
        :param message: the ``logistics.message`` of the call (optional)
        :param str error: the failure in words (optional)
        """
        self.ensure_one()
        now = fields.Datetime.now()
        backend = self.sudo()
        if not error_class:
            # failing_since too: a circuit closed by hand (Close Circuit) still ends its run
            # of failures, and its partner-level exception, at the next success.
            if (
                backend.consecutive_failures
                or backend.circuit_state != "closed"
                or backend.failing_since
            ):
                backend.write(
                    {"consecutive_failures": 0, "circuit_state": "closed", "failing_since": False}
                )
                self.env["logistics.exception"]._partner_recovered(backend)
            return
        values = {
            "consecutive_failures": backend.consecutive_failures + 1,
            "last_failure_at": now,
            "last_error": (error or "")[:250],
            "last_error_class": error_class,
            "failing_since": backend.failing_since or now,
        }
        cause = None
        if error_class == "security":
            values.update(circuit_state="credentials_refused", circuit_opened_at=now)
            cause = "credentials_refused"
        elif error_class == "transient" and (
            backend.circuit_state == "half_open"
            or values["consecutive_failures"] >= backend.circuit_threshold
        ):
            values.update(circuit_state="open", circuit_opened_at=now)
            cause = "circuit_open"
        elif error_class == "business" and backend.circuit_state != "closed":
            # A partner that answers (even 4xx) is up, with our credentials.
            values["circuit_state"] = "closed"
        backend.write(values)
        if cause:
            backend._raise_partner_unavailable(cause, message, error)

    def _raise_partner_unavailable(self, cause, message, error):
        """Raise, or count one more occurrence of, this backend's partner-level exception."""
        self.ensure_one()
        if cause == "credentials_refused":
            name = self.env._("%(backend)s refuses our credentials", backend=self.name)
            description = self.env._(
                "%(backend)s answered %(error)s: it refuses our credentials. Its calls wait "
                "(none is lost) until a new secret is set on the backend or it is resumed; "
                "this exception then closes itself when a call succeeds.",
                backend=self.name,
                error=error,
            )
        else:
            name = self.env._("%(backend)s is unavailable", backend=self.name)
            description = self.env._(
                "%(count)s calls in a row failed (last: %(error)s): the circuit is open. Calls "
                "wait and probe again after %(cooldown)s s; this exception closes itself when "
                "a call succeeds.",
                count=self.consecutive_failures,
                error=error,
                cooldown=self.circuit_cooldown,
            )
        self.env["logistics.exception"].sudo()._raise(
            "partner_unavailable",
            [
                {
                    "name": name,
                    "cause": cause,
                    "occurrence": error,
                    "backend_id": self.id,
                    "message_id": message.id if message else False,
                    "shipment_id": message.shipment_id.id if message else False,
                    "description": description,
                    "severity": "critical",
                    "company_id": self.company_id.id,
                }
            ],
        )

    def _backoff(self, attempt, retry_after=None):
        """Seconds before the next attempt: Retry-After when the partner sets one, else
        exponential with jitter."""
        self.ensure_one()
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        delay = min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max)
        # Jitter spreads the retries of many messages that failed together.
        return delay * random.uniform(0.75, 1.25)  # noqa: S311 - not for security
