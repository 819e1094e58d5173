"""Tables of the API's own database.

Each model subclasses ``db.Model`` with typed ``Mapped[...]`` columns.
``create_app`` imports this module so that ``db.metadata`` lists every table
before Flask-Migrate compares it with the database; after a change, run
``flask --app sync_api db migrate -m "..."`` and review the new file in
``migrations/versions/``.
"""
