"""Owns the local stack that `demo` and `ui` run on one machine: packaged-sample provider
servers for unconfigured providers, and the ui's Dagster + serving processes."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from intel_assets.settings import Settings


def _say(msg: str) -> None:
    print(msg, flush=True)


SAMPLE_ALPACA_KEYS = {"ALPACA_API_KEY_ID": "sample-key-id", "ALPACA_API_SECRET_KEY": "sample-secret"}
SAMPLE_EDGAR_USER_AGENT = "intel_assets-demo demo@example.com"


def uses_sample_news(settings: Settings) -> bool:
    """No Alpaca URL and no keys configured: demo and ui serve the packaged sample news."""
    return settings.alpaca_data_url is None and not os.environ.get("ALPACA_API_KEY_ID")


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
            os.environ.update(SAMPLE_ALPACA_KEYS)
            settings = settings.model_copy(update={"alpaca_data_url": news.url})
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
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_ui(settings: Settings, port: int, dagster_home: Path) -> int:
    """Dagster webserver + daemon (workspace.yaml) and the serving API, on 127.0.0.1."""
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(dagster_home)
    if settings.as_of is not None:
        env["INTEL_AS_OF"] = settings.as_of.isoformat()
    root = Path(__file__).resolve().parent.parent
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
