"""Fixtures shared by the test suite.

The Tryton module's tests live in this folder too: nothing here may import
trytond, so the API's tests run without it.
"""

import os
import sys
from pathlib import Path

import pytest

# pytest puts tests/ on sys.path, not the repository root: without this, the
# API's packages import only after "pip install -e .".
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from sync_api import create_app  # noqa: E402
from sync_api.extensions import db  # noqa: E402
from sync_api.services.keys import create_key  # noqa: E402
from tests.erp_server import ErpServer  # noqa: E402

# Set by "make test-api-postgresql" (postgresql://user:pw@host:port/):
# the API's database is then a PostgreSQL database of that server.
POSTGRESQL_URI = os.environ.get("CRM_API_TEST_POSTGRESQL_URI")
POSTGRESQL_DATABASE = "sync_api_test"


@pytest.fixture(scope="session")
def postgresql_database_uri():
    """A database of its own on the test cluster, made once per run."""
    server = POSTGRESQL_URI.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(
        server.rstrip("/") + "/postgres", isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {POSTGRESQL_DATABASE}"))
        connection.execute(text(f"CREATE DATABASE {POSTGRESQL_DATABASE}"))
    engine.dispose()
    return server.rstrip("/") + "/" + POSTGRESQL_DATABASE


@pytest.fixture
def database_uri(request, tmp_path):
    """A database of the test's own: a SQLite file removed with its
    temporary folder, or the PostgreSQL test database emptied first."""
    if not POSTGRESQL_URI:
        return f"sqlite:///{tmp_path / 'sync_api.sqlite'}"
    uri = request.getfixturevalue("postgresql_database_uri")
    engine = create_engine(uri)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return uri


@pytest.fixture(scope="session")
def golden(tmp_path_factory):
    """The ERP with the golden data set of the reports
    (fixtures/golden_reports.py), built once per run and shared by the files
    that read reports from it."""
    from tests.erp_server import ErpServer

    server = ErpServer(tmp_path_factory.mktemp("golden"))
    server.build_golden()
    server.start()
    yield server
    server.drop()


@pytest.fixture
def app(database_uri):
    """The API on TestConfig, its tables made from the models.

    The tables come from ``db.create_all()``, which is faster than running the
    migrations; tests/test_migrations.py proves both give the same schema.
    """
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_uri})
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        # Close pooled connections now rather than when garbage collected.
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_key(app):
    """Make an API key; return its bearer header."""

    def make(*scopes, source=None):
        with app.app_context():
            token = create_key(db.session, "test", list(scopes), source).token
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture(scope="session")
def erp(tmp_path_factory):
    """A real trytond with crm_module on a free loopback port, built once
    per run (about half a minute) with the demo company and customers."""
    server = ErpServer(tmp_path_factory.mktemp("erp"))
    server.build()
    server.start()
    yield server
    server.drop()


def make_erp_api(database_uri, erp, **settings):
    """The API on database_uri pointed at a test ERP (its sync key, and its
    finance user's reports key), its tables made; settings override."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "ERP_URL": erp.url,
            "ERP_DATABASE": erp.database,
            "ERP_KEY": erp.key,
            "ERP_REPORTS_KEY": erp.reports_key,
            "ERP_TIMEOUT_SECONDS": 10.0,
            **settings,
        }
    )
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def erp_app(database_uri, erp):
    """The API pointed at the test ERP."""
    app = make_erp_api(
        database_uri,
        erp,
        SYNC_BACKOFF_SECONDS=0.1,
        SYNC_MAX_BACKOFF_SECONDS=0.5,
        SYNC_POLL_SECONDS=0.05,
    )
    yield app
    with app.app_context():
        db.engine.dispose()
