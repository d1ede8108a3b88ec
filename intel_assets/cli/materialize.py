"""Owns `intel-assets materialize`: the universe (or a contiguous symbol range) refreshed and
published in ONE Dagster run on the embedded instance, then the table of latest bundles."""

from __future__ import annotations

from intel_assets.cli.common import demo_settings, print_summary, summary_rows
from intel_assets.cli.dagster_home import prepare_dagster_home
from intel_assets.settings import Settings, SettingsError


def materialize(settings: Settings, symbols: list[str] | None = None, log_level: str = "WARNING"):
    """Refresh and publish the universe (or a contiguous symbol range) in ONE Dagster run."""
    from dagster import DagsterInstance

    from intel_assets.jobs import REFRESH_JOB
    from intel_assets.definitions import build_definitions
    from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    prepare_dagster_home(settings)
    defs = build_definitions(settings)
    chosen = symbols or list(settings.symbols)
    unknown = [s for s in chosen if s not in settings.symbols]
    if unknown:
        raise SettingsError(f"{unknown} not in the universe {list(settings.symbols)}; set INTEL_UNIVERSE")
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(REFRESH_JOB).execute_in_process(
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: chosen[0], PARTITION_RANGE_END_TAG: chosen[-1]},
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            raise_on_error=False,
        )
    return result


def materialize_cmd(symbols: list[str]) -> int:
    """`intel-assets materialize [SYMBOL ...]`: 0 when the run succeeded, else 1."""
    settings = demo_settings()
    result = materialize(settings, [s.upper() for s in symbols] or None)
    print_summary(summary_rows(settings))
    return 0 if result.success else 1
