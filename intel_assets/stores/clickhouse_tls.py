"""Owns the ClickHouse TLS contract: INTEL_CLICKHOUSE_URL and INTEL_CLICKHOUSE_CA_FILE checked
the way dsn_contract.py checks PostgreSQL DSNs, and the client options that enforce it.

With INTEL_ENV=production a ClickHouse server is reached only over ``https://`` with the
server's certificate verified (host name included) against a readable PEM CA file:
INTEL_CLICKHOUSE_CA_FILE, or ``ca_cert=`` in the URL's query. ``http://``, ``verify=false``
and an https URL without a CA file are refused, each in one sentence naming what to write.
Outside production the same breaches are warnings. The embedded engine (``chdb://``) has no
network and so nothing to check.

The client options are what the check saw, given to clickhouse-connect explicitly: it takes
TLS from ``interface``/``secure``/the port, not from a DSN's scheme (1.12 connects to
``https://host:9000`` in plain HTTP), and lets a DSN's ``verify=`` query override keyword
arguments. So the URL's scheme becomes ``interface``, and ``verify``/``ca_cert`` are taken out
of the URL and passed as checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from intel_assets.settings import process_environment
from intel_assets.stores.redaction import redact_dsn
from intel_assets.stores.dsn_contract import DsnContractError, ca_file_problem, production_mode

if TYPE_CHECKING:  # settings has no dagster import either; typing only
    from intel_assets.settings import Settings

CLICKHOUSE_URL_ENV = "INTEL_CLICKHOUSE_URL"
CLICKHOUSE_CA_FILE_ENV = "INTEL_CLICKHOUSE_CA_FILE"
_CA_PATH = "/path/to/cluster-ca.pem"
_HTTPS_HINT = "https://<user>:<password>@<host>:8443"
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
# clickhouse-connect keywords that decide TLS; read here, never passed through from the URL.
_TLS_KEYS = ("verify", "ca_cert", "secure", "interface")


class ClickHouseTlsError(DsnContractError):
    """INTEL_CLICKHOUSE_URL / INTEL_CLICKHOUSE_CA_FILE break the TLS contract (one line: the
    problem, then what to write). A DsnContractError, so every caller that stops on a broken
    PostgreSQL DSN stops on this too."""


@dataclass(frozen=True)
class ClickHouseContract:
    """The checked ClickHouse URL: its TLS settings, warnings, and how to open the client."""

    redacted: str
    production: bool
    scheme: str  # "chdb", "http" or "https"
    verify: bool
    ca_file: str | None
    ca_source: str | None  # CLICKHOUSE_CA_FILE_ENV, "the URL (ca_cert=)" or None
    warnings: tuple[str, ...] = ()
    client_options: dict[str, Any] = field(default_factory=dict, repr=False)  # holds the password

    @property
    def embedded(self) -> bool:
        return self.scheme == "chdb"

    @property
    def verifies_server(self) -> bool:
        """True when the server's certificate is checked (or there is no network: embedded)."""
        return self.embedded or (self.scheme == "https" and self.verify)

    def describe(self) -> str:
        """One line for reports: where, and how the server is verified (never a password)."""
        if self.embedded:
            return f"{self.redacted} (embedded engine, no network: TLS does not apply)"
        if self.scheme == "http":
            return f"{self.redacted} (plain http: not encrypted)"
        if not self.verify:
            return f"{self.redacted} (https without certificate verification)"
        if self.ca_file is None:
            return f"{self.redacted} (https, certificate verified against the system's CA store)"
        return (f"{self.redacted} (https, certificate and host name verified against "
                f"{self.ca_file}, from {self.ca_source})")


