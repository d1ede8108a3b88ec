"""Owns point-in-time fundamentals from SEC companyfacts/submissions: TTM metrics, balance items, next filing.

Rules (pure functions, no Dagster, no I/O):
- Point in time: only facts with `filed` <= the as-of date (New York calendar: EDGAR dates are
  Eastern, date-only, so a filing of the as-of day counts as known that day).
- Dedup: one value per (start, end), from the latest filing <= as-of (restatements win,
  comparatives repeated in later filings count once).
- Periods come from start/end, never fy/fp (those describe the filing): 80-100 days = quarter,
  170-195 half, 260-285 nine months, 350-380 year; no start = balance (instant).
- Discrete quarters: reported, else cumulative minus same-start cumulative one quarter shorter
  (Q4 = FY - 9M, Q3 = 9M - H1, Q2 = H1 - Q1), else FY minus its three quarters.
- TTM = sum of the latest 4 contiguous quarters; annual-only filers (20-F), or an annual ending
  after every quarter, use the annual value. TTM diluted EPS sums quarterly EPS (approximation).
- revenueGrowthYoY = TTM / TTM one year earlier (+-10 days) - 1; quarterRevenueGrowthYoY =
  latest quarter / same quarter a year earlier - 1. Margins = TTM GrossProfit, OperatingIncomeLoss,
  NetIncomeLoss over TTM revenue (same window).
- Concepts: CONCEPTS lists candidates in order; the one with the latest period end wins (ties:
  order); `conceptsUsed` reports it. Balances: latest instant, ignored when > 100 days before the
  TTM end; debt = LongTermDebt (incl. current portion) else noncurrent + current at that date.
- deltas = values now minus values as of the day before the latest filing.
- nextExpectedFiling: latest 10-Q/10-K/20-F/40-F (submissions, else companyfacts) -> period end
  +3 months (+12 for 20-F/40-F), 10-K when that is the fiscal year end; date = period end +
  median_low of the filer's last 3 lags for that form, else SEC deadlines (10-K 60/75/90 days for
  large accelerated/accelerated/other, 10-Q 40/40/45, 20-F 120).
- Citations: the filings feeding the payload; publishedAt = filed date 00:00 New York. Only
  documents of SEC provenance (``FilingProvenance``: fetched from SEC's API, or real SEC
  downloads read from disk) are cited as ``SEC EDGAR <form>`` with the sec.gov filing index
  URL. Our sample documents cite ``sample-edgar`` with example.com URLs and are flagged
  ``sample_data``; documents from anywhere else are counted (``uncitedFilings``), not cited,
  and flagged ``fundamentals_unverified_source``.
- Freshness: asOf = fetch time (the clock); budget = policy (24 h), cut to the time left until the
  expected filing (00:00 New York) when sooner and >= 1 s; overdue -> fundamentals_filing_overdue.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from intel_assets.contracts.bundle import Citation, DomainBlock
from intel_assets.domain.quality import error_block, missing_block, observed_block
from intel_assets.domain.samples import (
    SAMPLE_EDGAR_SOURCE,
    SAMPLE_FLAG,
    is_sample_document,
    sample_filing_url,
)

NY = ZoneInfo("America/New_York")
DOMAIN = "fundamentals"
PERIODIC_FORMS = ("10-Q", "10-K", "20-F", "40-F")
_KINDS = (("quarter", 80, 100), ("half", 170, 195), ("nine", 260, 285), ("annual", 350, 380))
#: metric -> candidate concepts, in order (the one with the latest period end wins; ties: order).
CONCEPTS: dict[str, tuple[tuple[str, str], ...]] = {metric: tuple(tuple(c.split(":")) for c in names.split())
                                                    for metric, names in {
    "revenue": "us-gaap:Revenues us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax us-gaap:SalesRevenueNet "
               "us-gaap:RevenueFromContractWithCustomerIncludingAssessedTax us-gaap:SalesRevenueGoodsNet "
               "us-gaap:SalesRevenueServicesNet ifrs-full:Revenue ifrs-full:RevenueFromContractsWithCustomers",
    "netIncome": "us-gaap:NetIncomeLoss us-gaap:ProfitLoss ifrs-full:ProfitLossAttributableToOwnersOfParent "
                 "ifrs-full:ProfitLoss",
    "grossProfit": "us-gaap:GrossProfit ifrs-full:GrossProfit",
    "operatingIncome": "us-gaap:OperatingIncomeLoss ifrs-full:ProfitLossFromOperatingActivities",
    "epsDiluted": "us-gaap:EarningsPerShareDiluted ifrs-full:DilutedEarningsLossPerShare",
    "sharesOutstanding": "dei:EntityCommonStockSharesOutstanding us-gaap:CommonStockSharesOutstanding",
    "equity": "us-gaap:StockholdersEquity "
              "us-gaap:StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest "
              "ifrs-full:EquityAttributableToOwnersOfParent ifrs-full:Equity",
    "cash": "us-gaap:CashAndCashEquivalentsAtCarryingValue ifrs-full:CashAndCashEquivalents",
    "debtTotal": "us-gaap:LongTermDebt ifrs-full:Borrowings",
    "debtNoncurrent": "us-gaap:LongTermDebtNoncurrent us-gaap:ConvertibleDebtNoncurrent us-gaap:LongTermNotesPayable "
                      "ifrs-full:LongtermBorrowings",
    "debtCurrent": "us-gaap:LongTermDebtCurrent us-gaap:ConvertibleDebtCurrent "
                   "ifrs-full:CurrentPortionOfLongtermBorrowings",
}.items()}
FLOWS = ("revenue", "netIncome", "grossProfit", "operatingIncome", "epsDiluted")
CORE = ("ttmRevenue", "ttmNetIncome", "revenueGrowthYoY", "grossMargin", "operatingMargin", "netMargin",
        "ttmEpsDiluted", "sharesOutstanding", "debt", "equity", "cash", "nextExpectedFiling")
DELTA_KEYS = CORE[:-1]


class MalformedFactsError(ValueError):
    """The companyfacts document does not have the shape EDGAR publishes."""


@dataclass(frozen=True)
class Fact:
    concept: str
    start: date | None
    end: date
    val: float
    accn: str
    form: str
    filed: date

    @property
    def kind(self) -> str:
        if self.start is None:
            return "instant"
        days = (self.end - self.start).days + 1
        return next((k for k, lo, hi in _KINDS if lo <= days <= hi), "other")


@dataclass(frozen=True)
class Period:
    """A discrete period value and the facts it came from (several when derived)."""

    start: date | None
    end: date
    val: float
    facts: tuple[Fact, ...]


@dataclass(frozen=True)
class Filing:
    form: str
    accession: str
    filed: date
    period_end: date | None

    def wire(self) -> dict[str, Any]:
        return {"form": self.form, "accession": self.accession, "filed": self.filed.isoformat(),
                "periodEnd": self.period_end.isoformat() if self.period_end else None}


def ny_date(moment: datetime) -> date:
    return moment.astimezone(NY).date()


def _num(value: float | None, digits: int | None = None) -> float | int | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits) if digits is not None else int(value) if float(value).is_integer() else round(value, 6)


# ---- facts -----------------------------------------------------------------------------------
def _pick_unit(units: dict, concept: str) -> list | None:
    per_share, shares = "PerShare" in concept, "Shares" in concept
    wanted = [u for u in units if (u.endswith("/shares") if per_share else u == "shares" if shares
                                   else len(u) == 3 and u.isupper())]
    wanted.sort(key=lambda u: (not u.startswith("USD"), -len(units[u]), u))  # USD first
    return units[wanted[0]] if wanted else None


def raw_facts(companyfacts: Any, taxonomy: str, concept: str, as_of: date) -> list[Fact]:
    """Every fact of one concept filed on or before as_of (repeats included)."""
    root = companyfacts.get("facts") if isinstance(companyfacts, dict) else None
    if not isinstance(root, dict) or not all(isinstance(v, dict) for v in root.values()):
        raise MalformedFactsError("companyfacts has no 'facts' object of taxonomies")
    node = root.get(taxonomy, {}).get(concept)
    rows = _pick_unit(node.get("units") or {}, concept) if isinstance(node, dict) else None
    out: list[Fact] = []
    for row in rows or []:
        try:
            filed = date.fromisoformat(row["filed"])
            if filed > as_of or row.get("val") is None:
                continue
            out.append(Fact(f"{taxonomy}:{concept}",
                            date.fromisoformat(row["start"]) if row.get("start") else None,
                            date.fromisoformat(row["end"]), float(row["val"]), str(row["accn"]),
                            str(row.get("form") or ""), filed))
        except (TypeError, KeyError, ValueError) as exc:
            raise MalformedFactsError(f"{taxonomy}:{concept} has a malformed fact {row!r}: {exc}") from None
    return out


def period_facts(companyfacts: Any, taxonomy: str, concept: str, as_of: date) -> list[Fact]:
    """Point-in-time facts, one per (start, end): the latest filing's value; sorted by end."""
    best: dict[tuple, Fact] = {}
    for fact in raw_facts(companyfacts, taxonomy, concept, as_of):
        key = (fact.start, fact.end)
        if key not in best or (fact.filed, fact.accn) >= (best[key].filed, best[key].accn):
            best[key] = fact
    return sorted(best.values(), key=lambda f: (f.end, f.start or f.end))


