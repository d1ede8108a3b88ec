"""The ClickHouse server path end to end: the real clickhouse-connect HTTP client (our Warehouse
through open_warehouse / ClickHouseResource) against a ClickHouse-HTTP-compatible endpoint
backed by chdb (intel_assets/devtools/clickhouse_http.py), over http and over https with a CA
made here; the production TLS contract for INTEL_CLICKHOUSE_URL; and the deploy DDL
(deploy/clickhouse/) against our embedded DDL."""

from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pandas as pd
import pytest
from helpers import insert_signals_with_stale_version, second_microbars, stale_versions

from intel_assets.assets.technicals import read_frames
from intel_assets.devtools.clickhouse_http import HttpUser, serve_chdb_http
from intel_assets.domain.indicators import technicals_payload
from intel_assets.domain.market_data import synthetic_market
from intel_assets.domain.ta_tables import microbar_rows, signal_rows
from intel_assets.resources.clickhouse import ClickHouseResource
from intel_assets.stores.warehouse import Warehouse, WarehouseError, open_warehouse
from intel_assets.stores.clickhouse_tls import ClickHouseTlsError, check_clickhouse_tls
from intel_assets.resources.context_policy import ContextPolicyResource
from intel_assets.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "clickhouse"
OPEN = datetime(2024, 3, 8, 14, 30, tzinfo=timezone.utc)
CLOCK = OPEN + timedelta(minutes=79, seconds=30)  # the 80th minute is half done
READER_PASSWORD = "r3ader-Pw"
USERS = {"default": HttpUser(), "intel_assets": HttpUser(READER_PASSWORD, {"readonly": "1"})}
TORGHUT_MIRROR = Path("/work/.mirror/proompteng+lab/repo")
TORGHUT_COMMIT = "255d330fe"
TORGHUT_DDL = "services/dorvud/technical-analysis-flink/src/main/resources/ta-schema.sql"
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(folder: Path, *args: str) -> None:
    proc = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"openssl {' '.join(args[:2])} failed: {proc.stderr}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.crt signs server.crt (localhost, 127.0.0.1) and elsewhere.crt (only
    elsewhere.example); other-ca.crt is unrelated."""
    folder = tmp_path_factory.mktemp("chpki")
    for ca in ("ca", "other-ca"):
        _openssl(folder, "req", "-x509", *_EC, "-keyout", f"{ca}.key", "-out", f"{ca}.crt",
                 "-days", "2", "-subj", f"/CN={ca} test", "-addext",
                 "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, san in (("server", "DNS:localhost,IP:127.0.0.1"), ("elsewhere", "DNS:elsewhere.example")):
        _openssl(folder, "req", "-new", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}")
        (folder / f"{name}.ext").write_text(
            f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-set_serial", "0x5eed" if name == "server" else "0x5eee", "-days", "2",
                 "-extfile", f"{name}.ext", "-out", f"{name}.crt")
    return folder


def _path(chdb_dsn: str) -> str:
    return chdb_dsn[len("chdb://"):]


@pytest.fixture(scope="module")
def http_url(chdb_dsn):
    """The endpoint over plain http, on the test process's chdb engine (one per process)."""
    with serve_chdb_http(_path(chdb_dsn), users=USERS) as (url, _):
        yield url


@pytest.fixture(scope="module")
def https_url(chdb_dsn, pki):
    with serve_chdb_http(_path(chdb_dsn), users=USERS, certfile=str(pki / "server.crt"),
                         keyfile=str(pki / "server.key")) as (url, _):
        yield url


