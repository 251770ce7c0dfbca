"""Write the local Odoo configuration used by setup/run and setup/test.

The file is git-ignored. Values that must survive re-runs (the admin password, the metrics token
and the key that encrypts backend secrets) are generated once and then kept: a new secret key
would make every stored backend secret unreadable.
"""

import argparse
import configparser
import os
import pwd
import secrets
from base64 import urlsafe_b64encode
from pathlib import Path

# (section, option) pairs generated once and kept across runs.
KEPT = (
    ("options", "admin_passwd"),
    ("logistics", "logistics_secret_key"),
    ("logistics", "logistics_metrics_token"),
)
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


def proxy_config(listen_port, odoo_port, gevent_port, directory):
    """nginx configuration of the reverse proxy in front of Odoo, as Odoo's deployment guide
    has it (administration/on_premise/deploy, "HTTPS" and "LiveChat"): ``/websocket`` to the
    gevent port (with HTTP workers, only the gevent worker serves websockets), everything else
    to the HTTP workers, the client's address, host and scheme in X-Forwarded-* headers for
    Odoo's ``proxy_mode``.

    For a foreground process of an unprivileged user: all on 127.0.0.1, and the pid file, logs
    and temporary files in ``directory`` (no path of the system's nginx service).

    :param listen_port: the port users open (int)
    :param odoo_port: Odoo's HTTP port (its workers)
    :param gevent_port: Odoo's gevent port (websockets)
    :param directory: the proxy's own directory (a pathlib.Path), created if needed
    :return: the configuration text
    """
    directory.mkdir(parents=True, exist_ok=True)
    # nginx started by root runs its workers as "nobody", who could not reach the temporary
    # files in a private home directory: they run as the user who started it instead.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    forwarded = """
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Real-IP $remote_addr;"""
    return f"""# Written by setup/write_config.py; edits are overwritten on the next run.
{user}
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;

    upstream odoo {{
        server 127.0.0.1:{odoo_port};
    }}
    upstream odoochat {{
        server 127.0.0.1:{gevent_port};
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}

    server {{
        listen 127.0.0.1:{listen_port};
        proxy_read_timeout 720s;
        proxy_connect_timeout 720s;
        proxy_send_timeout 720s;
        # Odoo limits what it reads itself (a webhook reads no further than its backend's
        # limit): bodies are passed on as they arrive, not spooled to disk first (which
        # chunked bodies need HTTP/1.1 to the upstream for).
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_http_version 1.1;

        location /websocket {{
            proxy_pass http://odoochat;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;{forwarded}
        }}

        location / {{{forwarded}
            proxy_redirect off;
            proxy_pass http://odoo;
        }}

        gzip on;
        gzip_types text/css text/plain text/xml application/xml application/json
                   application/javascript;
    }}
}}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--http-port", required=True)
    parser.add_argument("--gevent-port", required=True)
    parser.add_argument("--workers", required=True)
    parser.add_argument(
        "--proxy-port",
        help="setup/run: the port of the reverse proxy in front of Odoo (proxy_mode on); its "
        "nginx configuration is written to --proxy-dir/nginx.conf",
    )
    parser.add_argument("--proxy-dir", type=Path)
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
        # Behind setup/run's reverse proxy, Odoo takes the client's host, scheme and address
        # from its X-Forwarded-* headers.
        "proxy_mode": str(bool(args.proxy_port)),
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
        # The bearer token of /logistics/metrics (and the details of /logistics/health), for
        # every company; LOGISTICS_METRICS_TOKEN, when set, takes precedence.
        "logistics_metrics_token": kept["logistics_metrics_token"] or secrets.token_urlsafe(32),
    }

    args.path.parent.mkdir(parents=True, exist_ok=True)
    with open(args.path, "w", encoding="utf-8") as handle:
        handle.write("# Written by setup/write_config.py; edits are overwritten on the next run.\n")
        config.write(handle)
    args.path.chmod(0o600)
    if args.proxy_port:
        (args.proxy_dir / "nginx.conf").write_text(
            proxy_config(args.proxy_port, args.http_port, args.gevent_port, args.proxy_dir),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
