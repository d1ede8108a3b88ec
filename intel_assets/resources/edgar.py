"""Owns EdgarResource: the SEC EDGAR client (providers/edgar.py) with its bounds, per run."""

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from intel_assets.providers.edgar import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_SECONDS_PER_RUN,
    DEFAULT_TICKERS_URL,
    SEC_MAX_REQUESTS_PER_SECOND,
    EdgarClient,
)


class EdgarResource(ConfigurableResource):
    """SEC EDGAR client settings; `client()` gives the (lazily built, per-run) EdgarClient."""

    base_url: str = Field(default=DEFAULT_BASE_URL, description="data.sec.gov or a local mirror.")
    tickers_url: str = Field(default=DEFAULT_TICKERS_URL, description="company_tickers.json URL.")
    user_agent: str = Field(description="'<name or company> <contact email>' as SEC requires.")
    cache_dir: str | None = Field(default=None, description="On-disk ETag cache; None = no cache.")
    timeout_seconds: float = Field(default=20.0, gt=0, allow_inf_nan=False,
                                   description="Wall-clock bound per request (connect to last "
                                   "body byte), not per socket read.")
    max_requests_per_second: float = Field(default=SEC_MAX_REQUESTS_PER_SECOND, gt=0,
                                           le=SEC_MAX_REQUESTS_PER_SECOND)
    max_seconds_per_run: float = Field(
        default=DEFAULT_MAX_SECONDS_PER_RUN, gt=0, allow_inf_nan=False,
        description="Wall-clock budget of all EDGAR requests in a run; symbols reached after it "
        "get a fundamentals error without a request.")
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024,
                                description="Largest EDGAR body read (streamed and refused past it).")
    max_consecutive_failures: int = Field(
        default=3, ge=1,
        description="Circuit breaker: after this many failed requests in a row the run sends no "
        "more to EDGAR.")
    _client: EdgarClient | None = PrivateAttr(default=None)

    def client(self) -> EdgarClient:
        """The client; raises EdgarConfigError (plain message) on an unusable configuration."""
        if self._client is None:
            self._client = EdgarClient(
                user_agent=self.user_agent, base_url=self.base_url, tickers_url=self.tickers_url,
                cache_dir=self.cache_dir, timeout_seconds=self.timeout_seconds,
                max_requests_per_second=self.max_requests_per_second,
                max_seconds_per_run=self.max_seconds_per_run, max_body_bytes=self.max_body_bytes,
                max_consecutive_failures=self.max_consecutive_failures,
            )
        return self._client

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