def discrete_quarters(facts: list[Fact]) -> dict[date, Period]:
    """Quarter end -> quarter value: reported, or derived by subtraction (see module doc)."""
    quarters = {f.end: Period(f.start, f.end, f.val, (f,)) for f in facts if f.kind == "quarter"}
    by_start: dict[date, list[Fact]] = {}
    for f in facts:
        if f.kind in ("quarter", "half", "nine", "annual"):
            by_start.setdefault(f.start, []).append(f)  # type: ignore[arg-type]
    for f in facts:
        if f.kind not in ("half", "nine", "annual") or f.end in quarters:
            continue
        for g in sorted(by_start.get(f.start, []), key=lambda x: x.end, reverse=True):  # type: ignore[arg-type]
            if 80 <= (f.end - g.end).days <= 100:
                quarters[f.end] = Period(g.end + timedelta(days=1), f.end, f.val - g.val, (f, g))
                break
        else:
            if f.kind == "annual":
                inside = [q for q in quarters.values() if q.start and q.start >= f.start and q.end < f.end]  # type: ignore[operator]
                if len(inside) == 3:
                    last = max(q.end for q in inside)
                    quarters[f.end] = Period(last + timedelta(days=1), f.end,
                                             f.val - sum(q.val for q in inside),
                                             (f, *[x for q in inside for x in q.facts]))
    return dict(sorted(quarters.items()))


