"""A throwaway PostgreSQL server for the tests: Debian's binaries (installed by
``scripts/system-packages.sh``, which ``make test`` runs), a new cluster in a temporary directory,
listening on 127.0.0.1 and a free port, stopped at the end of the session.

pytest-postgresql does the same but cannot run as root (PostgreSQL refuses to, and the plugin
has no option to run it as another user), and CI runs the tests as root: as root, the server
runs as the ``postgres`` user the Debian package creates.
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.live_server import free_port

START_SECONDS = 60


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.fail("PostgreSQL's server is not installed: run scripts/system-packages.sh (make test does)")
    return Path(found[-1]).parent


class PostgresServer:
    """A PostgreSQL cluster in ``root``, serving on 127.0.0.1:``port`` with trust authentication."""

    def __init__(self, root: Path):
        self.root, self.port, self.bin = root, free_port(), _binaries()
        self.user = "postgres" if os.geteuid() == 0 else None  # PostgreSQL will not run as root
        if self.user:
            account = pwd.getpwnam(self.user)
            os.chown(root, account.pw_uid, account.pw_gid)

    def _run(self, *command: str) -> None:
        subprocess.run([str(self.bin / command[0]), *command[1:]], check=True, user=self.user,
                       capture_output=True, timeout=START_SECONDS, cwd=self.root)

    def start(self) -> PostgresServer:
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run("pg_ctl", "start", "-D", str(data), "-w", "-t", str(START_SECONDS), "-l", str(self.root / "log"),
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-D", str(self.root / "data"), "-m", "fast", "-w")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """Create an empty database ``name``; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the whole test session (in a directory of its own under the
    system's temporary directory: pytest's are private to the user running the tests)."""
    root = Path(tempfile.mkdtemp(prefix="recommender-postgres-"))
    server = PostgresServer(root).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


_databases = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """An empty event store: a SQLite file, then a new database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.sqlite3'}"
    return request.getfixturevalue("postgres_server").new_database(f"test_{next(_databases)}")