@pytest.fixture
def dev_env(monkeypatch):
    for name in ("INTEL_ENV", "INTEL_CLICKHOUSE_CA_FILE", "INTEL_CLICKHOUSE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _reader_url(base: str) -> str:
    return base.replace("://", f"://intel_assets:{READER_PASSWORD}@", 1)


def _seed(wh: Warehouse) -> None:
    """Torghut's shapes as test_clickhouse.py feeds them: AAA as 1-second bars with stale
    versions left unmerged and quotes plus Torghut's signals (older versions too) in ta_signals;
    BBB as seeded 1-minute bars and quotes."""
    wh.ensure_schema()
    bars, minute_quotes = synthetic_market(["BBB"], days=1, end=OPEN + timedelta(hours=1))
    wh.write_microbars(microbar_rows(bars, source="synthetic"))  # DELETE, then insert
    wh.write_signals(signal_rows(minute_quotes, source="synthetic"))
    for table in ("ta_microbars", "ta_signals"):  # after the DELETEs: they wait for merges
        wh.client.command(f"SYSTEM STOP MERGES {wh.database}.{table}")
    clean = second_microbars("AAA", OPEN, minutes=80, seed=11)
    wh.insert("ta_microbars", stale_versions(clean))
    wh.insert("ta_microbars", clean)
    insert_signals_with_stale_version(wh, clean["event_ts"])


def _read(resource: ClickHouseResource):
    """The technicals asset's read path: read_frames, then technicals_payload per symbol."""
    policy = ContextPolicyResource(as_of=CLOCK.isoformat(), lookback_days=7)
    with resource.warehouse() as wh:
        frames = read_frames(wh, ["AAA", "BBB"], CLOCK, policy)
        stored = int(wh.client.command(f"SELECT count() FROM {wh.database}.ta_microbars"))
    payloads = {s: technicals_payload(frames.bars(s), frames.quotes(s))[0] for s in ("AAA", "BBB")}
    return frames, payloads, stored


# ---- the server path end to end ---------------------------------------------------------------

def test_http_and_https_paths_read_the_same_minute_bars_as_the_embedded_path(
        chdb_dsn, http_url, https_url, pki, dev_env):
    embedded_db, server_db = (f"t_{uuid.uuid4().hex[:10]}" for _ in range(2))
    with open_warehouse(chdb_dsn, embedded_db) as wh:
        _seed(wh)
    with open_warehouse(http_url, server_db) as wh:  # DDL, DELETE and Native inserts over HTTP
        assert type(wh.client).__name__ == "HttpClient"
        _seed(wh)

    embedded = _read(ClickHouseResource(dsn=chdb_dsn, database=embedded_db))
    over_http = _read(ClickHouseResource(dsn=http_url, database=server_db))
    # Production: https, the CA verified, the read-only user of intel-assets-readonly.sql.
    dev_env.setenv("INTEL_ENV", "production")
    dev_env.setenv("INTEL_CLICKHOUSE_CA_FILE", str(pki / "ca.crt"))
    over_https = _read(ClickHouseResource(dsn=_reader_url(https_url), database=server_db))

    assert embedded[2] == over_http[2] == over_https[2] > 80 * 60 * 0.7  # stale versions kept
    for frames, payloads, _ in (over_http, over_https):
        for symbol in ("AAA", "BBB"):
            pd.testing.assert_frame_equal(frames.bars(symbol), embedded[0].bars(symbol))
            pd.testing.assert_frame_equal(frames.quotes(symbol), embedded[0].quotes(symbol))
        assert payloads == embedded[1]
    bars = embedded[0].bars("AAA")
    assert len(bars) == 80 and set(bars["source_window"]) == {"PT1S"}
    assert str(bars["window_end"].dt.tz) == "UTC" and bars["window_end"].iloc[-1] <= pd.Timestamp(CLOCK)
    assert embedded[1]["AAA"]["torghutSignals"]["rsi14"] == 55.5  # the newest version, not 1.0
    assert embedded[1]["AAA"]["spreadBps"] == pytest.approx(100.0)


def test_the_read_only_user_reads_but_cannot_write_or_change_settings(https_url, pki, dev_env):
    dev_env.setenv("INTEL_CLICKHOUSE_CA_FILE", str(pki / "ca.crt"))
    with open_warehouse(_reader_url(https_url), "system") as wh:
        assert wh.client.command("SELECT currentUser() != ''") == 1
        assert wh.client.params.keys() <= {"session_id"}  # readonly = 1: it sends no settings
        with pytest.raises(Exception, match="readonly mode"):
            wh.client.command(f"CREATE DATABASE t_{uuid.uuid4().hex[:10]}")
        with pytest.raises(Exception, match="readonly"):
            wh.client.query("SELECT 1", settings={"max_threads": 1})


def test_https_refuses_a_server_the_ca_did_not_sign_or_a_host_it_does_not_name(
        chdb_dsn, https_url, pki, dev_env):
    dev_env.setenv("INTEL_ENV", "production")
    dev_env.setenv("INTEL_CLICKHOUSE_CA_FILE", str(pki / "other-ca.crt"))
    with pytest.raises(WarehouseError) as err, open_warehouse(_reader_url(https_url), "torghut"):
        pass
    text = str(err.value)
    assert "\n" not in text and READER_PASSWORD not in text
    assert "certificate is not signed by a CA in" in text and "other-ca.crt" in text
    assert "point INTEL_CLICKHOUSE_CA_FILE at the CA that signed" in text
    dev_env.setenv("INTEL_CLICKHOUSE_CA_FILE", str(pki / "ca.crt"))
    with serve_chdb_http(_path(chdb_dsn), users=USERS, certfile=str(pki / "elsewhere.crt"),
                         keyfile=str(pki / "elsewhere.key")) as (elsewhere, _), \
            pytest.raises(WarehouseError) as err, open_warehouse(_reader_url(elsewhere), "torghut"):
        pass
    assert "is not issued for \"127.0.0.1\"" in str(err.value)


# ---- the production TLS contract -------------------------------------------------------------

def test_production_refuses_http_and_a_missing_ca_in_one_line_each(http_url, https_url, pki,
                                                                   tmp_path, dev_env):
    dev_env.setenv("INTEL_ENV", "production")
    with pytest.raises(ClickHouseTlsError) as err, open_warehouse(http_url, "torghut"):
        pass
    assert str(err.value) == (
        "INTEL_CLICKHOUSE_URL uses http://, which sends the password and the market data "
        "unencrypted: write https://<user>:<password>@<host>:8443 and set "
        "INTEL_CLICKHOUSE_CA_FILE=/path/to/cluster-ca.pem (the CA that signed the server's "
        "certificate)")
    missing = tmp_path / "no-such-ca.pem"
    dev_env.setenv("INTEL_CLICKHOUSE_CA_FILE", str(missing))
    with pytest.raises(ClickHouseTlsError) as err, open_warehouse(_reader_url(https_url), "torghut"):
        pass
    assert str(err.value) == (f"the CA file {missing} (INTEL_CLICKHOUSE_CA_FILE) does not exist: "
                              "point INTEL_CLICKHOUSE_CA_FILE at the cluster CA certificate (PEM)")
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    for url, ca, expected in (
            (https_url, None, "names no CA file"),
            (https_url + "/?verify=false", str(pki / "ca.crt"), "sets verify=false, which accepts any"),
            (https_url, str(not_pem), "holds no PEM certificate"),
            (https_url, str(tmp_path), "is a folder"),
            (http_url + "/?secure=true", None, "let the scheme decide")):
        with pytest.raises(ClickHouseTlsError, match=re.escape(expected)) as err:
            check_clickhouse_tls(url, production=True, ca_file=ca, environ={})
        assert "\n" not in str(err.value)
    # accepted: https and a readable CA (from the variable, or ca_cert= in the URL)
    ok = check_clickhouse_tls(_reader_url(https_url), production=True, environ={
        "INTEL_CLICKHOUSE_CA_FILE": str(pki / "ca.crt")})
    assert ok.verifies_server and ok.warnings == () and READER_PASSWORD not in ok.describe()
    assert ok.client_options["interface"] == "https" and ok.client_options["verify"] is True
    assert ok.client_options["ca_cert"] == str(pki / "ca.crt")
    in_url = check_clickhouse_tls(f"{https_url}/?ca_cert={pki / 'ca.crt'}&compress=false",
                                  production=True, environ={})
    assert in_url.ca_source == "the URL (ca_cert=)" and "ca_cert" not in in_url.client_options["dsn"]
    assert "compress=false" in in_url.client_options["dsn"]
    assert check_clickhouse_tls("chdb:///tmp/x", production=True).verifies_server


def test_outside_production_the_same_breaches_are_warnings(http_url, dev_env, capsys):
    contract = check_clickhouse_tls(http_url, production=False, environ={})
    assert contract.warnings and contract.warnings[0].startswith("INTEL_CLICKHOUSE_URL uses http://")
    from intel_assets.cli.common import warn_about_tls

    dev_env.setenv("INTEL_CLICKHOUSE_URL", http_url)
    warn_about_tls(load_settings())
    err = capsys.readouterr().err
    assert "warning: INTEL_CLICKHOUSE_URL uses http://" in err
    assert "(refused when INTEL_ENV=production)" in err
    dev_env.setenv("INTEL_ENV", "production")
    with pytest.raises(ClickHouseTlsError, match="uses http://"):
        warn_about_tls(load_settings())


def test_doctor_reports_the_clickhouse_contract(https_url, http_url, pki, dev_env):
    from intel_assets.cli.doctor import run_doctor

    environ = {"INTEL_ENV": "production", "INTEL_CLICKHOUSE_URL": _reader_url(https_url),
               "INTEL_CLICKHOUSE_CA_FILE": str(pki / "ca.crt")}
    for name, value in environ.items():
        dev_env.setenv(name, value)
    database = f"t_{uuid.uuid4().hex[:10]}"
    with open_warehouse(http_url.replace("://", "://default:@"), database,
                        environ={}) as wh:  # Torghut's tables, made by an admin over http
        wh.ensure_schema()
    dev_env.setenv("INTEL_CLICKHOUSE_DATABASE", database)
    [ok] = run_doctor(load_settings(), environ, only=["clickhouse"])
    assert ok.ok and "certificate and host name verified against" in ok.detail
    assert READER_PASSWORD not in ok.detail and "ta_microbars and ta_signals exist" in ok.detail
    dev_env.setenv("INTEL_CLICKHOUSE_URL", http_url)
    [refused] = run_doctor(load_settings(), {**environ, "INTEL_CLICKHOUSE_URL": http_url},
                           only=["clickhouse"])
    assert not refused.ok and "uses http://" in refused.detail and "https://" in refused.fix


# ---- what the endpoint answers ------------------------------------------------------------------

def test_endpoint_answers_and_fails_as_clickhouse_does(http_url):
    with httpx.Client(base_url=http_url, timeout=10) as client:
        assert client.get("/ping").text == "Ok.\n" and client.get("/").text == "Ok.\n"
        ok = client.post("/", params={"query": "SELECT version(), timezone()"})
        assert ok.status_code == 200 and ok.headers["x-clickhouse-format"] == "TabSeparated"
        assert ok.headers["x-clickhouse-timezone"] == "UTC" and ok.text.endswith("\tUTC\n")
        assert {"read_rows", "written_rows", "elapsed_ns"} <= set(
            json.loads(ok.headers["x-clickhouse-summary"]))
        assert ok.headers["x-clickhouse-server-display-name"]
        bound = client.post("/", params={"param_n": "41", "default_format": "JSONEachRow"},
                            content=b"SELECT {n:UInt8} + 1 AS x")
        assert bound.json() == {"x": 42}
        missing = client.post("/", content=b"SELECT * FROM no_such_db.t")
        assert missing.status_code == 404 and missing.headers["x-clickhouse-exception-code"] == "81"
        assert missing.text.startswith("Code: 81. DB::Exception:") and "(UNKNOWN_DATABASE)" in missing.text
        syntax = client.post("/", content=b"SELEC 1")
        assert syntax.status_code == 400 and syntax.headers["x-clickhouse-exception-code"] == "62"
        unknown = client.post("/", params={"no_such_setting": "1"}, content=b"SELECT 1")
        assert unknown.status_code == 404 and "UNKNOWN_SETTING" in unknown.text
        framed = client.post("/", params={"compress": "1"}, content=b"SELECT 1")
        assert framed.status_code == 501 and "NOT_IMPLEMENTED" in framed.text
        denied = client.post("/", content=b"SELECT 1", headers={
            "Authorization": "Basic " + base64.b64encode(b"intel_assets:wrong").decode()})
        assert denied.status_code == 403 and denied.headers["x-clickhouse-exception-code"] == "516"
        plain = client.post("/", content=b"SELECT 1", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in plain.headers  # enable_http_compression = 0, as servers
        packed = client.post("/", params={"enable_http_compression": "1"},
                             content=gzip.compress(b"SELECT 7"),
                             headers={"Accept-Encoding": "gzip", "Content-Encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip" and packed.text == "7\n"
        read_only_get = client.get("/", params={"query": "CREATE DATABASE get_must_not_write"})
        assert read_only_get.status_code != 200 and "readonly" in read_only_get.text
        session = {"session_id": uuid.uuid4().hex}
        client.post("/", params=session, content=b"SET max_threads = 3")
        again = client.post("/", params=session, content=b"SELECT getSetting('max_threads')")
        assert again.text == "3\n"
        fresh = client.post("/", content=b"SELECT getSetting('max_threads') = 3")
        assert fresh.text == "0\n"


# ---- the deploy DDL --------------------------------------------------------------------------------

def _single_node(sql: str, database: str) -> list[str]:
    """Torghut's cluster DDL made runnable on one node: no ON CLUSTER, ReplacingMergeTree with
    the same version column, database renamed. Nothing else changes."""
    text = re.sub(r"--[^\n]*", "", sql).replace(" ON CLUSTER default", "")
    text = re.sub(r"ReplicatedReplacingMergeTree\('[^']*',\s*'\{replica\}',\s*(\w+)\)",
                  r"ReplacingMergeTree(\1)", text)
    text = re.sub(r"\btorghut\b", database, text)
    return [s.strip() for s in text.split(";") if s.strip()]


def _shape(wh: Warehouse, database: str):
    columns = wh.client.query(
        "SELECT table, name, type FROM system.columns WHERE database = {db:String} "
        "ORDER BY table, position", parameters={"db": database}).result_rows
    tables = wh.client.query(
        "SELECT name, engine, partition_key, sorting_key, primary_key, engine_full FROM system.tables "
        "WHERE database = {db:String} ORDER BY name", parameters={"db": database}).result_rows
    return columns, tables


def test_deploy_ddl_matches_the_embedded_ddl(chdb_dsn):
    text = (DEPLOY / "torghut-tables.sql").read_text()
    statements = [s for s in re.sub(r"--[^\n]*", "", text).split(";") if s.strip()]
    assert len(statements) == 3 and all(" ON CLUSTER default" in s for s in statements)
    assert text.count("ReplicatedReplacingMergeTree('/clickhouse/tables/{cluster}/{shard}/") == 2
    deploy_db, embedded_db = (f"t_{uuid.uuid4().hex[:10]}" for _ in range(2))
    with open_warehouse(chdb_dsn, embedded_db) as wh:
        wh.ensure_schema()
        for statement in _single_node(text, deploy_db):
            wh.client.command(statement)
        deploy_columns, deploy_tables = _shape(wh, deploy_db)
        embedded_columns, embedded_tables = _shape(wh, embedded_db)
    assert deploy_columns == embedded_columns  # names, types and order
    assert len(deploy_columns) == 18 + 28
    for deployed, ours in zip(deploy_tables, embedded_tables):
        assert deployed[:5] == ours[:5] == (deployed[0], "ReplacingMergeTree", "toDate(event_ts)",
                                            "symbol, event_ts, seq", "symbol, event_ts, seq")
        assert "ReplacingMergeTree(ingest_ts)" in deployed[5] and "ReplacingMergeTree(ingest_ts)" in ours[5]
        days = 30 if deployed[0] == "ta_microbars" else 14
        assert f"TTL toDateTime(event_ts) + toIntervalDay({days})" in deployed[5]
        assert "TTL" not in ours[5]  # the demo replays 2013: no TTL in the embedded tables


@pytest.mark.skipif(not (TORGHUT_MIRROR / "HEAD").exists() and not (TORGHUT_MIRROR / ".git").exists(),
                    reason="no local mirror of proompteng/lab to compare with")
def test_deploy_ddl_is_torghuts_ddl(chdb_dsn):
    proc = subprocess.run(["git", "-C", str(TORGHUT_MIRROR), "show", f"{TORGHUT_COMMIT}:{TORGHUT_DDL}"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"the mirror lacks {TORGHUT_COMMIT}:{TORGHUT_DDL}")
    ours, theirs = (f"t_{uuid.uuid4().hex[:10]}" for _ in range(2))
    with open_warehouse(chdb_dsn, ours) as wh:
        for database, text in ((ours, (DEPLOY / "torghut-tables.sql").read_text()),
                               (theirs, proc.stdout)):
            for statement in _single_node(text, database):
                wh.client.command(statement)
        mine, torghut = _shape(wh, ours), _shape(wh, theirs)
    assert mine[0] == torghut[0]
    assert [t[:5] + (t[5].replace(ours, "DB"),) for t in mine[1]] == \
        [t[:5] + (t[5].replace(theirs, "DB"),) for t in torghut[1]]


def test_read_only_grants_parse_and_grant_only_selects(chdb_dsn):
    text = (DEPLOY / "intel-assets-readonly.sql").read_text()
    statements = [" ".join(s.split()) for s in re.sub(r"--[^\n]*", "", text).split(";") if s.strip()]
    with open_warehouse(chdb_dsn, "system") as wh:  # ClickHouse 26.x's own parser
        for statement in statements:
            wh.client.query("SELECT formatQuery({q:String})", parameters={"q": statement})
    grants = [s for s in statements if s.startswith("GRANT")]
    assert grants[:3] == [
        "GRANT ON CLUSTER default SELECT ON torghut.ta_microbars TO intel_assets_reader",
        "GRANT ON CLUSTER default SELECT ON torghut.ta_signals TO intel_assets_reader",
        "GRANT ON CLUSTER default SELECT(name, value, readonly) ON system.settings TO intel_assets_reader"]
    assert grants[3:] == ["GRANT ON CLUSTER default intel_assets_reader TO intel_assets"]
    assert "CREATE SETTINGS PROFILE IF NOT EXISTS intel_assets_readonly ON CLUSTER default " \
           "SETTINGS readonly = 1" in statements
    [user] = [s for s in statements if s.startswith("CREATE USER")]
    assert "IDENTIFIED WITH sha256_hash BY 'REPLACE_WITH_SHA256_HEX_OF_THE_PASSWORD'" in user
    assert "SETTINGS PROFILE 'intel_assets_readonly'" in user
    assert not re.search(r"\b[0-9a-f]{64}\b", text)  # no real password hash committed
    assert all(" ON CLUSTER default" in s for s in statements)
