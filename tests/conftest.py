"""Shared helpers for the cross-module tests: they drive the setup/ entry points and a running
Odoo the way a user or an external system does, over processes and HTTP."""

import os
import socket
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_env(**overrides):
    """The environment of a user's shell, without the variables a test wants to control."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"ODOO_REPO", "ODOO_SRC", "PYTHON", "LOGISTICS_DB", "LOGISTICS_HTTP_PORT"}
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def run_setup(command, timeout=120, **env):
    """Run a setup/ entry point to completion; returns the CompletedProcess (text)."""
    return subprocess.run(
        [str(REPO_ROOT / "setup" / command)],
        env=setup_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def assert_clear_failure():
    def check(result, *expected):
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert "Traceback" not in output, output
        assert "ERROR:" in result.stderr, output
        for text in expected:
            assert text in result.stderr, output
        return output

    return check
