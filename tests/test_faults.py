"""The API database refusing writes: locked by another process, or full.

A push then answers 503 problem+json with Retry-After and stores nothing of
its batch; once the fault clears, the same push succeeds and the ERP's
totals equal those recomputed independently from the accepted lines.
"""

import sqlite3
from contextlib import closing, contextmanager

import pytest
from sqlalchemy import create_engine, event, func, select, text

from sync_api.commands.sync import make_worker
from sync_api.extensions import db
from sync_api.models import SalesLine, SalesLineRevision, SalesSource, SyncPending
from sync_api.services.keys import create_key
from tests.conftest import POSTGRESQL_URI
from tests.lines import batch, erp_view, expected_totals, line
from tests.test_health import assert_problem

on_sqlite_only = pytest.mark.skipif(
    bool(POSTGRESQL_URI), reason="a SQLite limit (PRAGMA max_page_count)"
)


@pytest.fixture
def client(erp_app):
    return erp_app.test_client()


@pytest.fixture
def writer(erp_app):
    with erp_app.app_context():
        token = create_key(db.session, "test", ["sales:write"], None).token
    return {"Authorization": f"Bearer {token}"}


def push(client, headers, source, lines):
    return client.post("/api/v1/sales", json=batch(source, *lines), headers=headers)


def ledger(app):
    "Every row a push writes, to show that a refused one wrote none"
    with app.app_context():
        return {
            model.__tablename__: db.session.execute(
                select(model.__table__).order_by(*model.__table__.primary_key)
            ).all()
            for model in (SalesLine, SalesLineRevision, SyncPending, SalesSource)
        }


def sync_and_compare(app, erp, source, accepted):
    with app.app_context():
        make_worker().run_once()
        assert db.session.scalar(select(func.count()).select_from(SyncPending)) == 0
    assert erp_view(erp.summaries(source)) == expected_totals(accepted)


@contextmanager
def on_connect(app, *statements):
    """Run statements on each new connection of the app's engine (after the
    API's own settings), for the duration of the block."""
    with app.app_context():
        engine = db.engine

    def run(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
        if not isinstance(dbapi_connection, sqlite3.Connection):
            # psycopg opens a transaction for the SETs: keep them, end it.
            dbapi_connection.commit()

    event.listen(engine, "connect", run)
    engine.dispose()
    try:
        yield
    finally:
        event.remove(engine, "connect", run)
        engine.dispose()


@contextmanager
def write_lock(app, database_uri):
    """Another process holding the write lock of the ledger: SQLite's
    database lock, or a PostgreSQL table lock; the API gives up waiting
    after a fraction of a second instead of its production timeout."""
    if database_uri.startswith("sqlite:///"):
        holder = sqlite3.connect(database_uri.removeprefix("sqlite:///"))
        with closing(holder), on_connect(app, "PRAGMA busy_timeout = 200"):
            holder.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                holder.rollback()
    else:
        engine = create_engine(database_uri)
        try:
            with (
                engine.connect() as holder,
                on_connect(app, "SET lock_timeout = '200ms'"),
            ):
                holder.execute(text("LOCK TABLE sales_source IN ACCESS EXCLUSIVE MODE"))
                try:
                    yield
                finally:
                    holder.rollback()
        finally:
            engine.dispose()


def test_locked_database_answers_503_and_stores_nothing(
    erp_app, client, writer, erp, database_uri
):
    first = [line("LK-1"), line("LK-2", customer="C0002")]
    assert push(client, writer, "locked", first).status_code == 200
    # New lines and a correction of a stored one: neither may half-land.
    second = [line("LK-3"), line("LK-1", revision=2, amount="10.00")]
    before = ledger(erp_app)

    with write_lock(erp_app, database_uri):
        response = push(client, writer, "locked", second)

        document = assert_problem(response, 503)
        assert "nothing was stored" in document["detail"]
        assert int(response.headers["Retry-After"]) > 0
    assert ledger(erp_app) == before

    retried = push(client, writer, "locked", second)

    assert retried.status_code == 200, retried.get_json()
    assert (retried.get_json()["inserted"], retried.get_json()["updated"]) == (1, 1)
    sync_and_compare(erp_app, erp, "locked", [first, second])


@on_sqlite_only
def test_full_database_answers_503_and_stores_nothing(
    erp_app, client, writer, erp, database_uri
):
    first = [line("DF-1"), line("DF-2", customer="C0002")]
    assert push(client, writer, "full", first).status_code == 200
    path = database_uri.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection:
        (pages,) = connection.execute("PRAGMA page_count").fetchone()
    # Enough lines to need many new pages, one of them a correction.
    second = [line(f"DF-{n}", product="P" * 100) for n in range(3, 503)]
    second.append(line("DF-1", revision=2, status="cancelled"))
    before = ledger(erp_app)

    # The database may not grow by more than a few pages.
    with on_connect(erp_app, f"PRAGMA max_page_count = {pages + 2}"):
        response = push(client, writer, "full", second)

        assert_problem(response, 503)
        assert int(response.headers["Retry-After"]) > 0
    assert ledger(erp_app) == before

    retried = push(client, writer, "full", second)

    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["inserted"] == 500
    sync_and_compare(erp_app, erp, "full", [first, second])
