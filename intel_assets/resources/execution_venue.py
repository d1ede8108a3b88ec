"""Owns ExecutionVenueResource: an execution venue slot (LEAN runner or Alpaca over HTTP, each an
ExecutionAdapter) and the LEAN market tape that arrival mids and decision checks read.

``kind="lean"`` wraps LeanAdapter (INTEL_LEAN_RUNNER_URL); ``kind="alpaca"`` wraps AlpacaAdapter
(alpaca-py TradingClient; ``base_url`` is its url_override, e.g. the local paper server). With
``replay_clock=True`` (only the devtools paper server has that endpoint) the adapter sets the
server's clock to each new intent's decision time before submitting it. Each venue's ``finish``
moves its clock to the replay horizon (the New York midnight after the day) before the orders'
final states are read: the paper server when ``replay_clock``, the LEAN runner when it runs on
a replay clock (``GET /v1/clock``; LeanAdapter already moves it to each decision time). A venue
on a live clock is read as it is.
"""

from datetime import datetime

from dagster import ConfigurableResource
from pydantic import Field, field_validator

from intel_assets.execution.adapter import ExecutionAdapter
from intel_assets.execution.parity_replay import UnavailableAdapter, Venue, day_end

VENUE_KINDS = ("lean", "alpaca")


class ExecutionVenueResource(ConfigurableResource):
    """One venue slot of the parity replay: which adapter, where, and whether to drive its clock."""

    kind: str = Field(description="'lean' (LEAN runner) or 'alpaca' (alpaca-py TradingClient)")
    base_url: str = Field(description="runner URL, or Alpaca's url_override (paper server)")
    api_key_id: str | None = Field(default=None, description="Alpaca key id (EnvVar)")
    api_secret_key: str | None = Field(default=None, description="Alpaca secret (EnvVar)")
    replay_clock: bool = Field(default=False, description="set the devtools paper server's clock "
                               "to each decision time before submitting")
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in VENUE_KINDS:
            raise ValueError(f"kind must be one of {VENUE_KINDS}, not {value!r}")
        return value

    def adapter(self) -> ExecutionAdapter:
        """A new adapter for this venue (close it when done, if it has close())."""
        if self.kind == "lean":
            from intel_assets.execution.lean_adapter import LeanAdapter

            return LeanAdapter(self.base_url, timeout=self.timeout_seconds)
        from intel_assets.execution.alpaca_adapter import AlpacaAdapter

        key, secret = self.api_key_id, self.api_secret_key
        if self.replay_clock and not (key and secret):  # the devtools server takes any pair
            key, secret = key or "replay-key", secret or "replay-secret"
        return AlpacaAdapter(key or "", secret or "", base_url=self.base_url, paper=True,
                             timeout=self.timeout_seconds, replay_clock=self.replay_clock)

    def describe(self) -> str:
        """What answers in this slot (kind, URL, replay clock): the report's venue label."""
        clock = ", replay clock" if self.replay_clock else ""
        return f"{self.kind} at {self.base_url}{clock}"

    def venue(self) -> Venue:
        """The replay Venue; a venue that cannot even be set up is an unavailable one."""
        try:
            adapter = self.adapter()
        except Exception as exc:  # noqa: BLE001 - e.g. missing credentials: report, not crash
            return Venue(UnavailableAdapter(f"{type(exc).__name__}: {exc}"), self.describe())
        return Venue(adapter=adapter, description=self.describe(),
                     finish=self._finisher(adapter))

    def _finisher(self, adapter: ExecutionAdapter):
        """The hook that moves this venue's clock to the replay horizon (True), or says it
        cannot (False: a live clock)."""
        clock = getattr(adapter, "set_replay_clock", None)
        if self.kind == "lean":
            def finish(horizon: datetime) -> bool:
                if not getattr(adapter, "replay_clock", False):  # asks the runner's /v1/clock
                    return False
                clock(horizon)  # type: ignore[misc]
                return True
            return finish
        if self.replay_clock and callable(clock):
            def finish_paper(horizon: datetime) -> bool:
                clock(horizon)
                return True
            return finish_paper
        return None


__all__ = ["ExecutionVenueResource", "VENUE_KINDS", "day_end"]
