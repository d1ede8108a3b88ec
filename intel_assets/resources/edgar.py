"""Owns SEC EDGAR access: a polite HTTP client (User-Agent, <= 10 req/s, ETag cache) and its Dagster resource.

SEC's fair-access rules: every request must carry a descriptive User-Agent with a contact
email, and a client may send at most 10 requests per second. EdgarClient enforces both (it
refuses to start without such a User-Agent and spaces requests at least 1/rate seconds apart,
across threads). Documents are cached on disk (body + ETag/Last-Modified) and re-validated with
If-None-Match / If-Modified-Since; a 304 answer is served from the cache. Every failure is an
EdgarError with a plain message: unknown ticker, HTTP status, unreachable host, malformed JSON.
"""


import hashlib
import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

DEFAULT_BASE_URL = "https://data.sec.gov"
DEFAULT_TICKERS_URL = "https://www.sec.gov/files/company_tickers.json"
SEC_MAX_REQUESTS_PER_SECOND = 10.0
_USER_AGENT_RULE = re.compile(r"^\s*\S.*\s+[^@\s]+@[^@\s]+\.[A-Za-z]{2,}\s*$")


class EdgarError(RuntimeError):
    """Any EDGAR failure; the message says what went wrong in plain words."""


class EdgarConfigError(EdgarError):
    """The client is configured in a way SEC would refuse (e.g. no contact User-Agent)."""


class EdgarUnknownTickerError(EdgarError):
    """The ticker is not in SEC's company_tickers.json."""


class EdgarNotFoundError(EdgarError):
    """EDGAR answered 404: no such document (e.g. an ETF has no XBRL companyfacts)."""


class EdgarHTTPError(EdgarError):
    """EDGAR answered with an unexpected HTTP status (or could not be reached: status None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EdgarMalformedError(EdgarError):
    """EDGAR answered 200 with a body that is not the JSON document expected."""


def check_user_agent(user_agent: str | None) -> str:
    """The User-Agent if it names someone and a contact email; else EdgarConfigError."""
    if not user_agent or not _USER_AGENT_RULE.match(user_agent):
        raise EdgarConfigError(
            f"SEC requires a descriptive User-Agent with a contact email, e.g. "
            f"'Acme Research ops@acme.example'; got {user_agent!r}. Set INTEL_EDGAR_USER_AGENT "
            f"(EdgarResource.user_agent) to '<your name or company> <contact email>'."
        )
    return user_agent.strip()


def cik10(cik: int | str) -> str:
    """The 10-digit zero-padded CIK EDGAR uses in file names."""
    return f"{int(cik):010d}"


class RateLimiter:
    """At most `rate` acquisitions per second, spaced >= 1/rate apart; safe across threads."""

    def __init__(self, rate: float) -> None:
        if not 0 < rate <= SEC_MAX_REQUESTS_PER_SECOND:
            raise EdgarConfigError(
                f"EDGAR request rate must be > 0 and <= {SEC_MAX_REQUESTS_PER_SECOND:g}/s "
                f"(SEC fair-access limit); got {rate}"
            )
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:  # reserve a slot, then sleep outside the lock
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class _DiskCache:
    """One body file and one metadata file (ETag, Last-Modified, URL) per URL; atomic writes."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EdgarConfigError(f"cannot create the EDGAR cache folder {folder}: {exc}") from None

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode()).hexdigest()[:32]
        assert self.folder is not None
        return self.folder / f"{key}.body", self.folder / f"{key}.meta.json"

    def get(self, url: str) -> tuple[dict, bytes] | None:
        if self.folder is None:
            return None
        body_path, meta_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text())
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if meta.get("url") != url or meta.get("sha256") != hashlib.sha256(body).hexdigest():
            return None  # torn or foreign entry: fetch afresh
        return meta, body

    def put(self, url: str, body: bytes, etag: str | None, last_modified: str | None) -> None:
        if self.folder is None:
            return
        body_path, meta_path = self._paths(url)
        meta = {"url": url, "etag": etag, "lastModified": last_modified,
                "sha256": hashlib.sha256(body).hexdigest(), "storedAt": time.time()}
        for path, data in ((body_path, body), (meta_path, json.dumps(meta).encode())):
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)


