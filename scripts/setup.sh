#!/usr/bin/env bash
# One idempotent setup step for a fresh machine (called by `make setup`, `make test`, `make demo`):
#   1. a virtualenv in .venv with pitstop and its pinned dependencies (requirements.lock),
#   2. Java >= 17 checked,
#   3. the Delta Lake jars resolved from Maven Central and cached (~/.cache/pitstop),
#   4. a reachable Redis: PITSTOP_ONLINE_STORE_URL or pitstop.yaml's online_store.url; for a loopback
#      URL that does not answer, Debian's redis-server is installed if missing and a private one started,
#   5. the warm engine: a local Spark Connect server for this repository that its commands connect to instead
#      of each starting Spark (`pitstop engine stop` or `make stop` stops it; PITSTOP_ENGINE=local skips it).
# A second run checks and skips: it takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${PITSTOP_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# 1. Python and the virtualenv -------------------------------------------------------------------
command -v "$PYTHON" >/dev/null || die "no $PYTHON: install Python 3.11+ (Debian: apt-get install python3 python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "pitstop needs Python 3.11+, $PYTHON is $("$PYTHON" -V 2>&1); set PYTHON=/path/to/python3.11"
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  say "$VENV is incomplete (an earlier venv creation failed): recreating it"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a virtualenv (Debian: apt-get install python3-venv)"
fi
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
stamp="$VENV/.pitstop-installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned packages (requirements.lock) into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv>=0.5,<1"
  VIRTUAL_ENV=$VENV "$VENV/bin/uv" pip install -q -r requirements.lock
  VIRTUAL_ENV=$VENV "$VENV/bin/uv" pip install -q --no-deps -e .
  echo "$want" > "$stamp"
else
  say "python packages up to date"
fi
# Bytecode, once: with PYTHONDONTWRITEBYTECODE set (as on some CI machines) and no .pyc installed, every Python
# process (each command, Airflow task, Spark Python worker) compiles pandas, pyarrow, pyspark ... from source
# again: seconds per process. Python reads .pyc files even when told not to write them.
if [ "$(cat "$VENV/.pitstop-compiled" 2>/dev/null)" != "$want" ]; then
  say "compiling the installed packages' bytecode (once, about a minute)"
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  PYTHONDONTWRITEBYTECODE= "$VENV/bin/python" -m compileall -q -j 0 "$site" >/dev/null 2>&1 || true
  echo "$want" > "$VENV/.pitstop-compiled"
fi
export PATH="$VENV/bin:$PATH"

# 2. Java ------------------------------------------------------------------------------------------
# one check, shared with the runtime (pitstop.stores.spark.check_java): JAVA_HOME's java first, then PATH's
pitstop --repo "$ROOT" doctor --only java | sed 's/^/[setup] /' || die "fix Java as the line above says"

# 3. Delta Lake jars -------------------------------------------------------------------------------
pitstop jars | sed 's/^/[setup] /'

# 4. Redis -----------------------------------------------------------------------------------------
online_host=$(python -c 'from urllib.parse import urlsplit; from pitstop.config import load_config; print(urlsplit(load_config().online_store_url).hostname or "")' 2>/dev/null || true)
if ! command -v redis-server >/dev/null && [ -z "${PITSTOP_ONLINE_STORE_URL:-}" ] \
   && { [ "$online_host" = "127.0.0.1" ] || [ "$online_host" = "localhost" ] || [ "$online_host" = "::1" ]; }; then
  say "installing Debian's redis-server"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  command -v apt-get >/dev/null || die "redis-server is missing and there is no apt-get: install Redis 7 yourself or set PITSTOP_ONLINE_STORE_URL"
  $SUDO apt-get update -qq >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null \
    || die "could not install redis-server; install Redis 7 yourself or set PITSTOP_ONLINE_STORE_URL"
  # Debian's package starts a system service on 6379; pitstop runs its own private instances
  ($SUDO systemctl disable --now redis-server >/dev/null 2>&1 || $SUDO service redis-server stop >/dev/null 2>&1 || true)
fi
python -m pitstop.stores.local_redis ensure --repo "$ROOT" | sed 's/^/[setup] /'

# 5. The warm engine -------------------------------------------------------------------------------
if [ "${PITSTOP_ENGINE:-}" != "local" ]; then
  pitstop --repo "$ROOT" engine start | sed 's/^/[setup] /'
fi
say "ready"