def _near(d: date, target: date, days: int = 10) -> bool:
    return abs((d - target).days) <= days


def ttm(facts: list[Fact], end: date | None = None) -> Period | None:
    """Trailing twelve months ending at `end` (default: the latest period); see module doc."""
    quarters = discrete_quarters(facts)
    annuals = {f.end: f for f in facts if f.kind == "annual"}
    end = end or max([*quarters, *annuals], default=None)
    if end is None:
        return None
    q_end = next((e for e in reversed(quarters) if _near(e, end, 10)), None)
    if q_end is not None:
        ends = [e for e in quarters if e <= q_end][-4:]
        if len(ends) == 4 and all(80 <= (b - a).days <= 100 for a, b in zip(ends, ends[1:])):
            parts = [quarters[e] for e in ends]
            return Period(parts[0].start, q_end, sum(p.val for p in parts),
                          tuple(x for p in parts for x in p.facts))
    a = next((annuals[e] for e in reversed(annuals) if _near(e, end, 10)), None)
    return Period(a.start, a.end, a.val, (a,)) if a else None


def _choose(companyfacts: Any, metric: str, as_of: date) -> tuple[str | None, list[Fact]]:
    """(concept used, its point-in-time facts): the candidate with the latest period end wins."""
    best: tuple[str | None, list[Fact]] = (None, [])
    for taxonomy, concept in CONCEPTS[metric]:
        facts = period_facts(companyfacts, taxonomy, concept, as_of)
        if facts and (not best[1] or facts[-1].end > best[1][-1].end):
            best = (f"{taxonomy}:{concept}", facts)
    return best


def _ratio(num: Period | None, den: Period | None, digits: int = 4) -> float | None:
    ok = num is not None and den is not None and num.end == den.end and den.val != 0
    return _num(num.val / den.val, digits) if ok else None  # type: ignore[union-attr,return-value]


# ---- filings and cadence ---------------------------------------------------------------------
def filings_from_submissions(submissions: Any) -> list[Filing]:
    """Periodic filings (original forms) listed in submissions.filings.recent; [] if malformed."""
    try:
        recent = submissions["filings"]["recent"]
        rows = zip(recent["form"], recent["accessionNumber"], recent["filingDate"], recent["reportDate"])
        return sorted((Filing(f, a, date.fromisoformat(fd), date.fromisoformat(rd))
                       for f, a, fd, rd in rows if f in PERIODIC_FORMS and rd), key=lambda x: x.filed)
    except (TypeError, KeyError, ValueError):
        return []


