"""Alembic environment: runs migrations against the Flask app's database.

Flask-Migrate loads this file inside an app context; the database URL, the
models' metadata and the context options (render_as_batch, compare_type) all
come from the app, see ``sync_api/extensions.py``.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config

# Keep the loggers that exist already (Flask's, the tests'): fileConfig would
# otherwise disable them for the rest of the process.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate_extension = current_app.extensions["migrate"]
database = migrate_extension.db
target_metadata = database.metadata

# "%" would be read as interpolation by the ini parser.
config.set_main_option(
    "sqlalchemy.url",
    database.engine.url.render_as_string(hide_password=False).replace("%", "%%"),
)


def run_migrations_offline() -> None:
    """Write the SQL to standard output instead of running it (``--sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def skip_empty_revision(context, revision, directives):
        # "db migrate" with no model change would write an empty revision.
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    configure_args = dict(migrate_extension.configure_args)
    configure_args.setdefault("process_revision_directives", skip_empty_revision)

    with database.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            **configure_args,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
