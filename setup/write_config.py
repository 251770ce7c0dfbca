"""Write the local Odoo configuration used by setup/run and setup/test.

The file is git-ignored. Values that must survive re-runs (the admin password and the key that
encrypts backend secrets) are generated once and then kept: a new secret key would make every
stored backend secret unreadable.
"""

import argparse
import configparser
import os
import secrets
from base64 import urlsafe_b64encode
from pathlib import Path

# (section, option) pairs generated once and kept across runs.
KEPT = (("options", "admin_passwd"), ("logistics", "logistics_secret_key"))
# libpq's variables, when set, become Odoo's database options; unset, Odoo uses the local socket.
DATABASE_OPTIONS = {
    "db_host": "PGHOST",
    "db_port": "PGPORT",
    "db_user": "PGUSER",
    "db_password": "PGPASSWORD",
}


# Channels whose work may wait (milestone publications to subscribers, reporting batches such as
# stock snapshots): one job slot each, on top of the operational slots.
BACKGROUND_CHANNELS = {"root.logistics.publication": 1, "root.logistics.reporting": 1}


def job_slots(workers):
    """Jobs the queue_job runner may run at once: ``workers`` operational slots plus the
    background channels' slots. setup/run starts as many Odoo HTTP workers (a job runs in one),
    so that every slot the runner hands out has a worker to run it."""
    return max(int(workers), 1) + sum(BACKGROUND_CHANNELS.values())


def job_channels(workers):
    """queue_job channels (``channel:capacity`` pairs, queue_job's simple configuration) that
    reserve ``workers`` slots for the operational flows.

    A channel's capacity bounds its own jobs and its parent's bounds the sum of its children's,
    so the root's capacity is the operational capacity plus each background channel's:
    publications to a slow subscriber and reporting batches, however many, hold at most their
    own slots, and the operational flows always have theirs. Within a channel, and where the
    channels meet at the root, a lower priority runs first (the flows' priorities). The channels
    themselves are declared in the base addon's XML.
    """
    operational = max(int(workers), 1)
    channels = {
        "root": job_slots(workers),
        "root.logistics.operational": operational,
        **BACKGROUND_CHANNELS,
    }
    return ",".join(f"{name}:{capacity}" for name, capacity in channels.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--http-port", required=True)
    parser.add_argument("--gevent-port", required=True)
    parser.add_argument("--workers", required=True)
    parser.add_argument(
        "--no-job-runner",
        action="store_true",
        help="channels root:0: no job runner in processes using this file (pytest's in-process "
        "Odoo); a server started for end-to-end tests sets ODOO_QUEUE_JOB_CHANNELS instead.",
    )
    args = parser.parse_args()

    previous = configparser.ConfigParser(interpolation=None)
    previous.read(args.path)
    kept = {option: previous.get(section, option, fallback="") for section, option in KEPT}

    config = configparser.ConfigParser(interpolation=None)
    config["options"] = {
        "addons_path": args.addons_path,
        "data_dir": args.data_dir,
        "admin_passwd": kept["admin_passwd"] or secrets.token_urlsafe(24),
        "http_interface": "127.0.0.1",
        "http_port": args.http_port,
        "gevent_port": args.gevent_port,
        # One HTTP worker per job slot: the runner's reservation is real only if each job it
        # starts finds a worker.
        "workers": str(job_slots(args.workers)),
        "max_cron_threads": "1",
        "limit_time_real": "600",
        "server_wide_modules": "base,web,queue_job",
        "list_db": "False",
        "proxy_mode": "False",
    }
    for option, variable in DATABASE_OPTIONS.items():
        if os.environ.get(variable):
            config["options"][option] = os.environ[variable]
    config["queue_job"] = {
        "channels": "root:0" if args.no_job_runner else job_channels(args.workers)
    }
    # The suite's own section (Odoo warns about unknown keys in [options]). The Fernet key
    # (32 random bytes, url-safe base64) encrypts backend secrets; the environment variable
    # LOGISTICS_SECRET_KEY, when set, takes precedence.
    config["logistics"] = {
        "logistics_secret_key": kept["logistics_secret_key"]
        or urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }

    args.path.parent.mkdir(parents=True, exist_ok=True)
    with open(args.path, "w", encoding="utf-8") as handle:
        handle.write("# Written by setup/write_config.py; edits are overwritten on the next run.\n")
        config.write(handle)
    args.path.chmod(0o600)


if __name__ == "__main__":
    main()
