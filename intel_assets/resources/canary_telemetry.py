"""Owns CanaryTelemetryResource: where canary_slo scrapes the LEAN route's latency histograms.

``lean_runner_url`` (GET /v1/observability) and ``serving_url`` (GET /metrics of the serving
API Torghut reads context from); either may be None (not deployed here), and then that source
gives no evidence and canary_slo says so. A scrape that fails is a plain-words problem, never a
failed run: the day's record is still written with what was measured.
"""

from datetime import datetime
from typing import Optional

import httpx
from dagster import ConfigurableResource
from pydantic import Field

from intel_assets.contracts.gates import TelemetrySnapshot
from intel_assets.domain.canary_slo import TelemetryError, runner_snapshot, serving_snapshot


class CanaryTelemetryResource(ConfigurableResource):
    """The LEAN runner and serving API that canary_slo scrapes (module docstring)."""

    lean_runner_url: Optional[str] = Field(default=None, description="the canary's LEAN runner "
                                           "(INTEL_LEAN_RUNNER_URL)")
    serving_url: Optional[str] = Field(default=None, description="the serving API Torghut reads "
                                       "(INTEL_SERVING_URL), e.g. http://127.0.0.1:8080")
    timeout_seconds: float = Field(default=5.0, gt=0)

    def scrape(self, now: datetime) -> tuple[list[TelemetrySnapshot], list[str]]:
        """(the snapshots taken at ``now``, a sentence per source that could not be scraped)."""
        snapshots, problems = [], []
        targets = [("LEAN runner", self.lean_runner_url, "/v1/observability", True),
                   ("serving API", self.serving_url, "/metrics", False)]
        for name, base, path, is_json in targets:
            if not base:
                problems.append(f"{name}: no URL configured, not scraped")
                continue
            url = base.rstrip("/") + path
            try:
                answer = httpx.get(url, timeout=self.timeout_seconds)
                answer.raise_for_status()
                snapshots.append(runner_snapshot(answer.json(), url, now) if is_json
                                 else serving_snapshot(answer.text, url, now))
            except (httpx.HTTPError, ValueError) as exc:  # TelemetryError is a ValueError
                reason = str(exc) if isinstance(exc, TelemetryError) else \
                    f"{type(exc).__name__}: {exc}"
                problems.append(f"{name}: scrape of {url} failed ({reason})")
        return snapshots, problems


__all__ = ["CanaryTelemetryResource"]
