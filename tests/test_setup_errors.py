"""The setup entry points fail with an explanation, never a traceback or a silent success."""

import os
import socket
import stat

import pytest

from conftest import free_port, run_setup


@pytest.mark.parametrize("command", ["run", "test"])
def test_no_odoo_source(command, tmp_path, assert_clear_failure):
    # An empty cache and an Odoo repository that can't be reached.
    result = run_setup(command, LOGISTICS_CACHE=tmp_path / "cache", ODOO_REPO=tmp_path / "nowhere")
    assert_clear_failure(result, "could not get the Odoo 19.0 source", "ODOO_REPO=", "ODOO_SRC=")


def test_odoo_src_not_an_odoo_tree(tmp_path, assert_clear_failure):
    result = run_setup("run", LOGISTICS_CACHE=tmp_path / "cache", ODOO_SRC=tmp_path)
    assert_clear_failure(result, "is not an Odoo source tree", "ODOO_SRC")


@pytest.mark.parametrize("command", ["run", "test"])
def test_postgres_unreachable(command, assert_clear_failure):
    # Nothing listens on this port: the same answer as a stopped server.
    result = run_setup(command, PGHOST="127.0.0.1", PGPORT=free_port())
    assert_clear_failure(result, "PostgreSQL does not answer", "Start PostgreSQL", "PGHOST")


def test_wrong_python_version(tmp_path, assert_clear_failure):
    old_python = tmp_path / "python3.9"
    old_python.write_text("#!/bin/sh\necho 3.9\n")
    old_python.chmod(old_python.stat().st_mode | stat.S_IEXEC)
    result = run_setup("run", PYTHON=old_python)
    assert_clear_failure(result, "Python 3.9", "needs Python 3.10 to 3.13", "PYTHON=")


def test_port_in_use(assert_clear_failure):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_setup(
            "run", timeout=600, LOGISTICS_HTTP_PORT=port, LOGISTICS_GEVENT_PORT=free_port()
        )
    assert_clear_failure(
        result, f"port {port} on 127.0.0.1 is already in use", "LOGISTICS_HTTP_PORT="
    )


def test_prometheus_missing(tmp_path, assert_clear_failure):
    # The user's commands less Debian's prometheus and promtool, which the metrics tests run.
    commands = tmp_path / "bin"
    commands.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = commands / entry.name
            if entry.name not in {"prometheus", "promtool"} and not link.exists():
                link.symlink_to(entry.path)
    result = run_setup("test", PATH=commands)
    assert_clear_failure(result, "prometheus is not installed", "apt-get install -y prometheus")