def filings_from_facts(facts: Iterable[Fact]) -> list[Filing]:
    """Filings seen in facts: period end = the latest end among the filing's duration facts."""
    seen: dict[str, Filing] = {}
    for f in facts:
        cur = seen.get(f.accn)
        end = f.end if f.start is not None else None
        if cur is None or (end and (cur.period_end is None or end > cur.period_end)):
            seen[f.accn] = Filing(f.form, f.accn, f.filed, end or (cur.period_end if cur else None))
    return sorted(seen.values(), key=lambda x: (x.filed, x.accession))


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    month_end = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    is_month_end = (d + timedelta(days=1)).month != d.month
    return date(year, month, month_end if is_month_end else min(d.day, month_end))


def next_expected_filing(filings: list[Filing], as_of: date, fiscal_year_end: str | None = None,
                         category: str | None = None) -> dict[str, Any] | None:
    """The next periodic filing: form, period end, expected date and how it was estimated."""
    known = [f for f in filings if f.filed <= as_of and f.form in PERIODIC_FORMS and f.period_end]
    if not known:
        return None
    last = known[-1]
    annual_only = last.form in ("20-F", "40-F")
    period_end = _add_months(last.period_end, 12 if annual_only else 3)  # type: ignore[arg-type]
    if annual_only:
        form = last.form
    else:
        fye = fiscal_year_end or next((f"{f.period_end:%m%d}" for f in reversed(known) if f.form == "10-K"), None)
        is_fy = bool(fye) and any(_near(period_end, date(period_end.year + dy, int(fye[:2]), 1)
                                        + timedelta(days=int(fye[2:]) - 1), 7) for dy in (-1, 0, 1))
        form = "10-K" if is_fy else "10-Q"
    lags = [(f.filed - f.period_end).days for f in known if f.form == form][-3:]  # type: ignore[operator]
    cat = (category or "").lower()
    accelerated = "accelerated" in cat and "non" not in cat
    lag = statistics.median_low(lags) if lags else {
        "10-K": 60 if cat.startswith("large") else 75 if accelerated else 90,
        "10-Q": 40 if accelerated else 45}.get(form, 120)
    basis = (f"median of the filer's last {form} lags {lags} days" if lags else
             f"SEC deadline for a {category or 'filer of unknown category'}: {lag} days")
    expected = period_end + timedelta(days=lag)
    return {"form": form, "periodEnd": period_end.isoformat(), "expectedDate": expected.isoformat(),
            "basis": basis, "overdue": expected < as_of}


#: SEC's own API: documents fetched from here are SEC's.
SEC_BASE_URLS = ("https://data.sec.gov",)
UNVERIFIED_FLAG = "fundamentals_unverified_source"


@dataclass(frozen=True)
class FilingProvenance:
    """Where a company's documents came from, which decides how its filings are cited."""

    kind: str  # "sec" | "sample" | "unverified"
    detail: str

    @classmethod
    def of(cls, base_url: str, *documents: Any) -> "FilingProvenance":
        """Sample when any document is one of ours; SEC when fetched from SEC's API; else
        unverified (a mirror or another server: its filings are counted, not cited as SEC)."""
        if any(is_sample_document(d) for d in documents):
            return cls("sample", "intel_assets sample documents (not SEC data)")
        if base_url.rstrip("/") in SEC_BASE_URLS:
            return cls("sec", f"SEC's API at {base_url.rstrip('/')}")
        return cls("unverified", f"documents from {base_url.rstrip('/')}, not SEC's API")


#: Real SEC documents read from disk (e.g. ../shared/data/edgar, saved from data.sec.gov).
SEC_DOWNLOADS = FilingProvenance("sec", "SEC documents read from disk")


def filing_index_url(cik: int | str, accession: str) -> str:
    return (f"https://www.sec.gov/Archives/edgar/data/{int(cik)}/"
            f"{accession.replace('-', '')}/{accession}-index.htm")


# ---- payload ---------------------------------------------------------------------------------
def _latest_instant(companyfacts: Any, metric: str, as_of: date, not_before: date | None):
    """(concept, latest instant fact at or after not_before) or (None, None)."""
    concept, facts = _choose(companyfacts, metric, as_of)
    inst = [f for f in facts if f.kind == "instant" and (not_before is None or f.end >= not_before)]
    return (concept, inst[-1]) if inst else (None, None)


