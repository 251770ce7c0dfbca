"""Encryption of backend secrets at rest (Fernet; MultiFernet for key rotation).

The keys never live in the database: they come from the environment variable
LOGISTICS_SECRET_KEY or from the Odoo configuration file, section [logistics], option
logistics_secret_key. Several comma-separated keys may be given: the first encrypts, all of them
decrypt, which is how a key is rotated (put the new key first, run "Rotate secret key", then drop
the old key).
"""

import os
from configparser import ConfigParser
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from odoo.exceptions import UserError
from odoo.tools import config

ENV_VARIABLE = "LOGISTICS_SECRET_KEY"
CONFIG_SECTION = "logistics"
CONFIG_OPTION = "logistics_secret_key"


class SecretKeyMissing(UserError):
    pass


@lru_cache(maxsize=4)
def _keys_in_config_file(path):
    # Read once per process: the configuration file changes with a restart.
    parser = ConfigParser(interpolation=None)
    parser.read(path)
    return parser.get(CONFIG_SECTION, CONFIG_OPTION, fallback="")


def _configured_keys():
    raw = os.environ.get(ENV_VARIABLE, "")
    if not raw and config.get("config"):
        raw = _keys_in_config_file(config["config"])
    return tuple(key.strip() for key in raw.split(",") if key.strip())


@lru_cache(maxsize=4)
def _multi_fernet(keys):
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _cipher(env):
    keys = _configured_keys()
    if not keys:
        raise SecretKeyMissing(
            env._(
                "No encryption key for backend secrets is configured. Set %(option)s in the "
                "[%(section)s] section of the Odoo configuration file, or the environment "
                "variable %(variable)s, to a Fernet key (generate one with: python3 -c "
                '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
                "), then restart Odoo.",
                option=CONFIG_OPTION,
                section=CONFIG_SECTION,
                variable=ENV_VARIABLE,
            )
        )
    try:
        return _multi_fernet(keys)
    except ValueError as error:
        raise SecretKeyMissing(
            env._(
                "The configured encryption key for backend secrets is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            )
        ) from error


def encrypt(env, plaintext):
    return _cipher(env).encrypt(plaintext.encode()).decode()


@lru_cache(maxsize=256)
def _decrypt(keys, token):
    # Keyed by the configured keys too: a rotated or removed key is never served from here.
    # Webhooks verify a signature per request; decrypting once per process and token keeps
    # that off the hot path.
    return _multi_fernet(keys).decrypt(token.encode()).decode()


def decrypt(env, token):
    _cipher(env)  # a clear error when no key is configured
    try:
        return _decrypt(_configured_keys(), token)
    except InvalidToken as error:
        raise UserError(
            env._(
                "A backend secret can't be decrypted with the configured keys: the key it was "
                "encrypted with is missing from %(option)s. Add that key back (after the new "
                "one) or enter the secret again.",
                option=CONFIG_OPTION,
            )
        ) from error


def rotate(env, token):
    """Re-encrypt a token under the first configured key."""
    try:
        return _cipher(env).rotate(token.encode()).decode()
    except InvalidToken as error:
        raise UserError(
            env._(
                "A backend secret can't be re-encrypted: none of the configured keys decrypts "
                "it. Add the key it was encrypted with to %(option)s.",
                option=CONFIG_OPTION,
            )
        ) from error
