"""Extension objects, unbound: ``create_app`` binds them to each app."""

import os
import sqlite3
from typing import Any

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase

from sync_api.config import MIGRATIONS_PATH

# Constraints get predictable names, so a migration can drop or alter them
# by name; SQLite batch migrations cannot touch unnamed constraints.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the API's tables; models subclass ``db.Model``.

    It lives here and not in ``models.py`` because ``db`` is built from it and
    ``models.py`` imports ``db``.
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# An absolute directory, so "flask db ..." works from any working directory.
# render_as_batch (Flask-Migrate's default, said here on purpose) lets
# ALTER on SQLite go through table copies.
migrate = Migrate(directory=str(MIGRATIONS_PATH), render_as_batch=True)


SQLITE_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")


@event.listens_for(Engine, "connect")
def tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Let the sync worker read while a push writes (WAL), and let a writer
    wait for the lock instead of failing at once (busy_timeout)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    # WAL with synchronous NORMAL is durable against a crash of the API, of
    # gunicorn or of the worker (a committed batch is in the WAL file, which
    # the OS keeps) and never corrupts the database; it skips the fsync of
    # every commit (about 7 ms here, paid while holding the write lock). Only
    # an OS crash or a power cut may lose the last commits, which a sender
    # answered 200 would not resend. Where that matters, set
    # CRM_API_SQLITE_SYNCHRONOUS=FULL (an fsync per pushed batch).
    synchronous = os.environ.get("CRM_API_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(
            f"CRM_API_SQLITE_SYNCHRONOUS={synchronous}: "
            f"one of {', '.join(SQLITE_SYNCHRONOUS)} expected."
        )
    cursor.execute(f"PRAGMA synchronous = {synchronous}")
    cursor.execute(f"PRAGMA wal_autocheckpoint = {wal_autocheckpoint()}")
    cursor.close()


def wal_autocheckpoint() -> int:
    """Pages the WAL may hold before a commit copies them into the database.

    SQLite's default, 1,000 pages (4 MB), is about what one pushed batch
    writes, so nearly every push paid a checkpoint: copying its pages and an
    fsync. With 10,000 pages (40 MB) a checkpoint comes every ten or so
    batches and copies each hot index page once for all of them. Readers
    are unaffected; the WAL file is that much larger on disk.
    """
    raw = os.environ.get("CRM_API_SQLITE_WAL_AUTOCHECKPOINT", "10000")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(
            f"CRM_API_SQLITE_WAL_AUTOCHECKPOINT={raw}: a number of pages "
            "(a whole number of at least 1) expected."
        )
    return int(raw)