def _flows(cf: Any, as_of: date, values: dict, used: dict, feeding: list, raw: list) -> date | None:
    """TTM flow values, growth and margins into `values`; returns the TTM period end."""
    chosen = {m: _choose(cf, m, as_of) for m in FLOWS}
    anchor = ttm(chosen["revenue"][1]) or ttm(chosen["netIncome"][1])
    p: dict[str, Period | None] = {}
    for metric, (concept, facts) in chosen.items():
        p[metric] = ttm(facts, anchor.end) if anchor else None
        if concept and p[metric]:
            used[metric] = concept
            feeding += p[metric].facts  # type: ignore[union-attr]
            raw += raw_facts(cf, *concept.split(":"), as_of)
    rev, ni, eps = p["revenue"], p["netIncome"], p["epsDiluted"]
    quarters = discrete_quarters(chosen["revenue"][1])
    last_q = quarters.get(anchor.end) if anchor else None
    ago = next((q for e, q in quarters.items() if last_q and _near(e, last_q.end - timedelta(days=365))), None)
    prior = ttm(chosen["revenue"][1], rev.end - timedelta(days=365)) if rev else None
    values.update({
        "periodEnd": anchor.end.isoformat() if anchor else None,
        "periodicity": None if anchor is None else "annual" if anchor.facts[0].kind == "annual" else "quarterly",
        "ttmRevenue": _num(rev.val) if rev else None,
        "ttmNetIncome": _num(ni.val) if ni else None,
        "ttmEpsDiluted": _num(eps.val, 4) if eps else None,
        "revenueGrowthYoY": _num(rev.val / prior.val - 1, 4) if rev and prior and prior.val else None,
        "latestQuarterRevenue": _num(last_q.val) if last_q else None,
        "quarterRevenueGrowthYoY": _num(last_q.val / ago.val - 1, 4) if last_q and ago and ago.val else None,
        "grossMargin": _ratio(p["grossProfit"], rev),
        "operatingMargin": _ratio(p["operatingIncome"], rev),
        "netMargin": _ratio(ni, rev),
        "derivedQuarters": sorted(e.isoformat() for e, q in quarters.items()
                                  if len(q.facts) > 1 and last_q and e > last_q.end - timedelta(days=365)),
    })
    return anchor.end if anchor else None


def _balances(cf: Any, as_of: date, not_before: date | None, values: dict, used: dict, feeding: list) -> None:
    """Equity, cash, shares (summed over classes of one filing) and debt into `values`."""
    for metric in ("equity", "cash", "sharesOutstanding"):
        concept, fact = _latest_instant(cf, metric, as_of, not_before)
        values[metric] = _num(fact.val) if fact else None
        if fact and metric == "sharesOutstanding":  # multi-class filers report one fact per class
            values[metric] = _num(sum({f.val for f in raw_facts(cf, *concept.split(":"), as_of)  # type: ignore[union-attr]
                                       if f.accn == fact.accn and f.end == fact.end}))
            values["sharesAsOf"] = fact.end.isoformat()
        elif fact:
            feeding.append(fact)
        if fact:
            used[metric] = concept
    values.setdefault("sharesAsOf", None)
    concept, debt = _latest_instant(cf, "debtTotal", as_of, not_before)
    parts = [debt] if debt else []
    if debt is None:
        concept, noncurrent = _latest_instant(cf, "debtNoncurrent", as_of, not_before)
        if noncurrent is not None:
            c_concept, current = _latest_instant(cf, "debtCurrent", as_of, noncurrent.end)
            parts = [noncurrent, *([current] if current and current.end == noncurrent.end else [])]
            concept = concept if len(parts) == 1 else f"{concept} + {c_concept}"
    values["debt"] = _num(sum(f.val for f in parts)) if parts else None
    if parts:
        used["debt"] = concept
        feeding += parts


def _metrics(cf: Any, as_of: date) -> tuple[dict[str, Any], dict[str, str], list[Fact], list[Fact]]:
    """(values, concepts used, facts feeding the values, raw facts of the used flow concepts)."""
    values: dict[str, Any] = {}
    used: dict[str, str] = {}
    feeding: list[Fact] = []
    raw: list[Fact] = []
    end = _flows(cf, as_of, values, used, feeding, raw)
    _balances(cf, as_of, end - timedelta(days=100) if end else None, values, used, feeding)
    return values, used, feeding, raw


