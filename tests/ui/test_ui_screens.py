"""README's Dagster walkthrough, checked in a real browser against a running `intel-assets ui`.

`make ui-test` (scripts/ui-test.sh) builds a throwaway INTEL_HOME with `intel-assets demo` and
`intel-assets parity --week` (`make gate`), starts `intel-assets ui` on free ports and runs this
module with INTEL_UI_TEST_URL (Dagster's UI) and INTEL_UI_TEST_API_URL (the serving API) set.
Debian's chromium drives the pages through selenium and chromium-driver. Without
INTEL_UI_TEST_URL (plain `make test`) every test here skips, saying how to run it.

The pages are the ones README's "Walkthrough in Dagster's UI" links to, taken from README itself
so the walkthrough cannot drift from what a browser shows; the values expected on them come from
somewhere other than the page: the serving API's bundle (what Torghut reads), the gate's stored
materialization (Dagster's GraphQL API) and the criteria defined in domain/gates.py.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UI_URL = os.environ.get("INTEL_UI_TEST_URL", "").rstrip("/")
API_URL = os.environ.get("INTEL_UI_TEST_API_URL", "").rstrip("/")
SHOTS = Path(os.environ.get("INTEL_UI_TEST_SHOTS", ROOT / ".tmp" / "ui-test" / "shots"))
CHROMIUM = os.environ.get("INTEL_UI_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("INTEL_UI_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
PAGE_SECONDS = 90.0  # a cold Dagster webserver on 2 busy cores renders a first page in ~10 s

pytestmark = pytest.mark.skipif(
    not UI_URL, reason="browser test of a running `intel-assets ui`: run `make ui-test` "
    "(or set INTEL_UI_TEST_URL to a running Dagster UI and INTEL_UI_TEST_API_URL to its serving API)")


def walkthrough_paths() -> dict[str, str]:
    """The Dagster pages README's walkthrough links to, by what they show (lineage, partition,
    gate), as paths on the webserver."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Walkthrough in Dagster's UI", 1)[1].split("\n#", 1)[0]
    paths = [p.rstrip(".,:;") for p in re.findall(r"http://127\.0\.0\.1:3000(/[^\s`)>]+)", section)]
    found = {
        "lineage": [p for p in paths if "/asset-groups/" in p],
        "partition": [p for p in paths if "partition=" in p],
        "gate": [p for p in paths if p.startswith("/assets/rollout_gate")],
    }
    missing = [name for name, hits in found.items() if not hits]
    assert not missing, f"README's walkthrough links to no {missing} page"
    return {name: hits[0] for name, hits in found.items()}


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), (f"{path} is missing: `apt-get install chromium "
                                     "chromium-driver` (scripts/ui-test.sh does it as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1600,1100"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, path: str, expected: list[str], shot: str) -> str:
    """Load ``path``, dismiss Dagster's first-visit community dialog, wait until every expected
    text is on the page, save a screenshot (.tmp/ui-test/shots) and return the page's text."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    driver.get(UI_URL + path)
    deadline = time.monotonic() + PAGE_SECONDS
    text = ""
    while time.monotonic() < deadline:
        try:
            for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
                button.click()
            text = driver.find_element(By.TAG_NAME, "body").text
        except WebDriverException:  # the SPA re-rendered under us: read again
            text = ""
        if all(e in text for e in expected):
            break
        time.sleep(1.0)
    driver.save_screenshot(str(SHOTS / f"{shot}.png"))
    absent = [e for e in expected if e not in text]
    assert not absent, (f"{UI_URL + path} never showed {absent} within {PAGE_SECONDS:.0f} s "
                        f"(screenshot {SHOTS / shot}.png); it showed: {text[:1500]!r}")
    return text


def get_json(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


STAMP = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, (\d{4}, )?\d{1,2}:\d{2}( [AP]M)?$")  # "Dec 3, 6:14 AM"


def metadata_after(text: str, label: str) -> str:
    """The value Dagster renders after a metadata label (past the asset page's timestamp cell)."""
    lines = text.splitlines()
    assert label in lines, f"no metadata row {label!r} on the page"
    rest = lines[lines.index(label) + 1:]
    return next(line for line in rest if not STAMP.match(line))


def test_lineage_page_draws_every_market_context_asset_and_its_sources(browser):
    path = walkthrough_paths()["lineage"]
    expected = ["ta_microbars", "ta_signals", "technicals", "regime", "news", "fundamentals",
                "research_brief", "market_context_bundle", "published_bundle", "rollout_gate"]
    text = open_page(browser, path, expected, "1-lineage")
    assert "market_context" in text and "intel_assets" in text  # the group, in its code location


@pytest.mark.parametrize("symbol", ["SPY", "IBM"])
def test_a_symbols_partition_page_shows_that_symbols_own_values(browser, symbol):
    """Each partition shows its own symbol's values, as Torghut reads them from the API."""
    path = re.sub(r"partition=[A-Z.]+", f"partition={symbol}", walkthrough_paths()["partition"])
    context = get_json(f"{API_URL}/api/torghut/market-context?symbol={symbol}")["context"]
    technicals = context["domains"]["technicals"]
    text = open_page(browser, path, ["last_price", "rsi14", "quality", "state"],
                     f"2-technicals-{symbol}")
    assert metadata_after(text, "last_price") == repr(float(technicals["payload"]["lastPrice"]))
    assert metadata_after(text, "rsi14") == repr(float(technicals["payload"]["rsi14"]))
    assert metadata_after(text, "state") == technicals["state"]
    if symbol == "SPY":  # the value README's walkthrough quotes
        readme = (ROOT / "README.md").read_text().split("### Walkthrough in Dagster's UI", 1)[1]
        quoted = re.search(r"`last_price` ([0-9.]+)", readme)
        assert quoted and quoted.group(1) == metadata_after(text, "last_price")


GATE_QUERY = """{ assetOrError(assetKey: {path: ["rollout_gate"]}) { ... on Asset {
  assetMaterializations(limit: 1) { runId metadataEntries { label
    ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } } } } } }"""


def test_gate_page_shows_the_phase_reached_and_every_criterion_inline(browser):
    from intel_assets.domain.gates import CRITERIA

    answer = get_json(f"{UI_URL}/graphql", {"query": GATE_QUERY})
    materializations = answer["data"]["assetOrError"]["assetMaterializations"]
    assert materializations, "rollout_gate was never materialized: run `make gate` first"
    stored = {e["label"]: e.get("intValue", e.get("text")) for e in materializations[0]["metadataEntries"]}
    labels = [f"criterion {cid}" for cid in CRITERIA]
    assert set(labels) <= set(stored), "the gate's materialization lacks criteria"
    text = open_page(browser, walkthrough_paths()["gate"], ["phase_reached", *labels], "3-gate")
    assert metadata_after(text, "phase_reached") == str(stored["phase_reached"])
    for label in labels:  # each criterion's verdict and measured value, on the page itself
        assert metadata_after(text, label).split(" - ")[0] == str(stored[label]).split(" - ")[0]
