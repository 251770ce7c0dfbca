from odoo import models

from ..adapters import easypost


class LogisticsBackend(models.Model):
    """Test Connection for the EasyPost adapter (the hook ``_test_connection_<adapter>`` of the
    base's ``logistics_backend_connection.py``)."""

    _inherit = "logistics.backend"

    def _test_connection_easypost(self):
        """List one saved address (``easypost.CONNECTION_TEST_PATH``) with the backend's API
        key: EasyPost checks the key (401 when refused) and nothing is created or bought."""
        return self._test_connection_http(easypost.CONNECTION_TEST_PATH)
