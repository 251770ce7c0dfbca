import random
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .logistics_access import check_manager


class LogisticsBackend(models.Model):
    """Partner health: pause and resume, circuit breaker, rate limit, backoff."""

    _inherit = "logistics.backend"

    # --- health: pause, circuit breaker, rate limit --------------------------------------------
    @api.depends("paused", "circuit_state", "consecutive_failures")
    def _compute_health(self):
        for backend in self:
            if backend.paused:
                backend.health = "paused"
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
        """The time of the last delivered outbound message of each backend, in one grouped
        query (a done message's state_changed_at is its delivery: done is final)."""
        delivered = (
            self.env["logistics.message"]
            .sudo()
            ._read_group(
                [
                    ("backend_id", "in", self._origin.ids),
                    ("direction", "=", "outbound"),
                    ("state", "=", "done"),
                ],
                ["backend_id"],
                ["state_changed_at:max"],
            )
        )
        last = {backend.id: at for backend, at in delivered}
        for backend in self:
            backend.last_success_at = last.get(backend._origin.id, False)

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

    def _wait_before_call(self):
        """Seconds a call must wait (paused, circuit open, rate limit), or 0 to go ahead.
        Moves an open circuit whose cool-down is over to half-open: the next call is the probe."""
        self.ensure_one()
        if self.paused:
            return 60
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

    def _record_call(self, error_class):
        """Feed the circuit breaker with the outcome of one call.

        A failure is written on the backend; a success only when it ends a run of failures (or
        closes a probing circuit): the backend row is not written on every call, which would
        serialise concurrent deliveries on it. The last success is read from the messages
        (``last_success_at``).
        """
        self.ensure_one()
        now = fields.Datetime.now()
        backend = self.sudo()
        if error_class != "transient":
            # A partner that answers (even 4xx) is up.
            if backend.consecutive_failures or backend.circuit_state != "closed":
                backend.write({"consecutive_failures": 0, "circuit_state": "closed"})
            return
        failures = backend.consecutive_failures + 1
        values = {"consecutive_failures": failures, "last_failure_at": now}
        if backend.circuit_state == "half_open" or failures >= backend.circuit_threshold:
            values.update(circuit_state="open", circuit_opened_at=now)
        backend.write(values)

    def _backoff(self, attempt, retry_after=None):
        """Seconds before the next attempt: Retry-After when the partner sets one, else
        exponential with jitter."""
        self.ensure_one()
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        delay = min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max)
        # Jitter spreads the retries of many messages that failed together.
        return delay * random.uniform(0.75, 1.25)  # noqa: S311 - not for security
