"""Owns NewsConfigResource: the news window, sentiment settings and source allow-list."""

from datetime import timedelta

from dagster import ConfigurableResource
from pydantic import Field

from intel_assets.domain.news import DEFAULT_ALLOWED_SOURCES, NewsSettings


class NewsConfigResource(ConfigurableResource):
    """How the news asset reads and aggregates articles (window, decay, sources, neutral band)."""

    window_hours: float = Field(default=24.0, gt=0, description="Articles from the last N hours.")
    half_life_hours: float = Field(default=6.0, gt=0, description="Recency decay half-life.")
    neutral_band: float = Field(default=0.1, ge=0, lt=1, description="|score| <= band is neutral.")
    allowed_sources: list[str] = Field(
        default=list(DEFAULT_ALLOWED_SOURCES),
        description="Sources scored and cited (case-insensitive); others are only counted.",
    )
    limit_per_symbol: int = Field(default=50, ge=1, le=1000)
    top_headlines: int = Field(default=5, ge=0, le=20)
    expected_sources: int = Field(default=3, ge=1, description="Cited articles for full coverage.")

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    def settings(self) -> NewsSettings:
        return NewsSettings(
            half_life_hours=self.half_life_hours, neutral_band=self.neutral_band,
            allowed_sources=tuple(self.allowed_sources), top_headlines=self.top_headlines,
            expected_sources=self.expected_sources,
        )
