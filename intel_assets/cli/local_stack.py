"""Owns the local stack that `demo` and `ui` run on one machine: packaged-sample provider
servers for unconfigured providers, the ui's Dagster + serving processes, and (with
TORGHUT_DB_DSN) the two parity venues the parity runs need: a LEAN runner and the Alpaca paper
server, unless configured; what was or was not started is said in plain words."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from intel_assets.devtools.sample_keys import SAMPLE_ALPACA_KEYS
from pydantic import SecretStr

from intel_assets.settings import Settings, exported_environment, process_environment


def _say(msg: str) -> None:
    print(msg, flush=True)


SAMPLE_EDGAR_USER_AGENT = "intel_assets-demo demo@example.com"


def uses_sample_news(settings: Settings) -> bool:
    """No Alpaca URL and no keys configured: demo and ui serve the packaged sample news."""
    return settings.alpaca_data_url is None and settings.alpaca_api_key_id is None


def uses_sample_edgar(settings: Settings) -> bool:
    """No EDGAR URL and no User-Agent configured: demo and ui serve the packaged sample filings."""
    return settings.edgar_base_url is None and settings.edgar_user_agent is None


@contextmanager
def sample_providers(settings: Settings) -> Iterator[Settings]:
    """Start local Alpaca/EDGAR servers with SAMPLE data for providers left unconfigured."""
    from intel_assets.devtools.alpaca_server import start_alpaca_server
    from intel_assets.devtools.edgar_server import start_edgar_server

    with ExitStack() as stack:
        if uses_sample_news(settings):
            news = stack.enter_context(start_alpaca_server(as_of=settings.as_of))
            stack.enter_context(exported_environment(SAMPLE_ALPACA_KEYS))  # gone after the block
            settings = settings.model_copy(update={  # the sample keys, as the environment now has them
                "alpaca_data_url": news.url,
                "alpaca_api_key_id": SecretStr(SAMPLE_ALPACA_KEYS["ALPACA_API_KEY_ID"]),
                "alpaca_api_secret_key": SecretStr(SAMPLE_ALPACA_KEYS["ALPACA_API_SECRET_KEY"])})
            _say(f"news: local Alpaca-compatible server with SAMPLE news at {news.url} "
                 "(set ALPACA_API_KEY_ID/ALPACA_API_SECRET_KEY for the live API)")
        if uses_sample_edgar(settings):
            edgar = stack.enter_context(start_edgar_server())
            settings = settings.model_copy(update={
                "edgar_base_url": edgar.url, "edgar_tickers_url": edgar.tickers_url,
                "edgar_user_agent": SAMPLE_EDGAR_USER_AGENT})
            _say(f"fundamentals: local EDGAR server with SAMPLE filings at {edgar.url} "
                 "(set INTEL_EDGAR_USER_AGENT for SEC's live API)")
        yield settings


def _free_port() -> int:
    from intel_assets.devtools.http_stub import free_port

    return free_port()


def parity_venues(settings: Settings, env: dict[str, str]
                  ) -> tuple[list[list[str]], dict[str, str], list[str]]:
    """What `ui` starts for parity with TORGHUT_DB_DSN set: (commands, environment for the Dagster
    processes, messages). A venue configured in ``env`` is used as is; without LEAN data neither
    local venue can replay, and the messages say that parity runs will find them unavailable."""
    if not env.get("TORGHUT_DB_DSN", "").strip():
        return [], {}, []
    commands: list[list[str]] = []
    updates: dict[str, str] = {}
    says: list[str] = []
    lean = settings.resolved_lean_dir
    missing = ("no LEAN data (set INTEL_LEAN_DATA_DIR); parity runs will record that side as "
               "unavailable, beside (never replacing) a day's earlier evidence")
    if env.get("INTEL_LEAN_RUNNER_URL", "").strip():
        says.append(f"parity: LEAN side = INTEL_LEAN_RUNNER_URL {env['INTEL_LEAN_RUNNER_URL']} "
                    "(not started here)")
    elif lean is None:
        says.append(f"parity: NOT starting a LEAN runner: {missing}")
    else:
        runner_port = _free_port()
        commands.append([sys.executable, "-m", "intel_assets.cli", "lean-runner", "--port",
                         str(runner_port), "--lean-dir", str(lean)])
        updates["INTEL_LEAN_RUNNER_URL"] = f"http://127.0.0.1:{runner_port}"
        says.append(f"parity: LEAN runner on http://127.0.0.1:{runner_port} (LEAN data {lean})")
    if env.get("INTEL_ALPACA_TRADING_URL", "").strip():
        says.append(f"parity: Alpaca side = INTEL_ALPACA_TRADING_URL "
                    f"{env['INTEL_ALPACA_TRADING_URL']} (not started here)")
    elif settings.alpaca_api_key_id is not None:  # yours, not the sample news server's keys
        says.append("parity: Alpaca side = Alpaca's paper API with your ALPACA_API_KEY_ID (set "
                    "INTEL_ALPACA_TRADING_URL for another)")
    elif lean is None:
        says.append(f"parity: NOT starting the Alpaca paper server: {missing}")
    else:
        paper_port = _free_port()
        commands.append([sys.executable, "-m", "intel_assets.devtools.alpaca_server", "--port",
                         str(paper_port), "--lean-dir", str(lean)])
        updates.update(INTEL_ALPACA_TRADING_URL=f"http://127.0.0.1:{paper_port}",
                       INTEL_ALPACA_REPLAY_CLOCK="1")
        says.append(f"parity: local Alpaca paper server (fills on LEAN quotes, replay clock) on "
                    f"http://127.0.0.1:{paper_port}")
    if settings.as_of is not None:
        says.append(f"parity: automation (parity_on_new_decisions, parity_nightly) starts STOPPED "
                    f"under the replay clock INTEL_AS_OF={settings.as_of.isoformat()}; start it "
                    "in the UI's Automation tab or materialize parity_backtest partitions")
    return commands, updates, says


def run_ui(settings: Settings, port: int, dagster_home: Path) -> int:
    """Dagster webserver + daemon (workspace.yaml) and the serving API, on 127.0.0.1."""
    import importlib.util

    if importlib.util.find_spec("dagster_webserver") is None:  # the `ui` extra, not the base
        print("error: dagster-webserver is not installed: the Dagster UI needs "
              "`pip install 'intel_assets[ui]'`", file=sys.stderr)
        return 2
    env = dict(process_environment())
    env["DAGSTER_HOME"] = str(dagster_home)
    if settings.as_of is not None:
        env["INTEL_AS_OF"] = settings.as_of.isoformat()
    root = Path(__file__).resolve().parents[2]
    extra: list[list[str]] = []
    if uses_sample_news(settings):
        news_port = _free_port()
        env.update(SAMPLE_ALPACA_KEYS, INTEL_ALPACA_DATA_URL=f"http://127.0.0.1:{news_port}")
        extra.append([sys.executable, "-m", "intel_assets.devtools.alpaca_server",
                      "--port", str(news_port)]
                     + (["--as-of", settings.as_of.isoformat()] if settings.as_of else []))
        _say(f"news: SAMPLE Alpaca-compatible server on http://127.0.0.1:{news_port}")
    if uses_sample_edgar(settings):
        edgar_port = _free_port()
        env.update(INTEL_EDGAR_BASE_URL=f"http://127.0.0.1:{edgar_port}",
                   INTEL_EDGAR_TICKERS_URL=f"http://127.0.0.1:{edgar_port}/files/company_tickers.json",
                   INTEL_EDGAR_USER_AGENT=SAMPLE_EDGAR_USER_AGENT)
        extra.append([sys.executable, "-m", "intel_assets.devtools.edgar_server",
                      "--port", str(edgar_port)])
        _say(f"fundamentals: SAMPLE EDGAR server on http://127.0.0.1:{edgar_port}")
    from intel_assets.cli.rollout import DEMO_DB, existing_demo_dsn

    demo_dsn = existing_demo_dsn(settings)  # None when TORGHUT_DB_DSN is set
    if demo_dsn:  # `make gate` ran on this home: show its parity slice and rollout gate
        env["TORGHUT_DB_DSN"] = demo_dsn
        _say(f"parity: Torghut DB = the demo database {DEMO_DB} of the embedded PostgreSQL "
             "(`make gate` made it; set TORGHUT_DB_DSN for Torghut's own)")
    venue_commands, venue_env, venue_notes = parity_venues(settings, env)
    env.update(venue_env)
    extra += venue_commands
    for note in venue_notes:
        _say(note)
    # Started in the background by a script (`intel-assets ui &`), SIGINT arrives ignored and
    # every child would inherit that, so Ctrl-C/kill -INT would stop nothing: handle it here
    # (an exec resets a handled signal to its default in each child).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Each child leads its own process group, so stopping reaches its grandchildren too
    # (dagster dev runs the webserver, the daemon and code servers as further processes).
    procs = [
        subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", str(root / "workspace.yaml"),
                          "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=root,
                         start_new_session=True),
        subprocess.Popen([sys.executable, "-m", "intel_assets.cli", "serve"], env=env, cwd=root,
                         start_new_session=True),
        *(subprocess.Popen(cmd, env=env, cwd=root, start_new_session=True) for cmd in extra),
    ]
    signal.signal(signal.SIGTERM, _interrupt)  # stop both children on SIGTERM as on Ctrl-C
    _say(f"Dagster UI: http://127.0.0.1:{port}   serving API: http://{settings.serve_host}:"
         f"{settings.serve_port}   (Ctrl-C stops both)")
    exited = None
    try:
        while exited is None:
            exited = next((p for p in procs if p.poll() is not None), None)
            time.sleep(0.5)
        print(f"error: {' '.join(exited.args[2:4])} exited with code {exited.returncode}; "
              "stopping the other", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        _stop_groups(procs, grace_seconds=20)
    return 0 if exited is None else (exited.returncode or 1)


def _stop_groups(procs: list[subprocess.Popen], grace_seconds: float) -> None:
    """SIGINT each child's process group, then SIGKILL whatever is left after the grace time."""
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_seconds
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
