"""Owns the PostgreSQL TLS contract: DSN checks, plain-words connect errors, serving's fail-fast hook."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import quote

from intel_assets.settings import process_environment
from intel_assets.stores.redaction import redact_dsn

if TYPE_CHECKING:  # settings has no dagster import either; typing only
    from intel_assets.settings import Settings

# INTEL_ENV=production refuses a PostgreSQL DSN unless it verifies the server: sslmode=verify-full
# (or verify-ca) and a readable PEM CA in sslrootcert, from the DSN or from the DSN's *_SSLROOTCERT
# variable (then added to the connect parameters). Development (unset) accepts anything, with
# warnings. libpq never uses TLS over a local Unix socket, so such DSNs pass with a note.
ENV_VAR = "INTEL_ENV"
BUNDLE_STORE_DSN_ENV = "INTEL_BUNDLE_STORE_DSN"
BUNDLE_STORE_SSLROOTCERT_ENV = "INTEL_BUNDLE_STORE_SSLROOTCERT"
TORGHUT_DB_DSN_ENV = "TORGHUT_DB_DSN"
TORGHUT_DB_SSLROOTCERT_ENV = "TORGHUT_DB_SSLROOTCERT"
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
VERIFYING = ("verify-ca", "verify-full")
PLAINTEXT = ("disable", "allow", "prefer")
_PRODUCTION = ("production",)
_DEVELOPMENT = ("", "development", "dev", "test", "local")
_CA_PATH = "/path/to/cluster-ca.pem"


class DsnContractError(ValueError):
    """A DSN that breaks the TLS contract; the message names the variable and what to change."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(f"{problem}: {fix}" if fix else problem)
        self.problem, self.fix = problem, fix


@dataclass(frozen=True)
class DsnContract:
    """The checked DSN: effective TLS settings, warnings, and the DSN to connect with."""

    name: str
    redacted: str
    production: bool
    sslmode: str
    sslmode_source: str  # "dsn", "PGSSLMODE" or "libpq default"
    sslrootcert: str | None
    sslrootcert_source: str | None  # "dsn", the variable it came from, or None
    local_socket: bool
    warnings: tuple[str, ...] = ()
    connect_dsn: str = field(default="", repr=False)  # may hold a password: never log it

    @property
    def verifies_server(self) -> bool:
        """True when libpq will check the server certificate (or TLS does not apply: socket)."""
        return self.local_socket or self.sslmode in VERIFYING

    def describe(self) -> str:
        """One line for reports: where, which mode, which CA (never a password)."""
        if self.local_socket:
            return f"{self.redacted} (local Unix socket; TLS does not apply)"
        ca = f", sslrootcert={self.sslrootcert} (from {self.sslrootcert_source})" if self.sslrootcert else ""
        return f"{self.redacted} (sslmode={self.sslmode}{ca})"


def production_mode(environ: Mapping[str, str] | None = None) -> bool:
    """True when INTEL_ENV=production; unset/development/dev/test/local is development."""
    value = (process_environment() if environ is None else environ).get(ENV_VAR, "").strip().lower()
    if value in _PRODUCTION:
        return True
    if value in _DEVELOPMENT:
        return False
    raise DsnContractError(
        f"{ENV_VAR}={value!r} is not recognised", f"write {ENV_VAR}=production (TLS to databases "
        f"enforced) or {ENV_VAR}=development (or leave it unset)"
    )


def _parse(dsn: str, name: str) -> dict[str, str]:
    import psycopg2
    import psycopg2.extensions

    if not isinstance(dsn, str) or not dsn.strip():
        raise DsnContractError(f"{name} is empty", "write postgresql://user@host:5432/dbname"
                               f"?sslmode=verify-full&sslrootcert={_CA_PATH}")
    try:
        return psycopg2.extensions.parse_dsn(dsn.strip())
    except psycopg2.ProgrammingError as exc:
        reason = (str(exc).strip().splitlines() or ["unparseable"])[0]
        raise DsnContractError(
            f"{name}={redact_dsn(dsn)!r} is not a PostgreSQL connection string ({reason})",
            f"write postgresql://user@host:5432/dbname?sslmode=verify-full&sslrootcert={_CA_PATH}",
        ) from None


def is_local_socket(params: Mapping[str, str], environ: Mapping[str, str]) -> bool:
    if params.get("hostaddr") or environ.get("PGHOSTADDR"):
        return False
    hosts = (params.get("host") or environ.get("PGHOST") or "").split(",")
    return all(not h.strip() or h.strip().startswith(("/", "@")) for h in hosts)


