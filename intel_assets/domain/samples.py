"""Owns how sample data is recognised and labelled, so no citation is ever fabricated.

Our packaged samples (intel_assets/devtools: sample_news.jsonl, sample_edgar/) are written by
us for the demo and tests. They identify themselves in the data, whichever server serves them:
sample news comes from the source ``sample-wire`` with ``https://example.com/intel-assets-sample/``
URLs; sample EDGAR documents carry the top-level key ``intelAssetsSample: true`` and accession
numbers starting ``SAMPLE-`` (never SEC's ``##########-##-######``). A block built from
sample data is flagged ``sample_data``; its citations use a sample source and example.com URLs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SAMPLE_FLAG = "sample_data"
SAMPLE_NEWS_SOURCE = "sample-wire"
SAMPLE_EDGAR_SOURCE = "sample-edgar"
SAMPLE_SOURCES = frozenset({SAMPLE_NEWS_SOURCE, SAMPLE_EDGAR_SOURCE})
SAMPLE_URL_PREFIX = "https://example.com/intel-assets-sample/"
#: The top-level key that marks one of our sample EDGAR documents.
SAMPLE_MARKER = "intelAssetsSample"


def is_sample_document(document: Any) -> bool:
    """True for one of our sample EDGAR documents (companyfacts or submissions)."""
    return isinstance(document, dict) and document.get(SAMPLE_MARKER) is True


def is_sample_citation(source: str, url: str | None) -> bool:
    """True for a citation of sample data (a sample source or a sample URL)."""
    return source.strip().lower() in SAMPLE_SOURCES or (url or "").startswith(SAMPLE_URL_PREFIX)


def any_sample(citations: Iterable[Any]) -> bool:
    """True when any citation (with ``source`` and ``url`` attributes) is sample data."""
    return any(is_sample_citation(c.source, c.url) for c in citations)


def sample_filing_url(cik: int | str | None, accession: str) -> str:
    """The (non-SEC) URL a sample filing is cited by."""
    return f"{SAMPLE_URL_PREFIX}edgar/{cik if cik is not None else 'unknown'}/{accession}"


__all__ = ["SAMPLE_EDGAR_SOURCE", "SAMPLE_FLAG", "SAMPLE_MARKER", "SAMPLE_NEWS_SOURCE",
           "SAMPLE_SOURCES", "SAMPLE_URL_PREFIX", "any_sample", "is_sample_citation",
           "is_sample_document", "sample_filing_url"]
