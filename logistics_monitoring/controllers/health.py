"""``GET /logistics/health``: is the suite doing its work now? For load balancers, Kubernetes
probes and uptime checkers (issue 15 §2).

The answer is a health document of the IETF draft "Health Check Response Format for HTTP
APIs" (draft-inadarei-api-health-check-06, ``application/health+json``), 200 when every check
passes and 503 otherwise (what load balancers and Kubernetes' HTTP probes read: a status from
200 to 399 passes), never cached. ``?check=<name>`` runs one check (repeated: those checks);
an unknown name is a 404 that lists the names.

No session and no login: anyone who reaches the URL reads each check's status and a generic
output. A bearer token of ``scrape_token.py`` adds the details (which backend, channel or
scheduled action fails, ages in seconds); a presented token that is not valid is a 401
(RFC 6750 §3). Neither answer holds a secret or a business number.

The database is the request's (one database, ``-d`` or ``dbfilter``, or ``X-Odoo-Database``).
With none (several databases and no filter, or PostgreSQL unreachable, which Odoo takes for
no database), the answer is 503 with the database check failing: this needs the addon among
the server-wide modules (``server_wide_modules``), as Odoo routes requests without a database
to those only; otherwise Odoo answers its own 404.

Like Odoo's ``/web/health`` (``addons/web/controllers/home.py``): ``auth="none"``, no session
saved, ``Cache-Control: no-store``; the checks run on the read-only cursor of an
``auth="none"`` route, as the superuser, with fixed queries.
"""

import json
import logging

import psycopg2

from odoo import SUPERUSER_ID, fields, http, sql_db
from odoo.http import request

from ..models.logistics_health import CHECKS, iso_utc
from .scrape_token import TokenConfigError, bearer_token, token_companies

_logger = logging.getLogger(__name__)

HEALTH_CONTENT_TYPE = "application/health+json"


class LogisticsHealthController(http.Controller):
    @http.route(
        "/logistics/health",
        type="http",
        auth="none",
        methods=["GET"],
        csrf=False,
        save_session=False,
        readonly=True,
    )
    def health(self, check=None, **_params):
        """The health document (module docstring): 200 pass, 503 fail, 401 invalid token,
        404 unknown check, 500 misconfigured tokens."""
        details, companies = False, None
        token = bearer_token(request.httprequest.headers)
        if token is not None:
            try:
                details, companies = token_companies(token)
            except TokenConfigError:
                # The entry may hold a token: named by its setting only.
                _logger.error("/logistics/health: logistics_metrics_company_tokens is malformed")
                return self._json(500, {"output": "The server's health tokens are misconfigured."})
            if not details:
                return self._json(
                    401,
                    {"output": "The bearer token is not valid."},
                    [("WWW-Authenticate", 'Bearer realm="logistics", error="invalid_token"')],
                )
        # ?check=a&check=b runs both: Odoo passes only the first of a repeated parameter.
        asked = [name for name in request.httprequest.args.getlist("check") if name]
        unknown = [name for name in asked if name not in CHECKS]
        if unknown:
            return self._json(
                404,
                {"output": f"Unknown check {unknown[0]!r}.", "checkNames": list(CHECKS)},
            )
        names = list(dict.fromkeys(asked)) or None
        if not request.db:
            return self._no_database()
        env = request.env(user=SUPERUSER_ID, su=True)
        if "logistics.health" not in env.registry:
            return self._database_failing(
                "The Logistics Monitoring addon is not installed in this database."
            )
        document = env["logistics.health"]._health_document(names, details, companies)
        return self._json(200 if document["status"] == "pass" else 503, document, health=True)

    def _no_database(self):
        """503 with the database check failing, saying why there is no database (PostgreSQL
        probed as ``/web/health?db_server_status=1`` does)."""
        try:
            sql_db.db_connect("postgres").cursor().close()
        except psycopg2.Error:
            _logger.warning("/logistics/health: PostgreSQL is unreachable", exc_info=True)
            return self._database_failing("PostgreSQL is unreachable.")
        return self._database_failing(
            "No database serves this request: none is selected (the server has several "
            "databases, and neither its dbfilter nor an X-Odoo-Database header picks one of "
            "them), or the selected one can't be opened."
        )

    def _database_failing(self, output):
        now = fields.Datetime.now()
        document = {
            "status": "fail",
            "checks": {"database": [{"status": "fail", "time": iso_utc(now), "output": output}]},
        }
        return self._json(503, document, health=True)

    @staticmethod
    def _json(status, document, headers=(), health=False):
        # ASCII JSON: its length in characters is its length in bytes.
        body = json.dumps(document)
        return request.make_response(
            body,
            headers=[
                ("Content-Type", HEALTH_CONTENT_TYPE if health else "application/json"),
                ("Cache-Control", "no-store"),
                *headers,
            ],
            status=status,
        )