def _flag(value: str, key: str, redacted: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE or (key == "verify" and text == "proxy"):
        return True
    if text in _FALSE:
        return False
    raise ClickHouseTlsError(f"{CLICKHOUSE_URL_ENV}={redacted} sets {key}={value!r}, which is "
                             "neither true nor false", f"write {key}=true or leave it out")


def check_clickhouse_tls(url: str, *, production: bool, ca_file: str | os.PathLike | None = None,
                         environ: Mapping[str, str] | None = None) -> ClickHouseContract:
    """Check a ClickHouse URL against the TLS contract; ClickHouseTlsError names the fix.

    ``ca_file`` (settings or the Dagster resource) wins over INTEL_CLICKHOUSE_CA_FILE in
    ``environ``; either wins over ``ca_cert=`` in the URL."""
    environ = process_environment() if environ is None else environ
    url = (url or "").strip()
    redacted = redact_dsn(url)
    if url.startswith("chdb://"):
        return ClickHouseContract(redacted, production, "chdb", True, None, None)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ClickHouseTlsError(
            f"{CLICKHOUSE_URL_ENV}={redacted!r} is not a ClickHouse HTTP URL",
            f"write {_HTTPS_HINT} (or chdb:///abs/path for the embedded engine)")
    query = parse_qsl(parts.query, keep_blank_values=True)
    given = {k.lower(): v for k, v in query if k.lower() in _TLS_KEYS}
    passed = [(k, v) for k, v in query if k.lower() not in _TLS_KEYS]
    if "interface" in given and given["interface"].strip().lower() != scheme:
        raise ClickHouseTlsError(
            f"{CLICKHOUSE_URL_ENV} says {scheme}:// but sets interface={given['interface']}",
            f"let the scheme decide: write {_HTTPS_HINT} and drop interface=")
    if "secure" in given and _flag(given["secure"], "secure", redacted) != (scheme == "https"):
        raise ClickHouseTlsError(
            f"{CLICKHOUSE_URL_ENV} says {scheme}:// but sets secure={given['secure']}",
            f"let the scheme decide: write {_HTTPS_HINT} and drop secure=")
    explicit = str(ca_file).strip() if ca_file is not None and str(ca_file).strip() else None
    if explicit:
        ca, ca_source = os.path.expanduser(explicit), CLICKHOUSE_CA_FILE_ENV
    elif environ.get(CLICKHOUSE_CA_FILE_ENV, "").strip():
        ca, ca_source = os.path.expanduser(environ[CLICKHOUSE_CA_FILE_ENV].strip()), CLICKHOUSE_CA_FILE_ENV
    elif given.get("ca_cert", "").strip():
        ca, ca_source = given["ca_cert"].strip(), "the URL (ca_cert=)"
    else:
        ca, ca_source = None, None
    verify = _flag(given["verify"], "verify", redacted) if "verify" in given else True
    fix_ca = f"set {CLICKHOUSE_CA_FILE_ENV}={_CA_PATH} (the CA that signed the server's certificate)"
    problems: list[tuple[str, str]] = []  # (problem, fix): errors in production, else warnings
    if scheme == "http":
        problems.append(((f"{CLICKHOUSE_URL_ENV} uses http://, which sends the password and "
                          "the market data unencrypted"), f"write {_HTTPS_HINT} and {fix_ca}"))
    elif not verify:
        problems.append(((f"{CLICKHOUSE_URL_ENV} sets verify={given['verify']}, which accepts "
                          "any server certificate"), f"drop verify= from {CLICKHOUSE_URL_ENV} and {fix_ca}"))
    elif ca is None:
        problems.append(((f"{CLICKHOUSE_URL_ENV} uses https:// but names no CA file, so the "
                          "server is checked against the system's CA store, not the cluster's CA"),
                         fix_ca))
    elif ca != "certifi":  # clickhouse-connect's name for certifi's public CA bundle
        problem = ca_file_problem(ca)
        if problem:
            where = ca_source if ca_source == CLICKHOUSE_CA_FILE_ENV else "ca_cert= in the URL"
            problems.append((f"the CA file {ca} ({where}) {problem}",
                             f"point {CLICKHOUSE_CA_FILE_ENV} at the cluster CA certificate (PEM)"))
    if production and problems:
        raise ClickHouseTlsError(*problems[0])
    notes = []
    if ca == "certifi" and scheme == "https":
        notes.append(f"{CLICKHOUSE_URL_ENV} trusts certifi's public CA bundle (ca_cert=certifi), "
                     f"not a private cluster CA: prefer {CLICKHOUSE_CA_FILE_ENV}")
    cleaned = urlunsplit((scheme, parts.netloc, parts.path, urlencode(passed), parts.fragment))
    options: dict[str, Any] = {"dsn": cleaned, "interface": scheme}
    if scheme == "https":
        options["verify"] = verify
        if ca is not None and verify:
            options["ca_cert"] = ca
    return ClickHouseContract(
        redacted=redacted, production=production, scheme=scheme, verify=verify and scheme == "https",
        ca_file=ca if scheme == "https" else None, ca_source=ca_source if scheme == "https" else None,
        warnings=tuple([f"{p}: {f}" for p, f in problems] + notes), client_options=options)


def clickhouse_contract(url: str, ca_file: str | os.PathLike | None = None,
                        environ: Mapping[str, str] | None = None) -> ClickHouseContract:
    """The contract for ``url`` in the mode INTEL_ENV sets (raises ClickHouseTlsError in
    production, DsnContractError for an unrecognised INTEL_ENV)."""
    environ = process_environment() if environ is None else environ
    return check_clickhouse_tls(url, production=production_mode(environ), ca_file=ca_file,
                                environ=environ)


def assert_clickhouse_contract(settings: Settings,
                               environ: Mapping[str, str] | None = None) -> ClickHouseContract:
    """Start-up hook: the configured ClickHouse's contract; raises ClickHouseTlsError."""
    return clickhouse_contract(settings.clickhouse_dsn, settings.clickhouse_ca_file, environ)


# ---- connect errors in plain words ------------------------------------------------------------
_MISMATCH = re.compile(r"(?:Hostname|IP address) mismatch, certificate is not valid for '([^']*)'|"
                       r"hostname '([^']*)' doesn't match '([^']*)'")


def diagnose_clickhouse_error(exc: BaseException, contract: ClickHouseContract) -> tuple[str, str] | None:
    """(problem, fix) for a TLS failure reaching the server, or None when it is not one."""
    text = " ".join(str(e) for e in _chain(exc))
    parts = urlsplit(contract.client_options.get("dsn", ""))
    where = f"{parts.hostname}:{parts.port or (8443 if contract.scheme == 'https' else 8123)}"
    ca = contract.ca_file or "the system's CA store"
    if m := _MISMATCH.search(text):
        host = m.group(1) or m.group(2)
        return ((f"TLS to {where} failed: the server's certificate is not issued for \"{host}\", "
                 "the host INTEL_CLICKHOUSE_URL names"),
                ("connect with a host name the certificate lists, or reissue the server "
                 f"certificate with subjectAltName for {host}"))
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (f"TLS to {where} failed: the server's certificate is not signed by a CA in {ca}",
                (f"point {CLICKHOUSE_CA_FILE_ENV} at the CA that signed the server's certificate "
                 "(if it is the right CA, check the certificate has not expired)"))
    if contract.scheme == "https" and ("WRONG_VERSION_NUMBER" in text or "wrong version number" in text
                                       or "record layer failure" in text):
        return (f"TLS to {where} failed: the server answers plain HTTP on that port, not HTTPS",
                "use the server's https_port (8443 by default) in INTEL_CLICKHOUSE_URL")
    return None


def _chain(exc: BaseException):
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        yield node
        node = node.__cause__ or node.__context__
