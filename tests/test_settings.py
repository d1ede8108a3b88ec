"""Settings from INTEL_* variables: embedded defaults and plain-words errors at the boundary."""

from __future__ import annotations


import pytest

from intel_assets import settings as settings_module
from intel_assets.settings import LEAN_DEMO_UNIVERSE, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("INTEL_HOME", "INTEL_UNIVERSE", "INTEL_CLICKHOUSE_URL", "INTEL_BUNDLE_STORE_DSN",
                 "INTEL_AS_OF", "INTEL_LEAN_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_embedded_defaults_live_under_intel_home(monkeypatch, tmp_path):
    monkeypatch.setenv("INTEL_HOME", str(tmp_path / "state"))
    settings = load_settings()
    assert settings.home == (tmp_path / "state").resolve()
    assert settings.clickhouse_dsn == f"chdb://{tmp_path.resolve() / 'state' / 'clickhouse'}"
    socket = str(tmp_path.resolve() / "state" / "postgres").replace("/", "%2F")
    assert settings.store_dsn == f"postgresql://postgres@/intel?host={socket}&port=5432"
    assert settings.embedded_store  # the embedded PostgreSQL cluster under INTEL_HOME
    assert settings.dagster_home == (tmp_path / "state" / "dagster").resolve()
    assert settings.as_of is None
    monkeypatch.setenv("INTEL_EMBEDDED_POSTGRES", "false")  # SQLite stays available
    sqlite = load_settings()
    assert sqlite.store_dsn == f"sqlite:///{tmp_path.resolve() / 'state' / 'bundles.sqlite3'}"
    assert not sqlite.embedded_store


def test_universe_is_upper_cased_and_servers_are_taken_from_env(monkeypatch):
    monkeypatch.setenv("INTEL_UNIVERSE", " spy, brk.b ,ibm")
    monkeypatch.setenv("INTEL_CLICKHOUSE_URL", "https://reader:pw@ch.example:8443")
    monkeypatch.setenv("INTEL_BUNDLE_STORE_DSN", "postgresql://intel@db:5432/intel")
    monkeypatch.setenv("INTEL_AS_OF", "2013-10-11T15:59:00-04:00")
    settings = load_settings()
    assert settings.symbols == ("SPY", "BRK.B", "IBM")
    assert settings.clickhouse_dsn == "https://reader:pw@ch.example:8443"
    assert settings.store_dsn == "postgresql://intel@db:5432/intel"
    assert settings.as_of.utcoffset().total_seconds() == -4 * 3600


def test_default_universe_follows_the_data_source(monkeypatch, tmp_path, lean_dir):
    assert load_settings(lean_data_dir=lean_dir).symbols == LEAN_DEMO_UNIVERSE
    monkeypatch.setattr(settings_module, "_SHARED_LEAN", tmp_path / "absent")
    synthetic = load_settings(synthetic_symbols=3)
    assert synthetic.resolved_lean_dir is None
    assert synthetic.symbols == ("SYN000", "SYN001", "SYN002")


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("INTEL_UNIVERSE", "SPY,1BM", "must match ^[A-Z][A-Z0-9.-]{0,14}$"),
        ("INTEL_UNIVERSE", "SPY,spy", "list each symbol once"),
        ("INTEL_CLICKHOUSE_URL", "tcp://ch:9000", "must start with http://, https://"),
        ("INTEL_BUNDLE_STORE_DSN", "mysql://x@y/z", "must be postgresql://"),
        ("INTEL_AS_OF", "2013-10-11T15:59:00", "INTEL_AS_OF"),
        ("INTEL_LOOKBACK_DAYS", "0", "INTEL_LOOKBACK_DAYS"),
    ],
)
def test_bad_values_fail_naming_the_variable(monkeypatch, variable, value, says):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert variable in str(err.value)
    assert says in str(err.value)


def test_lean_dir_without_minute_data_is_refused(tmp_path):
    settings = load_settings(lean_data_dir=tmp_path)
    with pytest.raises(SettingsError, match="no equity/usa/minute folder"):
        settings.resolved_lean_dir


@pytest.mark.parametrize("value", ["30", "59.9", "inf", "nan", "1e12", "-5"])
def test_freshness_budgets_dagster_cannot_take_are_refused_at_start(monkeypatch, value):
    """Issue 12, finding 8: INTEL_TECHNICALS_BUDGET_SECONDS=30 or inf used to pass and then stop
    the code location loading (Dagster's freshness windows start at 1 minute; inf overflows)."""
    monkeypatch.setenv("INTEL_TECHNICALS_BUDGET_SECONDS", value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    assert "INTEL_TECHNICALS_BUDGET_SECONDS" in text and "from 60" in text
    assert "Value error" not in text
    monkeypatch.setenv("INTEL_TECHNICALS_BUDGET_SECONDS", "60")
    assert load_settings().technicals_budget_seconds == 60


@pytest.mark.parametrize("value", ["4.9", "61", "inf", "nan", "-5"])
def test_a_refresh_age_outside_5_s_to_the_budget_is_refused_at_start(monkeypatch, value):
    """INTEL_TECHNICALS_REFRESH_SECONDS: below the daemon's 5-s sensor loop, or past the
    technicals budget (a refresh would come after the context is already stale), is one line
    naming the variable and its range; 5 and the budget itself pass here (whether it fits the
    cadence is checked when the definitions are built: tests/test_refresh_loop.py)."""
    monkeypatch.setenv("INTEL_TECHNICALS_REFRESH_SECONDS", value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    assert "INTEL_TECHNICALS_REFRESH_SECONDS must be from 5 to the technicals budget (60 s)" in text
    assert "Value error" not in text and "\n" not in text
    monkeypatch.delenv("INTEL_TECHNICALS_REFRESH_SECONDS")
    assert load_settings().technicals_refresh_seconds is None  # derived from the budget
    monkeypatch.setenv("INTEL_TECHNICALS_REFRESH_SECONDS", "60")
    assert load_settings().technicals_refresh_seconds == 60.0