def _ca_file_problem(path: str) -> str | None:
    """Why `path` cannot serve as libpq's sslrootcert, or None: 'system' (libpq 16+) or a file
    holding a PEM certificate."""
    if path == "system":
        import psycopg2.extensions

        if psycopg2.extensions.libpq_version() < 160000:
            return "is 'system', which needs libpq 16 or newer (this one is older)"
        return None
    return ca_file_problem(path)


def ca_file_problem(path: str) -> str | None:
    """Why `path` cannot serve as a CA file, or None when it holds a PEM certificate (the
    PostgreSQL and ClickHouse TLS contracts both ask this)."""
    if not os.path.exists(path):
        return "does not exist"
    if os.path.isdir(path):
        return "is a folder, not a file"
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 20)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if b"-----BEGIN CERTIFICATE-----" not in head:
        return "holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)"
    return None


def with_params(dsn: str, extra: Mapping[str, str]) -> str:
    """dsn plus connect parameters, in the DSN's own form (URL query or key=value)."""
    if not extra:
        return dsn
    if dsn.startswith(("postgresql://", "postgres://")):
        query = "&".join(f"{k}={quote(v, safe='/')}" for k, v in extra.items())
        return f"{dsn}{'&' if '?' in dsn else '?'}{query}"
    quoted = " ".join(f"{k}='" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for k, v in extra.items())
    return f"{dsn} {quoted}"


def check_dsn_tls(dsn: str, *, name: str, production: bool, sslrootcert_env: str,
                  environ: Mapping[str, str] | None = None) -> DsnContract:
    """Check a PostgreSQL DSN against the TLS contract; DsnContractError names the fix."""
    environ = process_environment() if environ is None else environ
    params = _parse(dsn, name)
    dsn = dsn.strip()
    redacted = redact_dsn(dsn)
    fix_ca = f"sslrootcert={_CA_PATH} (or {sslrootcert_env})"
    if params.get("sslmode"):
        mode, mode_source = params["sslmode"].strip().lower(), "dsn"
    elif environ.get("PGSSLMODE"):
        mode, mode_source = environ["PGSSLMODE"].strip().lower(), "PGSSLMODE"
    elif params.get("requiressl", "").strip() == "1":
        mode, mode_source = "require", "dsn"
    else:
        mode, mode_source = "prefer", "libpq default"
    if mode not in SSLMODES:
        raise DsnContractError(f"{name} sets sslmode={mode}, which libpq does not know",
                               f"write one of {', '.join(SSLMODES)} (production needs verify-full)")
    extra: dict[str, str] = {}
    if params.get("sslrootcert"):
        ca, ca_source = params["sslrootcert"], "dsn"
    elif environ.get(sslrootcert_env, "").strip():
        ca, ca_source = environ[sslrootcert_env].strip(), sslrootcert_env
        extra["sslrootcert"] = ca
    elif environ.get("PGSSLROOTCERT", "").strip():
        ca, ca_source = environ["PGSSLROOTCERT"].strip(), "PGSSLROOTCERT"
        extra["sslrootcert"] = ca
    else:
        ca, ca_source = None, None
    local = is_local_socket(params, environ)
    problems: list[tuple[str, str]] = []  # (problem, fix): errors in production, else warnings
    notes: list[str] = []  # always warnings
    said = "leaves sslmode unset (libpq default prefer)" if mode_source == "libpq default" else (
        f"uses sslmode={mode}" + (" (from PGSSLMODE)" if mode_source == "PGSSLMODE" else ""))
    if local:
        notes.append(f"{name} connects over a local Unix socket, where libpq does not use TLS")
    elif mode in PLAINTEXT:
        problems.append((f"{name} {said}, which allows an unencrypted connection",
                         f"set sslmode=verify-full and {fix_ca}"))
    elif mode == "require":
        problems.append((f"{name} {said}, which does not verify the server",
                         f"set sslmode=verify-full and {fix_ca}"))
    else:
        if mode == "verify-ca":
            notes.append(f"{name} uses sslmode=verify-ca, which checks the CA but not the server's "
                         "host name: prefer sslmode=verify-full")
        if ca is None:
            problems.append((f"{name} uses sslmode={mode} but names no CA file",
                             f"set sslrootcert={_CA_PATH} in the DSN or {sslrootcert_env}={_CA_PATH}"))
        else:
            problem = _ca_file_problem(ca)
            origin = "in the DSN" if ca_source == "dsn" else f"from {ca_source}"
            if problem:
                problems.append((f"{name}: the CA file sslrootcert={ca} ({origin}) {problem}",
                                 f"point {sslrootcert_env} (or sslrootcert in {name}) at the "
                                 "cluster CA certificate (PEM)"))
            elif ca == "system" and mode != "verify-full":
                problems.append((f"{name} uses sslrootcert=system with sslmode={mode}",
                                 "set sslmode=verify-full (libpq allows sslrootcert=system only then)"))
    if production and problems:
        raise DsnContractError(*problems[0])
    if production and mode_source == "PGSSLMODE":
        extra["sslmode"] = mode  # connect with exactly what was checked
    return DsnContract(
        name=name, redacted=redacted, production=production, sslmode=mode,
        sslmode_source=mode_source, sslrootcert=ca, sslrootcert_source=ca_source,
        local_socket=local, warnings=tuple([f"{p}: {f}" for p, f in problems] + notes),
        connect_dsn=with_params(dsn, extra),
    )


