#!/usr/bin/env bash
# make ui-test: README's Dagster walkthrough in a real browser (tests/ui/test_ui_screens.py).
# A throwaway INTEL_HOME under .tmp/ui-test gets `intel-assets demo` and `intel-assets parity
# --week` (make gate); `intel-assets ui` then runs on free ports while pytest drives Debian's
# chromium through selenium. Screenshots stay in .tmp/ui-test/shots, the ui's log in
# .tmp/ui-test/ui.log. Needs the LEAN sample data (../shared/data/lean or INTEL_LEAN_DATA_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
WORK="$PWD/.tmp/ui-test"

lean="${INTEL_LEAN_DATA_DIR:-../shared/data/lean}"
if [ ! -d "$lean" ]; then
  echo "error: ui-test replays the LEAN sample week: no LEAN data at $lean (set" \
       "INTEL_LEAN_DATA_DIR to a LEAN Data folder)" >&2
  exit 2
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ui-test: installing Debian's chromium and chromium-driver (apt-get, ~1 min)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -q chromium chromium-driver >/dev/null; }
  else
    echo "error: ui-test needs chromium and chromedriver on PATH: run" \
         "\`sudo apt-get install chromium chromium-driver\`" >&2
    exit 2
  fi
fi

# A home of its own: the developer's .intel is never touched; a previous run's cluster is stopped.
if [ -x "$BIN/intel-assets" ] && [ -d "$WORK/home" ]; then
  INTEL_HOME="$WORK/home" "$BIN/intel-assets" postgres stop >/dev/null 2>&1 || true
fi
rm -rf "$WORK"
mkdir -p "$WORK/shots"
export INTEL_HOME="$WORK/home"
unset INTEL_AS_OF TORGHUT_DB_DSN INTEL_UNIVERSE

echo "ui-test: make demo on $INTEL_HOME"
"$BIN/intel-assets" demo >"$WORK/demo.log" 2>&1 || { tail -20 "$WORK/demo.log"; exit 1; }
echo "ui-test: make gate"
# exit 1 = "evidence incomplete" (phase 2 needs 7 trading days, the sample has 5): expected
"$BIN/intel-assets" parity --week >"$WORK/gate.log" 2>&1 || [ $? -eq 1 ] \
  || { tail -20 "$WORK/gate.log"; exit 1; }

read -r ui_port api_port < <("$BIN/python" -c "
from intel_assets.devtools.http_stub import free_port
print(free_port(), free_port())")
echo "ui-test: intel-assets ui on :$ui_port (serving API :$api_port), log $WORK/ui.log"
INTEL_SERVE_PORT="$api_port" setsid "$BIN/intel-assets" ui --port "$ui_port" >"$WORK/ui.log" 2>&1 &
ui_pid=$!
stop_ui() {  # ui stops its children (each in a process group of its own) on SIGINT/SIGTERM
  kill -INT "$ui_pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$ui_pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$ui_pid" 2>/dev/null; then
    echo "error: intel-assets ui did not stop within 30 s of SIGINT; killing it" >&2
    kill -KILL "$ui_pid" 2>/dev/null || true
    status=1
  fi
  # nothing may outlive the ui: not Dagster (dev, webserver) nor the serving API
  if pgrep -f -- "(-p|--port) $ui_port\b" >/dev/null \
     || curl -fsS "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1; then
    echo "error: intel-assets ui left processes behind:" >&2
    pgrep -af -- "(-p|--port) $ui_port\b" >&2 || true
    status=1
  fi
  "$BIN/intel-assets" postgres stop >/dev/null 2>&1 || true
  exit "${status:-$1}"
}
trap 'stop_ui $?' EXIT

ready=""
for _ in $(seq 1 180); do  # the webserver loads the code location first (~30 s on 2 cores)
  if curl -fsS "http://127.0.0.1:$ui_port/server_info" >/dev/null 2>&1 \
     && curl -fsS "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$ui_pid" 2>/dev/null || break
  sleep 1
done
if [ -z "$ready" ]; then
  echo "error: intel-assets ui did not come up within 180 s; its log:" >&2
  tail -30 "$WORK/ui.log" >&2
  exit 1
fi

INTEL_UI_TEST_URL="http://127.0.0.1:$ui_port" INTEL_UI_TEST_API_URL="http://127.0.0.1:$api_port" \
INTEL_UI_TEST_SHOTS="$WORK/shots" "$BIN/python" -m pytest -p no:cacheprovider tests/ui "$@"
