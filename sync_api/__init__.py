"""The integration API between external sales systems and the Tryton ERP.

``flask --app sync_api run`` and ``flask --app sync_api db upgrade`` find
:func:`create_app` here.
"""

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask

from sync_api.config import Config, TestConfig
from sync_api.errors import register_error_handlers
from sync_api.extensions import db, migrate

try:
    __version__ = version("crm-governance")
except PackageNotFoundError:
    # Run from a checkout that was never installed (pip install -e .).
    __version__ = "0+unknown"


def create_app(config: object | Mapping[str, Any] | None = None) -> Flask:
    """Build the API application.

    ``config`` is a config object to use instead of ``Config()`` (the
    environment), or a mapping of settings that a test applies over
    ``TestConfig``.
    """
    # No static folder: the API serves JSON only.
    app = Flask(__name__, static_folder=None)
    load_config(app, config)
    init_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def load_config(app: Flask, config: object | Mapping[str, Any] | None) -> None:
    if config is None:
        app.config.from_object(Config())
    elif isinstance(config, Mapping):
        app.config.from_object(TestConfig)
        app.config.from_mapping(config)
    else:
        app.config.from_object(config)


def init_extensions(app: Flask) -> None:
    # Imported for its side effect: every table is on db.metadata before
    # Flask-Migrate compares the models with the database.
    from sync_api import models  # noqa: F401

    db.init_app(app)
    # Also adds the "db" command group (upgrade, migrate, ...).
    migrate.init_app(app, db)


def register_blueprints(app: Flask) -> None:
    # Imported here, not at the top: health.py reads sync_api.__version__, so
    # this package must have finished loading.
    from sync_api.complaints import blueprint as complaints_blueprint
    from sync_api.docs import blueprint as docs_blueprint
    from sync_api.health import blueprint as health_blueprint
    from sync_api.reports import blueprint as reports_blueprint
    from sync_api.sales import blueprint as sales_blueprint
    from sync_api.sync import blueprint as sync_blueprint

    app.register_blueprint(health_blueprint)
    app.register_blueprint(sales_blueprint)
    app.register_blueprint(sync_blueprint)
    app.register_blueprint(complaints_blueprint)
    app.register_blueprint(reports_blueprint)
    app.register_blueprint(docs_blueprint)


def register_commands(app: Flask) -> None:
    """Add the API's own command groups to ``flask --app sync_api``."""
    from sync_api.commands.keys import keys
    from sync_api.commands.reports import reports
    from sync_api.commands.sync import sync

    app.cli.add_command(keys)
    app.cli.add_command(sync)
    app.cli.add_command(reports)
