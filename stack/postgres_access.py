"""Passwordless loopback access to PostgreSQL for the launcher's role, and the usagestream database."""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import subprocess
from pathlib import Path

import asyncpg

from usagestream.stack.postgres_cluster import Target
from usagestream.stack.procs import StackError

MARK = "# usagestream"


async def ensure_database(target: Target) -> bool:
    """Make `target.database` exist, owned by `target.role`; True if it was created now.

    If the role cannot log in yet, create it (LOGIN CREATEDB) and trust it on loopback, as the superuser.
    """
    try:
        return await _ensure_database(target)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = f"{target.host}:{target.port} as role {target.role!r}"
        raise StackError(f"PostgreSQL at {where}: {exc}") from exc


async def _ensure_database(target: Target) -> bool:
    try:
        conn = await _connect(target)
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError):
        await asyncio.to_thread(grant_access, target)
        conn = await _connect(target)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target.database):
            return False
        await conn.execute(f"CREATE DATABASE {quote(target.database)}")
        return True
    finally:
        await conn.close()


async def _connect(target: Target) -> asyncpg.Connection:
    return await asyncpg.connect(host=target.host, port=target.port, user=target.role, database="postgres", timeout=10)


def grant_access(target: Target) -> None:
    """As the postgres superuser: a LOGIN CREATEDB role, and `trust` for it on 127.0.0.1 and ::1."""
    exists = _superuser_sql(target, f"SELECT 1 FROM pg_roles WHERE rolname = {literal(target.role)}")
    verb = "ALTER" if exists.strip() else "CREATE"
    _superuser_sql(target, f"{verb} ROLE {quote(target.role)} LOGIN CREATEDB")
    hba = Path(_superuser_sql(target, "SHOW hba_file").strip())
    if add_trust_lines(hba, target.role):
        _superuser_sql(target, "SELECT pg_reload_conf()")
        print(f"postgres: trusted role {target.role!r} on loopback in {hba} (lines marked {MARK!r})")


def add_trust_lines(hba: Path, role: str) -> bool:
    """Put `host all <role> 127.0.0.1/32 trust` (and ::1) first in pg_hba.conf, since the first match wins.

    Returns False if both lines were already there.
    """
    lines = hba.read_text().splitlines()
    present = {" ".join(line.split("#")[0].split()) for line in lines}
    wanted = [f"host all {role} {net} trust" for net in ("127.0.0.1/32", "::1/128")]
    missing = [f"{line} {MARK}" for line in wanted if line not in present]
    if not missing:
        return False
    rules = [i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    first_rule = rules[0] if rules else len(lines)
    hba.write_text("\n".join([*lines[:first_rule], *missing, *lines[first_rule:]]) + "\n")
    return True


def _superuser_sql(target: Target, sql: str) -> str:
    """Run one statement through psql over the Unix socket as the `postgres` OS user (peer authentication)."""
    argv = ["psql", "-X", "-q", "-At", "-p", str(target.port), "-d", "postgres", "-c", sql]
    argv = [*as_postgres(), *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(
            f"could not give role {target.role!r} access to PostgreSQL ({done.stderr.strip()}); "
            f"as a superuser: CREATE ROLE {quote(target.role)} LOGIN CREATEDB, and trust it in pg_hba.conf"
        )
    return done.stdout


def as_postgres() -> list[str]:
    """The prefix that runs a command as the `postgres` OS user (nothing if we are that user)."""
    if getpass.getuser() == "postgres":
        return []
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"]
    return ["sudo", "-n", "-u", "postgres", "--"]


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
