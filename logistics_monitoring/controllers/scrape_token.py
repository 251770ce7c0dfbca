"""Bearer tokens of ``/logistics/metrics`` and ``/logistics/health`` (issue 15).

The tokens never live in the database: like the backends' secret key
(``logistics_integration_base/models/secret_cipher.py``) they come from the environment or
from the ``[logistics]`` section of the Odoo configuration file, read once per process:

- ``LOGISTICS_METRICS_TOKEN`` / ``logistics_metrics_token``: one or more comma-separated
  tokens that see every company;
- ``LOGISTICS_METRICS_COMPANY_TOKENS`` / ``logistics_metrics_company_tokens``: comma-separated
  ``<company id>:<token>`` entries, each seeing one company's numbers (several entries with
  the same token see those companies).

The environment wins over the file, variable by variable. Tokens are compared in constant time
(``hmac.compare_digest``); nothing is trusted by IP address.
"""

import hmac
import os
from configparser import ConfigParser
from functools import lru_cache

from odoo.tools import config

CONFIG_SECTION = "logistics"
# Names of settings, not secrets.
TOKEN_VARIABLE = "LOGISTICS_METRICS_TOKEN"  # noqa: S105
TOKEN_OPTION = "logistics_metrics_token"  # noqa: S105
COMPANY_TOKENS_VARIABLE = "LOGISTICS_METRICS_COMPANY_TOKENS"
COMPANY_TOKENS_OPTION = "logistics_metrics_company_tokens"


class TokenConfigError(ValueError):
    """A company token entry is not ``<company id>:<token>``."""


@lru_cache(maxsize=4)
def _config_file_options(path):
    parser = ConfigParser(interpolation=None)
    parser.read(path)
    return {
        option: parser.get(CONFIG_SECTION, option, fallback="")
        for option in (TOKEN_OPTION, COMPANY_TOKENS_OPTION)
    }


def _raw(variable, option):
    raw = os.environ.get(variable, "")
    if not raw and config.get("config"):
        raw = _config_file_options(config["config"])[option]
    return raw


def configured_tokens():
    """``{token: company ids (frozenset) or None (every company)}`` from the environment and
    the configuration file; empty when no token is configured.

    :raises TokenConfigError: a company token entry that is not ``<company id>:<token>``
    """
    tokens = {}
    entries = _raw(COMPANY_TOKENS_VARIABLE, COMPANY_TOKENS_OPTION).split(",")
    for position, entry in enumerate(entries, start=1):
        if not entry.strip():
            continue
        company, _sep, token = entry.strip().partition(":")
        if not company.strip().isdigit() or not token.strip():
            # The entry itself may hold a token: only its position goes to the log.
            raise TokenConfigError(
                f"{COMPANY_TOKENS_OPTION}: entry {position} is not <company id>:<token>"
            )
        tokens[token.strip()] = tokens.get(token.strip(), frozenset()) | {int(company)}
    for token in _raw(TOKEN_VARIABLE, TOKEN_OPTION).split(","):
        if token.strip():
            tokens[token.strip()] = None
    return tokens


def bearer_token(headers):
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _sep, token = (headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_companies(token):
    """``(valid, company ids or None)`` for a presented token: ``(False, None)`` when the
    token is missing or matches no configured one (compared in constant time, against every
    configured token)."""
    if not token:
        return False, None
    found = False
    companies = None
    for configured, scope in configured_tokens().items():
        if hmac.compare_digest(configured.encode(), token.encode()):
            found, companies = True, scope
    return found, companies
