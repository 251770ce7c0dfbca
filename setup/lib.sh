# shellcheck shell=bash
# Shared steps of setup/run and setup/test: each step checks what it needs and, when something is
# missing, says what is wrong and what to do, then exits non-zero. Sourced, never run directly.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL_DIR="$REPO_ROOT/.local"
LOG_DIR="$LOCAL_DIR/logs"
LOGISTICS_CACHE=${LOGISTICS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/logistics-suite}
ODOO_BRANCH=19.0
ODOO_DEFAULT_REPO=https://github.com/odoo/odoo.git
# The suite's own addons, in install order.
OUR_ADDONS=(
    logistics_integration_base
    logistics_wms_connector
    logistics_carrier_connector
    logistics_finance_sync
    logistics_monitoring
)

say() { printf '[logistics] %s\n' "$*" >&2; }

# die WHAT [WHAT TO DO ...]: the one way a step fails.
die() {
    printf '\n[logistics] ERROR: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '[logistics]   %s\n' "$line" >&2; done
    exit 1
}

join_by() {
    local IFS=$1
    shift
    echo "$*"
}

# --- Python ------------------------------------------------------------------------------------
# Odoo 19 runs on Python 3.10 to 3.13; the pinned requirements are tested on 3.11.
check_python() {
    local candidate
    if [ -n "${PYTHON:-}" ]; then
        candidate=$PYTHON
    elif command -v python3.11 >/dev/null 2>&1; then
        candidate=python3.11
    else
        candidate=python3
    fi
    command -v "$candidate" >/dev/null 2>&1 ||
        die "no Python interpreter '$candidate' found." \
            "Install Python 3.11 (e.g. 'apt-get install python3.11 python3.11-venv')," \
            "or set PYTHON=/path/to/python3.11."
    local version
    version=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    case "$version" in
        3.10 | 3.11 | 3.12 | 3.13) ;;
        *) die "Python $version ($candidate) can't run Odoo 19, which needs Python 3.10 to 3.13." \
            "Install Python 3.11 and run again with PYTHON=/path/to/python3.11." ;;
    esac
    "$candidate" -c 'import venv, ensurepip' 2>/dev/null ||
        die "Python $version ($candidate) has no 'venv' / 'ensurepip' module." \
            "Install it (e.g. 'apt-get install python$version-venv') and run again."
    PYTHON=$candidate
    PYTHON_VERSION=$version
}

# --- PostgreSQL --------------------------------------------------------------------------------
# Connection settings come from the standard libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD);
# unset, they mean the local socket and the current user.
check_postgres() {
    local tool
    for tool in psql createdb dropdb; do
        command -v "$tool" >/dev/null 2>&1 ||
            die "the PostgreSQL client '$tool' is not installed." \
                "Install the PostgreSQL client tools (e.g. 'apt-get install postgresql-client')."
    done
    local where="${PGHOST:-local socket}:${PGPORT:-5432} as ${PGUSER:-$(id -un)}"
    local answer
    if ! answer=$(psql -X -d postgres -tAc 'SELECT 1' 2>&1); then
        die "PostgreSQL does not answer at $where:" \
            "  ${answer//$'\n'/ }" \
            "Start PostgreSQL (e.g. 'pg_ctlcluster 15 main start' or 'systemctl start postgresql')," \
            "or point PGHOST / PGPORT / PGUSER / PGPASSWORD at a running server." \
            "The user needs the CREATEDB right ('createuser --createdb \$USER' as postgres)."
    fi
    [ "$(psql -X -d postgres -tAc 'SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user')" = t ] ||
        die "the PostgreSQL user at $where may not create databases." \
            "Grant it: 'sudo -u postgres psql -c \"ALTER ROLE $(id -un) CREATEDB\"'."
}

