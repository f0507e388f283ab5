"""A throwaway PostgreSQL cluster for tests: Debian's postgresql binaries, ``initdb`` and
``pg_ctl`` run as the ``postgres`` user (PostgreSQL refuses to run as root) in a temporary
folder, listening on a free loopback port only, every step bounded in time, stopped and
removed at the end."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from shoplens.processes import free_port

STEP_TIMEOUT = 60  # seconds for initdb, a start or a stop


def binaries() -> Path | None:
    """The folder of initdb and pg_ctl (Debian keeps them off PATH, under /usr/lib/postgresql/N/bin)."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


class PostgresCluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir, self.port = bin_dir, free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="shoplens-postgres-"))  # not under pytest's root-only tmp
        self.data = self.folder / "data"
        self._names = itertools.count(1)

    def _run(self, *argv: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_postgres, *argv], check=True, timeout=STEP_TIMEOUT, capture_output=True)

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"),
                  "-o", options, "-w", "-t", str(STEP_TIMEOUT), "start")
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                          "-t", str(STEP_TIMEOUT), "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database in the cluster."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True, connect_timeout=10) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)
