"""Tests the PostgreSQL TLS contract, libpq error explanations and doctor against real TLS clusters."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Iterator

import psycopg2
import pytest
from conftest import PG_DSN_ENV, PgCluster, start_pg_cluster

from intel_assets.devtools.torghut_tables import ThrowawayTorghutDb
from intel_assets.cli.doctor import exit_code, format_report, main_doctor, run_doctor
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.stores.dsn_contract import (
    DsnContractError,
    assert_store_contract,
    check_dsn_tls,
    explain_connect_error,
    production_mode,
    store_connect_dsn,
    with_params,
)
from intel_assets.settings import load_settings

TORGHUT = {"name": "TORGHUT_DB_DSN", "sslrootcert_env": "TORGHUT_DB_SSLROOTCERT"}
STORE_ENV = "INTEL_BUNDLE_STORE_SSLROOTCERT"
PASSWORD = "pw-Secr3t"
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(folder: Path, *args: str) -> None:
    proc = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True)
    assert proc.returncode == 0, f"openssl {' '.join(args[:2])} failed: {proc.stderr}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.crt (signs server.crt for localhost + 127.0.0.1), other-ca.crt (unrelated), not-pem.crt."""
    folder = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        _openssl(folder, "req", "-x509", *_EC, "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2",
                 "-subj", f"/CN={ca} test", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl(folder, "req", "-new", *_EC, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost")
    (folder / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _openssl(folder, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-set_serial", "0x5eed", "-days", "2", "-extfile", "server.ext", "-out", "server.crt")
    (folder / "not-pem.crt").write_text("this is not a certificate\n")
    return folder


@pytest.fixture(scope="module")
def tls_cluster(pki: Path) -> Iterator[PgCluster]:
    """One cluster per module: ssl=on with the server cert; role pwuser needs a password."""
    cluster = start_pg_cluster(
        extra_conf={"ssl": "on", "ssl_cert_file": "'server.crt'", "ssl_key_file": "'server.key'"},
        files={"server.crt": (pki / "server.crt").read_bytes(), "server.key": (pki / "server.key").read_bytes()},
        hba=["host all pwuser 127.0.0.1/32 scram-sha-256"],
    )
    try:
        conn = psycopg2.connect(cluster.dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE pwuser LOGIN PASSWORD '{PASSWORD}'")
        conn.close()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def plain_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """Port of a local server with ssl=off: the session cluster, or one of our own."""
    if not os.environ.get(PG_DSN_ENV):
        yield int(request.getfixturevalue("postgres_dsn").rsplit(":", 1)[1].split("/")[0])
        return
    cluster = start_pg_cluster()
    try:
        yield cluster.port
    finally:
        cluster.stop()


def _kv(port: int, **extra: str) -> str:
    params = {"host": "localhost", "port": str(port), "user": "postgres", "dbname": "postgres", **extra}
    return " ".join(f"{k}={v}" for k, v in params.items())


def _connect_error(dsn: str) -> psycopg2.OperationalError:
    with pytest.raises(psycopg2.OperationalError) as caught:
        psycopg2.connect(dsn, connect_timeout=3).close()
    return caught.value


def _ssl_in_use(dsn: str) -> bool:
    conn = psycopg2.connect(dsn, connect_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            return cur.fetchone()[0]
    finally:
        conn.close()


# ---- (a) the right CA --------------------------------------------------------------------------
def test_right_ca_verify_full_connects_over_tls(tls_cluster: PgCluster, pki: Path) -> None:
    dsn = _kv(tls_cluster.port, sslmode="verify-full", sslrootcert=str(pki / "ca.crt"))
    contract = check_dsn_tls(dsn, production=True, environ={}, **TORGHUT)
    assert contract.verifies_server and contract.warnings == () and contract.sslrootcert_source == "dsn"
    assert _ssl_in_use(contract.connect_dsn) is True


def test_ca_from_env_var_is_added_to_url_dsn(tls_cluster: PgCluster, pki: Path) -> None:
    ca = pki / "ca.crt"
    dsn = f"postgresql://postgres@127.0.0.1:{tls_cluster.port}/postgres?sslmode=verify-full"
    contract = check_dsn_tls(dsn, production=True, environ={"TORGHUT_DB_SSLROOTCERT": str(ca)}, **TORGHUT)
    assert contract.sslrootcert == str(ca) and contract.sslrootcert_source == "TORGHUT_DB_SSLROOTCERT"
    assert contract.connect_dsn.startswith("postgresql://") and "sslrootcert=" in contract.connect_dsn
    assert _ssl_in_use(contract.connect_dsn) is True


# ---- (b) the wrong CA --------------------------------------------------------------------------
def test_wrong_ca_is_explained_with_env_var_and_sslrootcert(tls_cluster: PgCluster, pki: Path) -> None:
    other = str(pki / "other-ca.crt")
    dsn = _kv(tls_cluster.port, sslmode="verify-full", sslrootcert=other)
    contract = check_dsn_tls(dsn, production=True, environ={}, **TORGHUT)  # a readable PEM: passes
    exc = _connect_error(contract.connect_dsn)
    assert "SSL error: certificate verify failed" in str(exc)  # libpq 17's text
    text = explain_connect_error(exc, dsn, "TORGHUT_DB_SSLROOTCERT", name="TORGHUT_DB_DSN", environ={})
    assert f"the server's CA is not in sslrootcert={other}" in text
    assert "point TORGHUT_DB_SSLROOTCERT (or sslrootcert in TORGHUT_DB_DSN) at the cluster CA" in text


def test_require_with_a_ca_file_still_verifies_the_chain(tls_cluster: PgCluster, pki: Path) -> None:
    dsn = _kv(tls_cluster.port, sslmode="require", sslrootcert=str(pki / "other-ca.crt"))
    text = explain_connect_error(_connect_error(dsn), dsn, "TORGHUT_DB_SSLROOTCERT", environ={})
    assert "CA is not in sslrootcert=" in text


# ---- (c) plaintext and require refused in production ---------------------------------------------
@pytest.mark.parametrize("dsn, said", [
    ("postgresql://torghut:{pw}@db.internal:5432/torghut", "leaves sslmode unset (libpq default prefer)"),
    ("host=db.internal user=torghut password={pw} sslmode=disable", "uses sslmode=disable"),
    ("postgresql://torghut:{pw}@db.internal/torghut?sslmode=prefer", "uses sslmode=prefer"),
    ("host=db.internal user=torghut sslmode=allow password={pw}", "uses sslmode=allow"),
])
def test_plaintext_refused_in_production(dsn: str, said: str) -> None:
    with pytest.raises(DsnContractError) as caught:
        check_dsn_tls(dsn.format(pw=PASSWORD), production=True, environ={}, **TORGHUT)
    message = str(caught.value)
    assert message == (f"TORGHUT_DB_DSN {said}, which allows an unencrypted connection: set "
                       "sslmode=verify-full and sslrootcert=/path/to/cluster-ca.pem (or TORGHUT_DB_SSLROOTCERT)")
    assert PASSWORD not in message


def test_require_refused_in_production_with_the_exact_message(tls_cluster: PgCluster) -> None:
    dsn = _kv(tls_cluster.port, sslmode="require")
    assert _ssl_in_use(dsn) is True  # it would connect (encrypted, but unverified) ...
    with pytest.raises(DsnContractError) as caught:  # ... so the contract refuses it first
        check_dsn_tls(dsn, production=True, environ={}, **TORGHUT)
    assert str(caught.value) == (
        "TORGHUT_DB_DSN uses sslmode=require, which does not verify the server: set "
        "sslmode=verify-full and sslrootcert=/path/to/cluster-ca.pem (or TORGHUT_DB_SSLROOTCERT)")


def test_development_allows_anything_with_warnings() -> None:
    contract = check_dsn_tls(f"postgresql://u:{PASSWORD}@db:5432/x", production=False, environ={}, **TORGHUT)
    assert not contract.verifies_server and contract.sslmode == "prefer"
    assert any("allows an unencrypted connection" in w for w in contract.warnings)
    assert PASSWORD not in contract.redacted and PASSWORD not in repr(contract)


def test_pgsslmode_counts_and_is_pinned_into_the_connect_dsn(pki: Path) -> None:
    env = {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": str(pki / "ca.crt")}
    contract = check_dsn_tls("host=db.internal user=u", production=True, environ=env, **TORGHUT)
    assert contract.sslmode_source == "PGSSLMODE"
    assert "sslmode='verify-full'" in contract.connect_dsn and "sslrootcert=" in contract.connect_dsn


def test_unix_socket_needs_no_tls() -> None:
    contract = check_dsn_tls("postgresql:///torghut?host=/var/run/postgresql", production=True,
                             environ={}, **TORGHUT)
    assert contract.local_socket and any("Unix socket" in w for w in contract.warnings)


# ---- (d) host name mismatch --------------------------------------------------------------------
@pytest.mark.parametrize("host, san", [("wrong.example", "DNS:wrong.example"), ("127.0.0.2", "IP:127.0.0.2")])
def test_host_name_mismatch_explained(tls_cluster: PgCluster, pki: Path, host: str, san: str) -> None:
    dsn = (f"host={host} hostaddr=127.0.0.1 port={tls_cluster.port} user=postgres dbname=postgres "
           f"sslmode=verify-full sslrootcert={pki / 'ca.crt'}")
    exc = _connect_error(dsn)
    assert f'server certificate for "localhost" (and 1 other name) does not match host name "{host}"' in str(exc)
    text = explain_connect_error(exc, dsn, "TORGHUT_DB_SSLROOTCERT", name="TORGHUT_DB_DSN", environ={})
    assert f'certificate for "localhost" (and 1 other name), but TORGHUT_DB_DSN connects to host "{host}"' in text
    assert "host=localhost" in text and f"subjectAltName {san}" in text


# ---- (e) the CA file itself ----------------------------------------------------------------------
@pytest.mark.parametrize("ca, why", [("missing.crt", "does not exist"), (".", "is a folder, not a file"),
                                     ("not-pem.crt", "holds no PEM certificate")])
def test_bad_ca_file_is_a_contract_error(pki: Path, ca: str, why: str) -> None:
    path = os.path.normpath(pki / ca)
    with pytest.raises(DsnContractError) as caught:
        check_dsn_tls("host=db.internal sslmode=verify-full", production=True,
                      environ={"TORGHUT_DB_SSLROOTCERT": path}, **TORGHUT)
    message = str(caught.value)
    assert message.startswith(f"TORGHUT_DB_DSN: the CA file sslrootcert={path} (from TORGHUT_DB_SSLROOTCERT) {why}")
    assert message.endswith(": point TORGHUT_DB_SSLROOTCERT (or sslrootcert in TORGHUT_DB_DSN) at the "
                            "cluster CA certificate (PEM)")


def test_verify_full_without_any_ca_is_a_contract_error() -> None:
    with pytest.raises(DsnContractError, match="names no CA file: set sslrootcert=/path/to/cluster-ca.pem "
                       "in the DSN or TORGHUT_DB_SSLROOTCERT=/path/to/cluster-ca.pem"):
        check_dsn_tls("postgresql://u@db/x?sslmode=verify-full", production=True, environ={}, **TORGHUT)


def test_missing_and_non_pem_ca_explained_at_connect(tls_cluster: PgCluster, pki: Path) -> None:
    for ca, expect in ((pki / "missing.crt", "does not exist"), (pki / "not-pem.crt", "cannot be used")):
        dsn = _kv(tls_cluster.port, sslmode="verify-full", sslrootcert=str(ca))
        contract = check_dsn_tls(dsn, production=False, environ={}, **TORGHUT)  # dev: warned only
        assert contract.warnings
        text = explain_connect_error(_connect_error(dsn), dsn, "TORGHUT_DB_SSLROOTCERT", environ={})
        assert f"the CA file {ca} {expect}" in text and "TORGHUT_DB_SSLROOTCERT" in text


# ---- (f) server with TLS off -------------------------------------------------------------------
def test_server_with_ssl_off_explained(plain_port: int, pki: Path) -> None:
    dsn = _kv(plain_port, sslmode="verify-full", sslrootcert=str(pki / "ca.crt"))
    exc = _connect_error(dsn)
    assert "server does not support SSL, but SSL was required" in str(exc)
    text = explain_connect_error(exc, dsn, "TORGHUT_DB_SSLROOTCERT", name="TORGHUT_DB_DSN", environ={})
    assert "has TLS turned off (ssl = off), but TORGHUT_DB_DSN requires TLS (sslmode=verify-full)" in text
    assert "turn TLS on at the server" in text


# ---- other real libpq failures -------------------------------------------------------------------
def test_refused_timeout_password_and_database_explained(tls_cluster: PgCluster, pki: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        free = closed.getsockname()[1]
    cases = [(f"host=127.0.0.1 port={free} user=postgres", "nothing accepts connections at 127.0.0.1:"),
             (f"host=127.0.0.1 port={tls_cluster.port} user=pwuser password=wrong-{PASSWORD} dbname=postgres",
              'rejected the password for user "pwuser"'),
             (f"host=127.0.0.1 port={tls_cluster.port} user=pwuser dbname=postgres", "gives none"),
             (f"host=127.0.0.1 port={tls_cluster.port} user=postgres dbname=nope", 'has no database "nope"'),
             (f"host=127.0.0.1 port={tls_cluster.port} user=nobody dbname=postgres", 'no user (role) "nobody"')]
    for dsn, expect in cases:
        text = explain_connect_error(_connect_error(dsn), dsn, "TORGHUT_DB_SSLROOTCERT", environ={})
        assert expect in text and PASSWORD not in text, text
    silent = socket.socket()  # accepts and never answers: libpq's "timeout expired"
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    try:
        dsn = f"host=127.0.0.1 port={silent.getsockname()[1]} user=postgres connect_timeout=1"
        with pytest.raises(psycopg2.OperationalError) as caught:
            psycopg2.connect(dsn)
        assert "timeout expired" in str(caught.value)
        assert "did not answer within the connect timeout" in explain_connect_error(
            caught.value, dsn, "TORGHUT_DB_SSLROOTCERT", environ={})
    finally:
        for sock in (*held, silent):
            sock.close()


# ---- (g) doctor ------------------------------------------------------------------------------
def _store_url(port: int, **query: str) -> str:
    return with_params(f"postgresql://postgres@localhost:{port}/postgres", query)


def test_doctor_reports_a_bad_store_dsn_with_the_fix(tls_cluster: PgCluster, pki: Path, tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, bundle_store_dsn=_store_url(tls_cluster.port, sslmode="verify-full"))
    env = {"INTEL_ENV": "production", STORE_ENV: str(pki / "other-ca.crt")}
    results = run_doctor(settings, env, only=["environment", "bundle_store"])
    store = results[-1]
    assert [r.name for r in results] == ["environment", "bundle_store"] and not store.ok
    assert f"sslrootcert={pki / 'other-ca.crt'}" in store.detail
    assert f"point {STORE_ENV} (or sslrootcert in INTEL_BUNDLE_STORE_DSN) at the cluster CA" in store.fix
    assert exit_code(results) == 1 and "FAIL  bundle_store" in format_report(results)

    plain = load_settings(home=tmp_path, bundle_store_dsn=_store_url(tls_cluster.port, sslmode="require"))
    refused = run_doctor(plain, {"INTEL_ENV": "production"}, only=["bundle_store"])[0]
    assert not refused.ok and "does not verify the server" in refused.detail
    assert refused.fix.startswith("set sslmode=verify-full")


def test_doctor_reports_the_good_store_ok(tls_cluster: PgCluster, pki: Path, tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, bundle_store_dsn=_store_url(tls_cluster.port, sslmode="verify-full"))
    schema = f"torghut_{uuid.uuid4().hex[:8]}"
    torghut_dsn = _kv(tls_cluster.port, sslmode="verify-full",
                      options=f"'-csearch_path={schema}'")
    env = {"INTEL_ENV": "production", STORE_ENV: str(pki / "ca.crt"),
           "TORGHUT_DB_DSN": torghut_dsn, "TORGHUT_DB_SSLROOTCERT": str(pki / "ca.crt")}
    only = ["environment", "bundle_store", "torghut_db", "lean_runner"]
    # a database that answers but is not Torghut's: doctor says so now, not the first parity run
    empty = run_doctor(settings, env, only=only)[2]
    assert not empty.ok and "table trade_decisions does not exist" in empty.detail, empty
    assert "alembic upgrade head" in empty.fix
    with psycopg2.connect(_kv(tls_cluster.port, sslmode="verify-full",
                              sslrootcert=str(pki / "ca.crt"))) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    ThrowawayTorghutDb(f"{torghut_dsn} sslrootcert={pki / 'ca.crt'}").ensure_schema()
    results = run_doctor(settings, env, only=only)
    assert all(r.ok for r in results), format_report(results)
    assert results[-1].skipped and exit_code(results) == 0
    assert f"sslrootcert={pki / 'ca.crt'} (from {STORE_ENV})" in results[1].detail


def test_main_doctor_exit_code_and_report(tls_cluster: PgCluster, pki: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("INTEL_HOME", str(tmp_path))
    monkeypatch.setenv("INTEL_ENV", "production")
    monkeypatch.setenv("INTEL_BUNDLE_STORE_DSN", _store_url(tls_cluster.port, sslmode="verify-full"))
    monkeypatch.setenv(STORE_ENV, str(pki / "ca.crt"))
    assert main_doctor(["--only", "bundle_store"]) == 0
    assert "OK    bundle_store  PostgreSQL bundle store answers" in capsys.readouterr().out
    monkeypatch.setenv(STORE_ENV, str(pki / "missing.crt"))
    assert main_doctor(["--only", "bundle_store"]) == 1
    assert "does not exist" in capsys.readouterr().out


# ---- (h) serving fail-fast hook ----------------------------------------------------------------
def test_assert_store_contract_raises_in_production_for_plaintext(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, bundle_store_dsn=f"postgresql://intel:{PASSWORD}@db.internal/intel")
    with pytest.raises(DsnContractError) as caught:
        assert_store_contract(settings, {"INTEL_ENV": "production"})
    assert str(caught.value).startswith("INTEL_BUNDLE_STORE_DSN leaves sslmode unset")
    assert "INTEL_BUNDLE_STORE_SSLROOTCERT" in str(caught.value) and PASSWORD not in str(caught.value)
    assert assert_store_contract(settings, {}).warnings  # development: warned, not refused
    # The embedded default: the cluster's Unix socket, where libpq has no TLS: warned, not refused.
    embedded = assert_store_contract(load_settings(home=tmp_path), {"INTEL_ENV": "production"})
    assert embedded.local_socket and "local Unix socket" in embedded.warnings[0]
    sqlite = load_settings(home=tmp_path, embedded_postgres=False)
    assert assert_store_contract(sqlite, {"INTEL_ENV": "production"}) is None  # SQLite: no DSN


def test_store_connect_dsn_opens_the_store_over_verified_tls(tls_cluster: PgCluster, pki: Path,
                                                             tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, bundle_store_dsn=_store_url(tls_cluster.port, sslmode="verify-full"))
    env = {"INTEL_ENV": "production", STORE_ENV: str(pki / "ca.crt")}
    with BundleStore.from_dsn(store_connect_dsn(settings, env), max_connections=1) as store:
        store.ping()


def test_production_mode_values() -> None:
    assert production_mode({"INTEL_ENV": "production"}) and production_mode({"INTEL_ENV": " Production "})
    assert not production_mode({}) and not production_mode({"INTEL_ENV": "development"})
    with pytest.raises(DsnContractError, match="INTEL_ENV='prod' is not recognised"):
        production_mode({"INTEL_ENV": "prod"})


def test_with_params_quotes_key_value_and_url_forms() -> None:
    assert with_params("host=h", {"sslrootcert": "/a b/it's.pem"}) == r"host=h sslrootcert='/a b/it\'s.pem'"
    assert with_params("postgresql://u@h/d?x=1", {"sslrootcert": "/a b"}) == "postgresql://u@h/d?x=1&sslrootcert=/a%20b"
    parsed = psycopg2.extensions.parse_dsn(with_params("host=h", {"sslrootcert": "/a b/it's.pem"}))
    assert parsed["sslrootcert"] == "/a b/it's.pem"
