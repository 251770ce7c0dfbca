import contextlib
import os
import secrets
import time

from odoo import models

from odoo.addons.logistics_integration_base.models.logistics_message import ERROR_CLASS_WORDS

from ..adapters import wms_rest


class LogisticsBackend(models.Model):
    """Test Connection for the WMS adapters (the hook ``_test_connection_<adapter>`` of the
    base's ``logistics_backend_connection.py``)."""

    _inherit = "logistics.backend"

    def _test_connection_wms_rest(self):
        """``GET /api/ping`` with the backend's credentials: the WMS answers 200 and does
        nothing (``wms_rest.PING_PATH``)."""
        return self._test_connection_http(wms_rest.PING_PATH)

    def _test_connection_wms_csv(self):
        """The drop directory as the exchange uses it: a probe file written to outbound/ (where
        order files go) and removed, and inbound/ (where the WMS drops its confirmations and
        stock files) listed. The probe's name starts with a dot and has no .csv suffix, so a
        WMS reading outbound/*.csv never takes it for an order."""
        self.ensure_one()
        if not self.wms_drop_dir:
            return self._connection_result(
                target=self.env._("the drop directory"),
                error_class="business",
                summary=self.env._("No drop directory is set: there is nowhere to write."),
            )
        outbound, inbound = self._drop_path("outbound"), self._drop_path("inbound")
        probe = outbound / f".odoo-connection-test-{secrets.token_hex(4)}"
        started = time.monotonic()
        try:
            outbound.mkdir(parents=True, exist_ok=True)
            probe.write_text("connection test\n", encoding="utf-8")
            probe.unlink()
            waiting = sum(1 for path in inbound.glob("*.csv")) if inbound.is_dir() else None
            if waiting is not None and not os.access(inbound, os.R_OK | os.X_OK):
                raise PermissionError(f"{inbound} can't be read")
        except OSError as error:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
            # Classified as a file delivery that fails is (``_send_file_wms_csv``).
            error_class = self.env["logistics.error.rule"].sudo()._classify("connection")
            return self._connection_result(
                target=str(self.wms_drop_dir),
                latency_ms=int((time.monotonic() - started) * 1000),
                error_class=error_class,
                summary=self.env._(
                    "%(words)s. The drop directory can't be used: %(error)s (%(kind)s).",
                    words=ERROR_CLASS_WORDS[error_class],
                    error=f"{error.strerror}: {error.filename}" if error.strerror else str(error),
                    kind=error.__class__.__name__,
                ),
            )
        latency = int((time.monotonic() - started) * 1000)
        return self._connection_result(
            ok=True,
            target=str(self.wms_drop_dir),
            latency_ms=latency,
            summary=self.env._(
                "%(outbound)s is writable (probe file written and removed in %(latency)s ms); "
                "%(inbound)s",
                outbound=outbound,
                latency=latency,
                inbound=self.env._(
                    "%(inbound)s holds %(count)s file(s) waiting to be read.",
                    inbound=inbound,
                    count=waiting,
                )
                if waiting is not None
                else self.env._(
                    "%(inbound)s does not exist yet: the WMS creates it with its first file.",
                    inbound=inbound,
                ),
            ),
        )
