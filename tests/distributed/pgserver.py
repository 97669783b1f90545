"""A temporary PostgreSQL server: ``initdb`` into a temporary folder, started on a free loopback port, stopped
and removed on exit. Used by the tests' fixture (conftest.py) and by ``benchmarks/scale.py``.

Debian's ``postgresql`` package provides the binaries (``scripts/ensure-postgres.sh`` installs it; ``make test``
runs that script). ``initdb`` and ``postgres`` refuse to run as root: when run as root, the cluster belongs to
the system user ``nobody`` (every command through ``runuser -u nobody``), in a folder under /tmp that
``nobody`` owns; otherwise it belongs to the current user. Authentication is ``trust`` on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

USER = "descent"  # the cluster's superuser, named by the URL


class NoPostgres(RuntimeError):
    pass


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        raise NoPostgres("PostgreSQL's initdb is missing: run `bash scripts/ensure-postgres.sh` (make test does) "
                         "or install Debian's postgresql package")
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def temporary_server() -> Iterator[str]:
    """The URL of a running server, ``postgresql://descent@127.0.0.1:PORT`` (no database named)."""
    bindir = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="descent-postgres-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        as_owner = ["runuser", "-u", "nobody", "--"]
    data, port = folder / "data", _free_port()

    def run(*argv: object) -> None:
        done = subprocess.run([*as_owner, *map(str, argv)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise NoPostgres(f"{Path(str(argv[0])).name} failed: {done.stderr[-1500:]}")

    try:
        run(bindir / "initdb", "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        run(bindir / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60", "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", "start")
        yield f"postgresql://{USER}@127.0.0.1:{port}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server: str, name: str) -> str:
    """A new, empty database ``name`` on ``server``; its URL."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}"')
        con.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"