db_exists() {
    [ "$(psql -X -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]
}

# --- Odoo source -------------------------------------------------------------------------------
# ODOO_SRC (an existing checkout) wins; otherwise a cached shallow clone of ODOO_REPO.
ensure_odoo_source() {
    if [ -n "${ODOO_SRC:-}" ]; then
        check_odoo_tree "$ODOO_SRC" "ODOO_SRC=$ODOO_SRC"
        ODOO_DIR=$(cd "$ODOO_SRC" && pwd)
        return
    fi
    ODOO_DIR="$LOGISTICS_CACHE/odoo-$ODOO_BRANCH"
    if [ -f "$ODOO_DIR/odoo-bin" ]; then
        check_odoo_tree "$ODOO_DIR" "the cached copy $ODOO_DIR"
        return
    fi
    local repo=${ODOO_REPO:-$ODOO_DEFAULT_REPO}
    # git ignores --depth for a plain local path; a file:// URL keeps the clone shallow.
    if [ -d "$repo" ]; then
        repo="file://$(cd "$repo" && pwd)"
    fi
    say "getting Odoo $ODOO_BRANCH source from $repo (shallow clone, cached in $ODOO_DIR)"
    mkdir -p "$LOGISTICS_CACHE"
    rm -rf "${ODOO_DIR}_partial"
    local output
    if ! output=$(GIT_TERMINAL_PROMPT=0 git clone --quiet --depth 1 --branch "$ODOO_BRANCH" \
        "$repo" "${ODOO_DIR}_partial" 2>&1); then
        rm -rf "${ODOO_DIR}_partial"
        die "could not get the Odoo $ODOO_BRANCH source from $repo:" \
            "  ${output//$'\n'/ }" \
            "Do one of:" \
            "  ODOO_REPO=<git URL or local git directory with branch $ODOO_BRANCH> $0" \
            "  ODOO_SRC=<an existing Odoo $ODOO_BRANCH checkout> $0" \
            "The source is cached in $ODOO_DIR; later runs need neither."
    fi
    check_odoo_tree "${ODOO_DIR}_partial" "$repo"
    mv "${ODOO_DIR}_partial" "$ODOO_DIR"
}

check_odoo_tree() {
    local dir=$1 origin=$2
    [ -f "$dir/odoo-bin" ] && [ -f "$dir/odoo/release.py" ] ||
        die "$origin is not an Odoo source tree (no odoo-bin / odoo/release.py)." \
            "Point ODOO_SRC at an Odoo $ODOO_BRANCH checkout, or unset it to use ODOO_REPO."
    grep -q "^version_info = (19, 0," "$dir/odoo/release.py" ||
        die "$origin holds an Odoo version other than $ODOO_BRANCH." \
            "Use the $ODOO_BRANCH branch (ODOO_REPO=<repo>, or ODOO_SRC=<a $ODOO_BRANCH checkout>)."
}

odoo_revision() {
    git -C "$ODOO_DIR" rev-parse HEAD 2>/dev/null || sha256sum "$ODOO_DIR/odoo/release.py" | cut -c1-40
}

# --- Python environment ------------------------------------------------------------------------
# One virtualenv per Python version in the cache, refreshed when a requirements file changes.
ensure_venv() {
    VENV="$LOGISTICS_CACHE/venv-py$PYTHON_VERSION"
    VENV_PY="$VENV/bin/python"
    local stamp_file="$VENV/.logistics-requirements"
    # What the environment holds: the requirement files, Odoo's revision and the way this
    # function installs them (bump VENV_RECIPE when the steps below change).
    local VENV_RECIPE=2
    REQUIREMENTS_KEY=$(cat "$ODOO_DIR/requirements.txt" "$REPO_ROOT/setup/requirements.txt" \
        "$REPO_ROOT/setup/build-constraints.txt" | sha256sum | cut -c1-16)-$(odoo_revision)
    local wanted="$REQUIREMENTS_KEY-$VENV_RECIPE"
    if [ -x "$VENV_PY" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$wanted" ]; then
        return
    fi
    say "preparing the Python environment in $VENV (a few minutes the first time)"
    [ -x "$VENV_PY" ] || "$PYTHON" -m venv "$VENV" ||
        die "could not create a virtualenv with $PYTHON." "Install python$PYTHON_VERSION-venv and run again."
    local log="$LOG_DIR/pip.log"
    local odoo_requirements="$LOCAL_DIR/odoo-requirements.txt"
    # python-ldap only serves auth_ldap and needs the LDAP C headers: leave it out.
    grep -v -i '^python-ldap' "$ODOO_DIR/requirements.txt" >"$odoo_requirements"
    local pip=("$VENV_PY" -m pip --disable-pip-version-check)
    {
        "${pip[@]}" install --quiet 'pip==26.3' &&
            "${pip[@]}" install --quiet --build-constraint "$REPO_ROOT/setup/build-constraints.txt" \
                -r "$odoo_requirements" &&
            # "compat" editable mode puts the source on sys.path with a .pth line; the default
            # import hook would appear in odoo.addons.__path__ and make Odoo warn about it.
            "${pip[@]}" install --quiet --no-deps --editable "$ODOO_DIR" \
                --config-settings editable_mode=compat &&
            "${pip[@]}" install --quiet --build-constraint "$REPO_ROOT/setup/build-constraints.txt" \
                -r "$REPO_ROOT/setup/requirements.txt"
    } >"$log" 2>&1 || {
        tail -n 20 "$log" >&2
        die "installing the Python requirements failed (full log: $log)." \
            "Check that PyPI is reachable (or PIP_INDEX_URL points at a mirror) and run again."
    }
    echo "$wanted" >"$stamp_file"
}

# --- Odoo configuration ------------------------------------------------------------------------
# write_config HTTP_PORT GEVENT_PORT [--no-job-runner | --proxy-port PORT --proxy-dir DIR]:
# (re)writes CONFIG_FILE, keeping its generated secrets (and DIR/nginx.conf with a proxy port).
write_config() {
    "$VENV_PY" "$REPO_ROOT/setup/write_config.py" "$CONFIG_FILE" \
        --addons-path "$ODOO_DIR/addons,$REPO_ROOT" \
        --data-dir "$LOGISTICS_CACHE/data" \
        --http-port "$1" \
        --gevent-port "$2" \
        --workers "${LOGISTICS_WORKERS:-2}" "${@:3}"
}

odoo() {
    "$VENV_PY" "$ODOO_DIR/odoo-bin" -c "$CONFIG_FILE" "$@"
}

# Odoo's own database tool: copies, renames and drops the filestore with the database.
odoo_db() {
    "$VENV_PY" "$ODOO_DIR/odoo-bin" db -c "$CONFIG_FILE" "$@"
}

# --- Databases ---------------------------------------------------------------------------------
# The expensive part of a database (Odoo's stock, sale, delivery, account, queue_job, with demo
# data) lives in a template database named after what it contains; our addons are installed on a
# copy of it, in seconds.
template_modules() {
    "$PYTHON" - "$REPO_ROOT" "${OUR_ADDONS[@]}" <<'EOF'
import ast, sys
from pathlib import Path
root, ours = Path(sys.argv[1]), set(sys.argv[2:])
deps = set()
for name in ours:
    manifest = ast.literal_eval((root / name / "__manifest__.py").read_text())
    deps.update(dep for dep in manifest.get("depends", []) if dep not in ours)
print(",".join(sorted(deps)))
EOF
}

ensure_template() {
    local modules
    modules=$(template_modules)
    local key
    # The cache path is part of the key: the template's filestore lives in that cache.
    key=$(printf '%s|%s|%s' "$REQUIREMENTS_KEY" "$modules" "$LOGISTICS_CACHE" |
        sha256sum | cut -c1-10)
    TEMPLATE_DB="logistics_tpl_$key"
    db_exists "$TEMPLATE_DB" && return
    local log="$LOG_DIR/$TEMPLATE_DB.log"
    rm -f "$log"
    say "building template database $TEMPLATE_DB with $modules and demo data (about two minutes, once)"
    odoo_db drop "${TEMPLATE_DB}_partial" >/dev/null 2>&1 || true
    if ! odoo -d "${TEMPLATE_DB}_partial" -i "$modules" --with-demo --stop-after-init \
        --logfile "$log" --log-level warn >/dev/null 2>&1; then
        tail -n 20 "$log" >&2
        die "building the template database failed (full log: $log)."
    fi
    odoo_db rename "${TEMPLATE_DB}_partial" "$TEMPLATE_DB" >/dev/null 2>&1 ||
        die "could not rename ${TEMPLATE_DB}_partial to $TEMPLATE_DB."
    # Older templates built from this cache are of no more use (other caches keep theirs).
    local old
    for old in $(cat "$LOGISTICS_CACHE/templates" 2>/dev/null); do
        [ "$old" = "$TEMPLATE_DB" ] || odoo_db drop "$old" >/dev/null 2>&1 || true
    done
    echo "$TEMPLATE_DB" >"$LOGISTICS_CACHE/templates"
}

# create_database NAME: a fresh copy of the template with all our addons installed.
create_database() {
    local db=$1
    local log="$LOG_DIR/install-$db.log"
    rm -f "$log"  # Odoo appends to its log file
    say "creating database $db from $TEMPLATE_DB and installing $(join_by , "${OUR_ADDONS[@]}")"
    odoo_db duplicate --force "$TEMPLATE_DB" "$db" >"$LOG_DIR/duplicate-$db.log" 2>&1 ||
        die "could not copy $TEMPLATE_DB to $db (log: $LOG_DIR/duplicate-$db.log)."
    if ! odoo -d "$db" -i "$(join_by , "${OUR_ADDONS[@]}")" --stop-after-init \
        --logfile "$log" --log-level info; then
        grep -E ' (ERROR|CRITICAL) ' "$log" | tail -n 20 >&2 || true
        die "installing the suite's addons into $db failed (full log: $log)."
    fi
    check_install_log "$log"
    addons_fingerprint >"$LOCAL_DIR/$db.addons"
}

# Our own modules must install without a warning: a warning is a defect we ship.
check_install_log() {
    local log=$1 ours
    ours=$(grep -E ' (WARNING|ERROR|CRITICAL) ' "$log" | grep -E 'logistics_' || true)
    [ -z "$ours" ] || die "the install log has warnings or errors of the suite's own:" \
        "${ours//$'\n'/$'\n'[logistics]   }" "(full log: $log)"
}

# A digest of our addons' files, to know when a database needs an update.
addons_fingerprint() {
    (cd "$REPO_ROOT" && find "${OUR_ADDONS[@]}" -type f ! -name '*.pyc' -print0 | sort -z |
        xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# update_database NAME: bring an existing database up to date with our addons' code.
update_database() {
    local db=$1
    [ "$(cat "$LOCAL_DIR/$db.addons" 2>/dev/null)" = "$(addons_fingerprint)" ] && return
    local log="$LOG_DIR/update-$db.log"
    rm -f "$log"
    say "updating the suite's addons in $db"
    if ! odoo -d "$db" -i "$(join_by , "${OUR_ADDONS[@]}")" -u "$(join_by , "${OUR_ADDONS[@]}")" \
        --stop-after-init --logfile "$log" --log-level info; then
        grep -E ' (ERROR|CRITICAL) ' "$log" | tail -n 20 >&2 || true
        die "updating the suite's addons in $db failed (full log: $log)."
    fi
    check_install_log "$log"
    addons_fingerprint >"$LOCAL_DIR/$db.addons"
}

# --- Ports -------------------------------------------------------------------------------------
check_port_free() {
    local port=$1 variable=$2
    "$PYTHON" - "$port" <<'EOF' ||
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
        die "port $port on 127.0.0.1 is already in use." \
            "Stop what uses it (see 'ss -ltnp | grep :$port'), or choose another port: $variable=<port> $0"
}

# --- Browser for UI tests ----------------------------------------------------------------------
# Without a browser Odoo skips every UI test and still reports success: refuse to start instead.
check_browser() {
    local browser
    for browser in chromium chromium-browser google-chrome; do
        command -v "$browser" >/dev/null 2>&1 && return
    done
    die "no Chromium found: the UI tests need a headless browser." \
        "Install it: 'apt-get update && apt-get install -y chromium' (Debian/Ubuntu)."
}

# --- Prometheus for the metrics tests ----------------------------------------------------------
# The metrics endpoint's tests run Debian's promtool (check rules, check metrics, test rules) and
# a Prometheus server of their own that scrapes the test Odoo: without them they would prove
# nothing, so refuse to start instead.
check_prometheus() {
    local binary
    for binary in prometheus promtool; do
        command -v "$binary" >/dev/null 2>&1 ||
            die "$binary is not installed: the metrics tests run Prometheus and promtool." \
                "Install them: 'apt-get update && apt-get install -y prometheus' (Debian/Ubuntu)." \
                "The tests start their own server on a free port; the package's service (:9090) is not used."
    done
}

# --- Reverse proxy -----------------------------------------------------------------------------
# With HTTP workers, Odoo serves websockets (the web client's live updates) only on its gevent
# port: nginx in front of it sends /websocket there and everything else to the workers.
check_nginx() {
    NGINX=$(command -v nginx || true)
    [ -n "$NGINX" ] || [ ! -x /usr/sbin/nginx ] || NGINX=/usr/sbin/nginx
    [ -n "$NGINX" ] ||
        die "nginx is not installed: Odoo's websocket (live updates) is served through it." \
            "Install it: 'apt-get update && apt-get install -y nginx-light' (Debian/Ubuntu)." \
            "No system service is used: the suite runs its own nginx as your user."
}

# check_proxy_config DIR: nginx's own check of DIR/nginx.conf.
check_proxy_config() {
    local output
    output=$("$NGINX" -t -q -p "$1" -c "$1/nginx.conf" 2>&1) ||
        die "nginx refuses the generated configuration $1/nginx.conf:" "  ${output//$'\n'/ }"
}

# --- Processes ---------------------------------------------------------------------------------
# Every long-running process is started in its own process group, so that stopping the suite
# (Ctrl-C, SIGTERM) can stop each process and all of its children, and nothing is left behind.
STARTED_GROUPS=()

start_process() {
    local name=$1
    shift
    setsid "$@" &
    STARTED_GROUPS+=("$!")
    say "started $name (pid $!)"
    if [ "${#STARTED_GROUPS[@]}" -eq 1 ]; then
        trap stop_processes INT TERM
        trap 'stop_processes; exit' EXIT
    fi
}

stop_processes() {
    trap - INT TERM EXIT
    [ "${#STARTED_GROUPS[@]}" -gt 0 ] || return 0
    say "stopping ${#STARTED_GROUPS[@]} process group(s)"
    local group waited
    for group in "${STARTED_GROUPS[@]}"; do kill -TERM -- "-$group" 2>/dev/null || true; done
    # Odoo shuts down gracefully on SIGTERM; give it a moment, then make sure.
    for waited in $(seq 1 100); do
        local alive=0
        for group in "${STARTED_GROUPS[@]}"; do
            kill -0 -- "-$group" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for group in "${STARTED_GROUPS[@]}"; do kill -KILL -- "-$group" 2>/dev/null || true; done
    STARTED_GROUPS=()
    say "stopped"
    exit 0
}

# Returns when the first started process ends (it should not), then stops the others.
wait_for_processes() {
    local status=0
    wait -n || status=$?
    say "a process of the suite ended (status $status); stopping the others"
    stop_processes
}

# --- The whole preparation ---------------------------------------------------------------------
# prepare_environment HTTP_PORT GEVENT_PORT [write_config's options]
prepare_environment() {
    mkdir -p "$LOG_DIR"
    check_python
    check_postgres
    ensure_odoo_source
    ensure_venv
    write_config "$@"
    ensure_template
}
