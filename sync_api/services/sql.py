"""SQL helpers shared by the services."""

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(connection: Connection) -> Any:
    """The backend's INSERT construct, the one with ``on_conflict_do_...``
    (both backends of the API spell it INSERT ... ON CONFLICT)."""
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"No upsert for the {name} backend.")