def is_postgres_dsn(dsn: str | None) -> bool:
    """True for postgresql:// and postgres:// URLs (the bundle store's PostgreSQL forms)."""
    return bool(dsn) and dsn.strip().startswith(("postgresql://", "postgres://"))  # type: ignore[union-attr]


def assert_store_contract(settings: "Settings",
                          environ: Mapping[str, str] | None = None) -> DsnContract | None:
    """Serving start-up hook: the bundle store's contract (None for SQLite); raises DsnContractError."""
    environ = process_environment() if environ is None else environ
    dsn = settings.store_dsn
    if not is_postgres_dsn(dsn):
        return None
    return check_dsn_tls(dsn, name=BUNDLE_STORE_DSN_ENV, production=production_mode(environ),
                         sslrootcert_env=BUNDLE_STORE_SSLROOTCERT_ENV, environ=environ)


def store_connect_dsn(settings: "Settings", environ: Mapping[str, str] | None = None) -> str:
    """The DSN to open the bundle store with: the checked one plus sslrootcert from the env var."""
    contract = assert_store_contract(settings, environ)
    return settings.store_dsn if contract is None else contract.connect_dsn


def connect_dsn_for_store(dsn: str, environ: Mapping[str, str] | None = None) -> str:
    """The same for a DSN given as is (a resource resolving INTEL_BUNDLE_STORE_DSN at run time):
    SQLite unchanged, PostgreSQL checked against the contract (raises DsnContractError)."""
    if not is_postgres_dsn(dsn):
        return dsn
    environ = process_environment() if environ is None else environ
    return check_dsn_tls(dsn, name=BUNDLE_STORE_DSN_ENV, production=production_mode(environ),
                         sslrootcert_env=BUNDLE_STORE_SSLROOTCERT_ENV,
                         environ=environ).connect_dsn


# ---- connect errors in plain words ------------------------------------------------------------
_AT = re.compile(r'connection to server at "([^"]*)"(?: \(([^)]*)\))?, port (\d+) failed')
_VERIFY = re.compile(r"certificate verify failed(?::\s*([^\n]+))?")
_MISMATCH = re.compile(r'server certificate for "([^"]*)"(?: \(and (\d+) other names?\))? '
                       r'does not match host name "([^"]*)"')
_NO_ROOT = re.compile(r'root certificate file "([^"]*)" does not exist')
_BAD_ROOT = re.compile(r'could not read root certificate file "([^"]*)": ([^\n]+)')
_HBA = re.compile(r'(?:pg_hba\.conf rejects connection|no pg_hba\.conf entry) for host "([^"]*)", '
                  r'user "([^"]*)", database "([^"]*)", (no encryption|SSL encryption|GSS encryption)')


