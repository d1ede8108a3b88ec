"""Owns throwaway PostgreSQL clusters for tests, benchmarks and `intel-assets parity`.

Starts the machine's PostgreSQL server binaries (initdb/pg_ctl) in a folder of its own on
127.0.0.1 and a free port, as the `postgres` OS user when running as root (the server refuses
root). About 1-2 s to start; `stop()` removes everything.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from intel_assets.devtools.http_stub import free_port


class PostgresUnavailableError(RuntimeError):
    """No server binaries or no user to run them: a cluster cannot be started here."""


class PostgresStartError(RuntimeError):
    """initdb or pg_ctl failed; the message carries their output and the server log's tail."""


def pg_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl (pg_config's, else the newest Debian one)."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


@dataclass
class PgCluster:
    """A running throwaway PostgreSQL cluster: TCP on 127.0.0.1:port, socket in `folder`."""

    port: int
    folder: Path
    data: Path
    log: Path
    bindir: Path
    prefix: list[str] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        """Superuser DSN (trust authentication) for the `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        """Create database `name`; return its DSN."""
        import psycopg2

        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self, remove: bool = True) -> None:
        """Stop the server (immediate) and delete its folder unless `remove` is False."""
        subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data),
                        "-m", "immediate"], cwd=self.folder, capture_output=True)
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "PgCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_pg_cluster(tmp: Path | None = None, extra_conf: dict[str, str] | None = None,
                     files: dict[str, bytes | str] | None = None,
                     hba: list[str] | None = None, durable: bool = False) -> PgCluster:
    """Start a throwaway cluster; call .stop() (or use it as a context manager).

    `tmp`: an empty folder to hold the cluster, or None for a new temporary one.
    `extra_conf`: postgresql.conf settings ({"ssl": "on"}; values written as given, so quote
    strings: {"ssl_cert_file": "'server.crt'"}). `files`: written into the data folder, owned by
    the server's user, mode 0600 (e.g. {"server.key": pem}). `hba`: pg_hba.conf lines placed
    before initdb's trust lines. `durable`: keep fsync on (benchmarks); off is faster for tests.
    """
    bindir = pg_bindir()
    if bindir is None:
        raise PostgresUnavailableError(
            "no PostgreSQL server binaries (initdb, pg_ctl) were found; install them "
            "(Debian: apt-get install postgresql)")
    prefix: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="intel-pg-")) if tmp is None else Path(tmp)
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        try:
            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise PostgresUnavailableError(
                "running as root and there is no 'postgres' OS user to run the server") from None
        owner = (pg_user.pw_uid, pg_user.pw_gid)
        os.chown(tmp, *owner)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log, port = tmp / "data", tmp / "server.log", free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            shutil.rmtree(tmp, ignore_errors=True)
            raise PostgresStartError(f"{' '.join(args[:2])} failed ({proc.returncode}): "
                                     f"{proc.stdout}{proc.stderr}\n{server_log}")

    run(str(bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "UTF8",
        *([] if durable else ["--no-sync"]))
    for name, content in (files or {}).items():
        path = data / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(0o600)
        if owner is not None:
            os.chown(path, *owner)
    if extra_conf:
        with open(data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in extra_conf.items())
    if hba:
        hba_path = data / "pg_hba.conf"
        hba_path.write_text("\n".join(hba) + "\n" + hba_path.read_text())
    options = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    run(str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options)
    return PgCluster(port=port, folder=tmp, data=data, log=log, bindir=bindir, prefix=prefix)
