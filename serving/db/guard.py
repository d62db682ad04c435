"""Is the database still the one the service started on, and can it take a write?

The hardening probe deleted the SQLite file under a running service: SQLite kept writing to the deleted
inode through its open descriptors, every write answered 201, and all of it was gone at the next start. A
read-only file (``chmod a-w``) fared no better: connections opened before kept writing, since a permission
check happens only at ``open``, and root ignores file modes anyway. So the service takes the database
file's identity (device, inode) when it starts and checks it, its write bits and its folder's around every
transaction (three ``stat`` calls, a few microseconds): a deleted, replaced or read-only database turns
writes, and ``/ready``, into 503 instead of being acknowledged and lost. A database server (PostgreSQL) has
no file to watch; there ``/ready`` makes a write (rolled back) to tell a read-only server from a writable
one."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from salesplan.serving.db.engine import WRITE, ping, run_with_timeout, sqlite_file

__all__ = ["DatabaseGuard", "FileIdentity"]

PROBE = "UPDATE alembic_version SET version_num = version_num"
"""A write that changes nothing, on a table every migrated database has; always rolled back."""


@dataclass(frozen=True)
class FileIdentity:
    device: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino)


def _writable(path: Path, st: os.stat_result) -> bool:
    """What the kernel would allow (read-only mounts too) and what the operator meant: root may write any
    file, so one without a single write bit counts as read-only for root as well."""
    return os.access(path, os.W_OK) and bool(st.st_mode & 0o222)


class DatabaseGuard:
    """Watches the database of ``engine``: :meth:`arm` at start, :meth:`problem` around each transaction,
    :meth:`readiness` for ``/ready`` and the start check."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.path = sqlite_file(engine.url)
        self.identity: FileIdentity | None = None

    def arm(self) -> None:
        """Remember which file the service runs on (SQLite files only; the file must exist)."""
        if self.path is not None:
            self.identity = FileIdentity.of(os.stat(self.path))

    def problem(self, write: bool = True) -> str | None:
        """Why the database may not be used now (deleted or replaced; for a ``write``, read-only too), or
        None. Cheap: no query. Reading a read-only file is fine (key checks only read)."""
        if self.path is None or self.identity is None:
            return None
        path = self.path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return (
                f"the database file {path} was deleted while the service ran; nothing is written until it is "
                "restored (or re-created with 'salesplan db upgrade') and the service restarted"
            )
        except OSError as exc:
            return f"the database file {path} cannot be checked: {exc.strerror or exc}"
        if FileIdentity.of(st) != self.identity:
            return (
                f"the database file {path} was replaced by another file while the service ran (inode "
                f"{self.identity.inode} → {st.st_ino}); restart the service to use the new one"
            )
        if not write:
            return None
        if not _writable(path, st):
            return f"the database file {path} is read-only; make it writable (chmod u+w) to accept changes"
        try:
            folder_st = os.stat(path.parent)
        except OSError as exc:
            return f"the folder of the database file {path} cannot be checked: {exc.strerror or exc}"
        if not _writable(path.parent, folder_st):
            return (
                f"the folder {path.parent} of the database file is read-only; SQLite writes its journal "
                "there: make it writable (chmod u+w)"
            )
        return None

    def readiness(self, timeout_s: float = 2.0) -> tuple[bool, str]:
        """``(ok, detail)`` for ``/ready`` and the start: the file still the one started on and writable,
        the database reachable and at head, and a rolled-back write accepted, all within ``timeout_s``."""
        problem = self.problem()
        if problem is not None:
            return False, problem
        ok, detail = ping(self.engine, timeout_s)
        if not ok:
            return ok, detail
        ok, written = run_with_timeout(self._probe_write, timeout_s, self.engine.dialect.name)
        return ok, f"{detail}, {written}" if ok else written

    def _probe_write(self) -> tuple[bool, str]:
        sqlite = self.engine.dialect.name == "sqlite"
        with self.engine.connect() as connection:
            driver = connection.connection.driver_connection
            if sqlite:
                assert isinstance(driver, sqlite3.Connection)
                driver.execute("PRAGMA busy_timeout = 1000")  # a probe does not queue behind a long write
            try:
                with connection.execution_options(**{WRITE: True}).begin() as trans:
                    if not sqlite:
                        connection.execute(text("SET LOCAL lock_timeout = '1s'"))
                    connection.execute(text(PROBE))
                    trans.rollback()
            except OperationalError as exc:
                if _busy(exc):
                    return True, "writable (another write holds the lock)"
                first = (str(exc.orig or exc).strip().splitlines() or [""])[0]
                return False, f"cannot write: {first}"
            finally:
                if sqlite:
                    assert isinstance(driver, sqlite3.Connection)
                    driver.execute("PRAGMA busy_timeout = 30000")
        return True, "writable"


def _busy(exc: OperationalError) -> bool:
    """A lock held by another writer (SQLite 'database is locked', PostgreSQL lock_not_available)."""
    return "database is locked" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "55P03"