def _libpq_text(exc: BaseException) -> str:
    """The psycopg2 message in exc or its cause/context chain (wrapped errors), else str(exc)."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if type(node).__module__.startswith("psycopg2"):
            return str(node)
        node = node.__cause__ or node.__context__
    return str(exc)


def diagnose_connect_error(exc: BaseException, dsn: str, sslrootcert_env: str, *,
                           name: str = "the DSN",
                           environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(problem, fix) in plain words for a failed PostgreSQL connect; never holds a password."""
    environ = process_environment() if environ is None else environ
    text = _libpq_text(exc)
    try:
        params: dict[str, Any] = _parse(dsn, name)
    except DsnContractError:
        params = {}
    if params.get("password"):
        text = text.replace(params["password"], "***")
    found = _AT.search(text)
    if found:
        where = f"{found.group(1)}{f' ({found.group(2)})' if found.group(2) else ''}:{found.group(3)}"
    else:
        host = params.get("host") or params.get("hostaddr") or "local socket"
        where = f"{host}:{params.get('port') or 5432}"
    ca = (params.get("sslrootcert") or environ.get(sslrootcert_env) or environ.get("PGSSLROOTCERT")
          or "~/.postgresql/root.crt (libpq's default; none was set)")
    mode = params.get("sslmode") or environ.get("PGSSLMODE") or "prefer"
    point = f"point {sslrootcert_env} (or sslrootcert in {name}) at the cluster CA certificate (PEM)"
    if m := _VERIFY.search(text):
        detail = f" ({m.group(1).strip()})" if m.group(1) else ""
        return (f"TLS to {where} failed: the server's certificate is not signed by a CA in "
                f"sslrootcert={ca}{detail}, so libpq cannot trust it",
                f"the server's CA is not in sslrootcert={ca}; {point} (the CA that signed the "
                "server certificate; if it is the right CA, check the certificate has not expired)")
    if m := _MISMATCH.search(text):
        cert_name, others, host = m.group(1), m.group(2), m.group(3)
        also = f" (and {others} other name{'s' if others != '1' else ''})" if others else ""
        san = f"IP:{host}" if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", host) else f"DNS:{host}"
        return (f"the server at {where} presented a certificate for \"{cert_name}\"{also}, but {name} "
                f"connects to host \"{host}\", so sslmode=verify-full refuses it",
                f"connect with a host name the certificate lists (e.g. host={cert_name} in {name}), "
                f"or reissue the server certificate with subjectAltName {san}")
    if "server does not support SSL, but SSL was required" in text:
        return (f"the PostgreSQL server at {where} has TLS turned off (ssl = off), but {name} "
                f"requires TLS (sslmode={mode})",
                "turn TLS on at the server (ssl = on, ssl_cert_file and ssl_key_file in "
                "postgresql.conf, then reload); do not lower sslmode")
    if m := _NO_ROOT.search(text):
        return (f"the CA file {m.group(1)} does not exist, so libpq cannot verify {where}",
                f"{point}, e.g. {sslrootcert_env}={_CA_PATH}")
    if m := _BAD_ROOT.search(text):
        return (f"the CA file {m.group(1)} cannot be used ({m.group(2).strip()})",
                f"{point}; it must hold the CA certificate in PEM form")
    if "received invalid response to SSL negotiation" in text or "received unencrypted data" in text:
        return (f"something that is not a PostgreSQL server answered at {where}",
                f"check the host and port in {name} (PostgreSQL usually listens on 5432)")
    if "Connection refused" in text:
        return (f"nothing accepts connections at {where} (connection refused)",
                f"check that PostgreSQL is running there and that the host and port in {name} "
                "are right (listen_addresses, firewall)")
    if "timeout expired" in text:
        return (f"{where} did not answer within the connect timeout",
                f"check the host in {name} is reachable from here (network, firewall, security "
                "group) and that the server is up")
    if m := re.search(r'could not translate host name "([^"]*)" to address: ([^\n]+)', text):
        return (f"the host name \"{m.group(1)}\" cannot be resolved ({m.group(2).strip()})",
                f"fix the host in {name} or the DNS entry for it")
    if m := re.search(r'password authentication failed for user "([^"]*)"', text):
        return (f"the server at {where} rejected the password for user \"{m.group(1)}\"",
                f"put the right password in {name} (or PGPASSWORD / ~/.pgpass) for that user")
    if "no password supplied" in text:
        return (f"the server at {where} asks for a password and {name} gives none",
                f"add the password to {name} (or PGPASSWORD / ~/.pgpass)")
    if m := re.search(r'database "([^"]*)" does not exist', text):
        return (f"the server at {where} has no database \"{m.group(1)}\"",
                f"create it (CREATE DATABASE \"{m.group(1)}\") or fix the database name in {name}")
    if m := re.search(r'role "([^"]*)" does not exist', text):
        return (f"the server at {where} has no user (role) \"{m.group(1)}\"",
                f"create the role or fix the user name in {name}")
    if m := _HBA.search(text):
        host, user, db, enc = m.groups()
        if enc == "no encryption":
            return (f"the server at {where} refuses user \"{user}\" on database \"{db}\" from {host} "
                    "without TLS", f"connect with TLS: set sslmode=verify-full and sslrootcert="
                    f"{_CA_PATH} (or {sslrootcert_env}) in {name}")
        return (f"the server at {where} has no pg_hba.conf rule admitting user \"{user}\" on "
                f"database \"{db}\" from {host} ({enc})",
                "ask the DBA for a hostssl line in pg_hba.conf for that user, database and address")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return (f"cannot connect to {where}: {first}", f"check {name} and that the server is reachable")


def explain_connect_error(exc: BaseException, dsn: str, sslrootcert_env: str, *,
                          name: str = "the DSN", environ: Mapping[str, str] | None = None) -> str:
    """A failed PostgreSQL connect in plain words, ending with the fix."""
    problem, fix = diagnose_connect_error(exc, dsn, sslrootcert_env, name=name, environ=environ)
    return f"{problem}. Fix: {fix}"