def fundamentals_payload(companyfacts: Any, submissions: Any, as_of: datetime, *,
                         provenance: FilingProvenance, max_citations: int = 6,
                         ) -> tuple[dict[str, Any], list[Citation], list[str]]:
    """(payload, citations, risk flags) for one company as of an instant; see the module doc."""
    day = ny_date(as_of)
    values, used, feeding, raw = _metrics(companyfacts, day)
    try:
        cik = int(companyfacts["cik"]) if companyfacts.get("cik") is not None else None
    except (TypeError, ValueError):
        raise MalformedFactsError(f"companyfacts cik {companyfacts.get('cik')!r} is not a number") from None
    fact_filings = filings_from_facts(raw)
    latest = fact_filings[-1] if fact_filings else None
    flags: list[str] = []
    previous, deltas = None, {}
    if latest is not None:
        prev_values, _, _, prev_raw = _metrics(companyfacts, latest.filed - timedelta(days=1))
        prev_filings = filings_from_facts(prev_raw)
        previous = prev_filings[-1].wire() if prev_filings else None
        deltas = {k: _num(values[k] - prev_values[k], 6) for k in DELTA_KEYS
                  if values.get(k) is not None and prev_values.get(k) is not None}
    sub_filings = filings_from_submissions(submissions) if submissions is not None else []
    if not sub_filings:
        flags.append("fundamentals_no_submissions")
    profile = submissions if isinstance(submissions, dict) else {}
    nxt = next_expected_filing(sub_filings or fact_filings, day, profile.get("fiscalYearEnd") or None,
                               profile.get("category"))
    if nxt and nxt["overdue"]:
        flags.append("fundamentals_filing_overdue")
    payload = {"cik": cik, "entityName": companyfacts.get("entityName"), **values, "conceptsUsed": used,
               "latestFiling": latest.wire() if latest else None, "previousFiling": previous,
               "deltas": deltas, "nextExpectedFiling": nxt}
    payload["missing"] = [k for k in CORE if payload.get(k) is None]
    if payload["missing"]:
        flags.insert(0, "fundamentals_partial")
    by_accn = {f.accn: f for f in sorted(feeding, key=lambda f: f.filed)}
    if latest is not None:
        by_accn.setdefault(latest.accession, next(f for f in raw if f.accn == latest.accession))
    cited = sorted(by_accn.values(), key=lambda f: (f.filed, f.accn), reverse=True)[:max_citations]
    payload["provenance"] = provenance.detail
    if provenance.kind == "sec":
        citations = [Citation(source=f"SEC EDGAR {f.form or 'filing'}",
                              published_at=datetime.combine(f.filed, time(0), NY),
                              url=filing_index_url(cik, f.accn) if cik is not None else None)
                     for f in cited]
    elif provenance.kind == "sample":
        citations = [Citation(source=SAMPLE_EDGAR_SOURCE,
                              published_at=datetime.combine(f.filed, time(0), NY),
                              url=sample_filing_url(cik, f.accn)) for f in cited]
        flags.append(SAMPLE_FLAG)
    else:
        citations = []
        payload["uncitedFilings"] = len(cited)
        flags.append(UNVERIFIED_FLAG)
    return payload, citations, flags


def fundamentals_block(companyfacts: Any, submissions: Any, now: datetime, budget_seconds: float,
                       fetched_at: datetime | None = None, extra_flags: Iterable[str] = (), *,
                       provenance: FilingProvenance) -> DomainBlock:
    """The fundamentals DomainBlock: ok/stale (partial when concepts are missing) or error/missing."""
    try:
        payload, citations, flags = fundamentals_payload(companyfacts, submissions, now,
                                                         provenance=provenance)
    except MalformedFactsError as exc:
        return error_block(DOMAIN, budget_seconds, f"malformed SEC companyfacts: {exc}")
    core = [payload.get(k) for k in CORE]
    if all(v is None for k, v in zip(CORE, core) if k != "nextExpectedFiling"):
        return missing_block(DOMAIN, budget_seconds,
                             f"no recognised financial facts filed on or before {ny_date(now)} "
                             f"for {payload.get('entityName') or 'this company'}")
    budget, nxt = budget_seconds, payload["nextExpectedFiling"]
    if nxt:  # cut to the seconds left until the expected filing when sooner (and >= 1 s)
        left = int((datetime.combine(date.fromisoformat(nxt["expectedDate"]), time(0), NY) - now).total_seconds())
        budget = float(min(budget_seconds, left)) if left >= 1 else budget_seconds
    return observed_block(
        domain=DOMAIN, now=now, as_of=fetched_at or now, budget_seconds=budget, payload=payload,
        core_values=core, sources=1 + (submissions is not None and "fundamentals_no_submissions" not in flags),
        expected_sources=2, citations=citations, risk_flags=[*flags, *extra_flags],
    )
