"""The Alembic history, run on an empty database, gives the models' schema."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from sync_api import create_app
from sync_api.extensions import db


@pytest.fixture
def empty_app(database_uri):
    # Not the "app" fixture: that one creates the tables from the models.
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_uri})
    yield app
    with app.app_context():
        db.engine.dispose()


def run_flask(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def test_upgrade_gives_the_models_schema(empty_app):
    run_flask(empty_app, "db", "upgrade")

    with empty_app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_downgrade_to_base_removes_every_table(empty_app):
    run_flask(empty_app, "db", "upgrade")
    run_flask(empty_app, "db", "downgrade", "base")

    with empty_app.app_context():
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
