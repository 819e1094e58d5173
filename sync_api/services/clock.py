"""Time as the API stores it: naive UTC, the same on SQLite and PostgreSQL."""

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