class EdgarClient:
    """EDGAR JSON documents over HTTP with SEC's User-Agent and rate rules and an ETag cache."""

    def __init__(
        self,
        user_agent: str,
        base_url: str = DEFAULT_BASE_URL,
        tickers_url: str = DEFAULT_TICKERS_URL,
        cache_dir: str | Path | None = None,
        timeout_seconds: float = 20.0,
        max_requests_per_second: float = SEC_MAX_REQUESTS_PER_SECOND,
    ) -> None:
        self.user_agent = check_user_agent(user_agent)
        self.base_url = base_url.rstrip("/")
        self.tickers_url = tickers_url
        self.limiter = RateLimiter(max_requests_per_second)
        self.cache = _DiskCache(Path(cache_dir).expanduser() if cache_dir else None)
        self.stats = {"requests": 0, "notModified": 0}
        self._stats_lock = threading.Lock()
        self._tickers: dict[str, int] | None = None
        self._http = httpx.Client(
            timeout=timeout_seconds,
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate",
                     "Accept": "application/json"},
            follow_redirects=True,
        )

    # ---- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "EdgarClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- documents --------------------------------------------------------------------------
    def get_json(self, url: str) -> Any:
        """GET a JSON document: conditional when cached, 304 -> cached body; EdgarError else."""
        cached = self.cache.get(url)
        headers: dict[str, str] = {}
        if cached is not None:
            meta = cached[0]
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("lastModified"):
                headers["If-Modified-Since"] = meta["lastModified"]
        self.limiter.acquire()
        try:
            response = self._http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise EdgarHTTPError(f"cannot reach EDGAR at {url}: {type(exc).__name__}: {exc}") from None
        with self._stats_lock:
            self.stats["requests"] += 1
            if response.status_code == 304:
                self.stats["notModified"] += 1
        if response.status_code == 304 and cached is not None:
            return self._parse(url, cached[1])
        if response.status_code == 404:
            raise EdgarNotFoundError(f"EDGAR has no document at {url} (HTTP 404)")
        if response.status_code == 403:
            raise EdgarHTTPError(
                f"EDGAR refused {url} (HTTP 403): SEC blocks clients without a descriptive "
                f"User-Agent or above 10 requests/s; check INTEL_EDGAR_USER_AGENT", 403)
        if response.status_code != 200:
            raise EdgarHTTPError(f"EDGAR answered HTTP {response.status_code} for {url}",
                                 response.status_code)
        body = response.content
        document = self._parse(url, body)  # never cache a body that does not parse
        self.cache.put(url, body, response.headers.get("ETag"), response.headers.get("Last-Modified"))
        return document

    @staticmethod
    def _parse(url: str, body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EdgarMalformedError(f"EDGAR document {url} is not valid JSON: {exc}") from None

    def tickers(self) -> dict[str, int]:
        """Ticker -> CIK from company_tickers.json (fetched once per client)."""
        if self._tickers is None:
            doc = self.get_json(self.tickers_url)
            rows = doc.values() if isinstance(doc, dict) else None
            try:
                self._tickers = {str(r["ticker"]).upper(): int(r["cik_str"]) for r in rows}  # type: ignore[union-attr]
            except (TypeError, KeyError, ValueError):
                raise EdgarMalformedError(
                    f"{self.tickers_url} is not SEC's company_tickers.json shape "
                    "({'0': {'cik_str': ..., 'ticker': ..., 'title': ...}, ...})") from None
        return self._tickers

    def cik_for(self, ticker: str) -> int:
        """The CIK of a ticker (BRK.B and BRK-B both work); EdgarUnknownTickerError if absent."""
        key = ticker.strip().upper().replace(".", "-").replace("/", "-")
        cik = self.tickers().get(key)
        if cik is None:
            raise EdgarUnknownTickerError(
                f"ticker {ticker!r} is not in SEC company_tickers.json ({self.tickers_url})")
        return cik

    def companyfacts(self, cik: int | str) -> dict:
        """The XBRL companyfacts document of a CIK (all reported facts, every filing)."""
        return self._document(f"{self.base_url}/api/xbrl/companyfacts/CIK{cik10(cik)}.json")

    def submissions(self, cik: int | str) -> dict:
        """The submissions document of a CIK (company profile and recent filings)."""
        return self._document(f"{self.base_url}/submissions/CIK{cik10(cik)}.json")

    def _document(self, url: str) -> dict:
        doc = self.get_json(url)
        if not isinstance(doc, dict):
            raise EdgarMalformedError(f"EDGAR document {url} is JSON but not an object")
        return doc


class EdgarResource(ConfigurableResource):
    """SEC EDGAR client settings; `client()` gives the (lazily built, per-run) EdgarClient."""

    base_url: str = Field(default=DEFAULT_BASE_URL, description="data.sec.gov or a local mirror.")
    tickers_url: str = Field(default=DEFAULT_TICKERS_URL, description="company_tickers.json URL.")
    user_agent: str = Field(description="'<name or company> <contact email>' as SEC requires.")
    cache_dir: str | None = Field(default=None, description="On-disk ETag cache; None = no cache.")
    timeout_seconds: float = Field(default=20.0, gt=0)
    max_requests_per_second: float = Field(default=SEC_MAX_REQUESTS_PER_SECOND, gt=0,
                                           le=SEC_MAX_REQUESTS_PER_SECOND)
    _client: EdgarClient | None = PrivateAttr(default=None)

    def client(self) -> EdgarClient:
        """The client; raises EdgarConfigError (plain message) on an unusable configuration."""
        if self._client is None:
            self._client = EdgarClient(
                user_agent=self.user_agent, base_url=self.base_url, tickers_url=self.tickers_url,
                cache_dir=self.cache_dir, timeout_seconds=self.timeout_seconds,
                max_requests_per_second=self.max_requests_per_second,
            )
        return self._client

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
