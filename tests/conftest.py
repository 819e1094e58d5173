"""Fixtures shared by the test suite.

The Tryton module's tests live in this folder too: nothing here may import
trytond, so the API's tests run without it.
"""

import sys
from pathlib import Path

import pytest

# pytest puts tests/ on sys.path, not the repository root: without this, the
# API's packages import only after "pip install -e .".
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from sync_api import create_app  # noqa: E402
from sync_api.extensions import db  # noqa: E402


@pytest.fixture
def database_uri(tmp_path):
    """A SQLite file of the test's own, removed with its temporary folder."""
    return f"sqlite:///{tmp_path / 'sync_api.sqlite'}"


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
