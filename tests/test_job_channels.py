"""The queue_job channel configuration reserves job slots for the operational flows: checked
with queue_job's own channel manager (the scheduler its job runner uses)."""

import configparser
import subprocess
import sys

import pytest

from odoo.addons.queue_job.jobrunner.channels import ChannelManager

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "setup"))
from write_config import job_channels, job_slots

OPERATIONAL = "root.logistics.operational"
BACKGROUND = ("root.logistics.publication", "root.logistics.reporting")


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_background_backlog_never_takes_the_operational_slots(workers):
    manager = ChannelManager()
    manager.simple_configure(job_channels(workers))
    # A backlog of publications (a slow subscriber) and reporting batches, queued first and at
    # a better priority than anything operational.
    sequence = 0
    for channel in BACKGROUND:
        for number in range(10):
            sequence += 1
            manager.notify("db", channel, f"{channel}-{number}", sequence, 0, 1, None, "pending")
    started = [job.uuid for job in manager.get_jobs_to_run(now=100)]
    assert started == [f"{channel}-0" for channel in BACKGROUND], "one slot each"
    # Operational jobs arriving now start at once, as many as the reserved slots.
    for number in range(workers + 3):
        sequence += 1
        manager.notify("db", OPERATIONAL, f"op-{number}", sequence, 0, 5, None, "pending")
    started = [job.uuid for job in manager.get_jobs_to_run(now=101)]
    assert started == [f"op-{number}" for number in range(workers)]


def test_channels_and_slots():
    assert job_channels(2) == (
        "root:4,root.logistics.operational:2,root.logistics.publication:1,"
        "root.logistics.reporting:1"
    )
    assert [job_slots(workers) for workers in (0, 1, 2, 8)] == [3, 3, 4, 10]


def test_config_has_an_http_worker_per_job_slot(tmp_path):
    path = tmp_path / "odoo.conf"
    subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "setup" / "write_config.py"),
            str(path),
            "--addons-path=/nowhere",
            "--data-dir=/nowhere",
            "--http-port=1",
            "--gevent-port=2",
            "--workers=2",
        ],
        check=True,
    )
    config = configparser.ConfigParser(interpolation=None)
    config.read(path)
    assert config["options"]["workers"] == "4"
    assert config["queue_job"]["channels"] == job_channels(2)
