"""``GET /logistics/metrics``: the Prometheus scrape endpoint (issue 15, DESIGN §5).

Authenticated by a bearer token (``scrape_token``), never by address; the numbers are
computed at scrape time from the database by the metric registry (``logistics.metric._scrape``),
so that any number of Odoo workers give the same answer. A token scoped to companies sees
their numbers only.
"""

import logging

# Prometheus's text format 0.0.4, which every Prometheus 2.x reads (prometheus_client's
# CONTENT_TYPE_LATEST announces 1.0.0, with UTF-8 names we don't use).
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from odoo import http
from odoo.http import request

from .scrape_token import TokenConfigError, bearer_token, token_companies

_logger = logging.getLogger(__name__)

UNAUTHORIZED = (
    "A bearer token is required: set LOGISTICS_METRICS_TOKEN (or logistics_metrics_token in "
    "the [logistics] section of the Odoo configuration file) and send it as "
    "'Authorization: Bearer <token>'.\n"
)


class LogisticsMetrics(http.Controller):
    @http.route(
        "/logistics/metrics",
        type="http",
        auth="none",
        methods=["GET"],
        csrf=False,
        save_session=False,
        readonly=True,
    )
    def metrics(self):
        """The Prometheus text exposition format (0.0.4): 200 with the metrics, 401 without a
        valid bearer token (RFC 6750), 503 when no database is selected or the token
        configuration is invalid."""
        if not request.db:
            return self._text(503, "No database selected (one database per server, or dbfilter).\n")
        try:
            valid, companies = token_companies(bearer_token(request.httprequest.headers))
        except TokenConfigError as error:
            _logger.error("metrics: invalid token configuration: %s", error)
            return self._text(503, "The metrics token configuration is invalid (see the log).\n")
        if not valid:
            response = self._text(401, UNAUTHORIZED)
            response.headers["WWW-Authenticate"] = 'Bearer realm="logistics metrics"'
            return response
        env = request.env(su=True)
        if "logistics.metric" not in env.registry:
            return self._text(503, "Logistics Monitoring is not installed in this database.\n")
        exposition = env["logistics.metric"]._scrape(companies)
        return request.make_response(
            exposition,
            headers=[("Content-Type", CONTENT_TYPE_PLAIN_0_0_4), ("Cache-Control", "no-store")],
        )

    @staticmethod
    def _text(status, text):
        return request.make_response(
            text,
            headers=[("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
            status=status,
        )
