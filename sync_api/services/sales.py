"""The sales ledger: store pushed lines exactly once, list them.

Lines arrive validated (scaled integers, dates; see ``sync_api.schemas``).
:func:`store_batch` keeps one current row per (source, external id), the
replaced revisions beside it, and marks the (source, customer, month,
currency) keys whose ERP totals must be recomputed, all in one transaction:
either the whole batch is stored and its keys marked, or nothing is.

Bulk work goes through SQLAlchemy Core (executemany), not ORM objects.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError

from sync_api.line_spec import CONTENT_FIELDS
from sync_api.models import SalesLine, SalesLineRevision, SalesSource, SyncPending
from sync_api.services.clock import utcnow
from sync_api.services.sql import dialect_insert, execute_many

# Lines per SELECT ... IN (...): well under every backend's parameter limit.
LOOKUP_CHUNK = 1000
# A batch retried after a lost race (an insert that a concurrent push made
# first, a deadlock) sees the other push's lines and classifies again.
ATTEMPTS = 3

lines_table = SalesLine.__table__
revisions_table = SalesLineRevision.__table__
pending_table = SyncPending.__table__
sources_table = SalesSource.__table__


class DuplicateLinesError(Exception):
    """One batch names the same external id twice with different content."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} duplicate external ids")
        self.errors = errors


class ConflictError(Exception):
    """Lines of the batch are older or equal revisions of stored lines with
    other content; nothing was stored."""

    def __init__(self, conflicts: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(conflicts)} conflicting lines")
        self.conflicts = conflicts


@dataclass
class PushResult:
    source: str
    lines: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_keys: int = field(default=0, repr=False)


def month_of(day: date) -> str:
    # The "YYYY-MM" head of the ISO date (one C call instead of a format).
    return day.isoformat()[:7]


def content(line: dict[str, Any] | Row) -> tuple:
    getter = line.__getitem__ if isinstance(line, dict) else line._mapping.__getitem__
    return tuple(getter(name) for name in CONTENT_FIELDS)


def unique_lines(lines: Sequence[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Drop exact repeats of a line inside one batch; refuse an external id
    given twice with different content (the sender must choose)."""
    first: dict[str, int] = {}
    result, errors = [], []
    for index, line in enumerate(lines):
        key = line["external_id"]
        other = first.setdefault(key, index)
        if other == index:
            result.append((index, line))
        elif content(line) != content(lines[other]):
            errors.append(
                {
                    "index": index,
                    "field": "external_id",
                    "message": (
                        f"External id {key!r} is also line {other} of this "
                        "batch, with other content."
                    ),
                }
            )
    if errors:
        raise DuplicateLinesError(errors)
    return result


def store_batch(
    connect: Any, source: str, lines: Sequence[dict[str, Any]]
) -> PushResult:
    """Store a validated batch of one source in one transaction.

    ``connect`` is a SQLAlchemy Engine: each attempt runs in its own
    ``engine.begin()`` block. Raises :class:`DuplicateLinesError` or
    :class:`ConflictError`, leaving the database untouched.
    """
    batch = unique_lines(lines)
    # The rows are built before the transaction: on SQLite the write lock
    # is held from the first statement to the commit, and concurrent pushes
    # wait for it; only their received_at is set inside.
    rows = {index: _line_row(source, line, None) for index, line in batch}
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with connect.begin() as connection:
                return _store(connection, source, batch, rows, len(lines))
        except (IntegrityError, OperationalError):
            # A concurrent push of another source inserted a line first is
            # impossible (the source row serialises a source's pushes); what
            # remains is a lost lock race or a deadlock: try again.
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _store(
    connection: Connection,
    source: str,
    batch: list[tuple[int, dict[str, Any]]],
    line_rows: dict[int, dict[str, Any]],
    received: int,
) -> PushResult:
    now = utcnow()
    _lock_source(connection, source, now)
    stored = _stored_lines(
        connection, source, [line["external_id"] for _, line in batch]
    )

    result = PushResult(source=source, lines=received)
    result.unchanged = received - len(batch)  # exact repeats inside the batch
    new, changed, conflicts = [], [], []
    for index, line in batch:
        old = stored.get(line["external_id"])
        if old is None:
            new.append(index)
        elif content(line) == content(old):
            result.unchanged += 1
        elif line["revision"] > old.revision:
            changed.append((index, old))
        else:
            conflicts.append(
                {
                    "index": index,
                    "external_id": line["external_id"],
                    "revision": line["revision"],
                    "stored_revision": old.revision,
                }
            )
    if conflicts:
        raise ConflictError(conflicts)

    keys: set[tuple[str, str, str, str]] = set()
    if new:
        rows = [line_rows[index] for index in new]
        for row in rows:
            row["received_at"] = now
        execute_many(connection, INSERT_LINE, rows)
        keys.update(_key(row) for row in rows)
    if changed:
        revision_rows, update_rows = [], []
        for index, old in changed:
            revision_rows.append(dict(old._mapping, replaced_at=now))
            # A copy: a retried attempt may find this line new.
            row = dict(line_rows[index], received_at=now, line_id=old.id)
            update_rows.append(row)
            # A correction may move the line to another customer or month:
            # both totals change.
            keys.add(_key(old._mapping))
            keys.add(_key(row))
        for revision_row in revision_rows:
            revision_row.pop("id")
        execute_many(connection, INSERT_REVISION, revision_rows)
        execute_many(connection, UPDATE_LINE, update_rows)
    _mark_pending(connection, keys, now)
    result.inserted = len(new)
    result.updated = len(changed)
    result.marked_keys = len(keys)
    return result


def _line_columns() -> list[str]:
    return [*CONTENT_FIELDS, "month", "received_at"]


# Module-level constructs: execute_many compiles each once per backend.
INSERT_LINE = lines_table.insert()
INSERT_REVISION = revisions_table.insert()
UPDATE_LINE = (
    lines_table.update()
    .where(lines_table.c.id == bindparam("line_id"))
    .values({name: bindparam(name) for name in _line_columns()})
)


def _line_row(
    source: str, line: dict[str, Any], now: datetime | None
) -> dict[str, Any]:
    # A loaded line has exactly the external id and CONTENT_FIELDS (both
    # loaders give the same keys): a copy is the row's start.
    row = dict(line)
    row["source"] = source
    row["month"] = month_of(line["date"])
    row["received_at"] = now
    return row


def _key(row: Any) -> tuple[str, str, str, str]:
    return (row["source"], row["customer"], row["month"], row["currency"])


def _lock_source(connection: Connection, source: str, now: datetime) -> None:
    # Writing the row takes its lock until commit (PostgreSQL) or the
    # database's write lock (SQLite), before any line is looked up.
    insert = dialect_insert(connection)(sources_table).values(
        name=source, last_push_at=now
    )
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=[sources_table.c.name],
            set_={"last_push_at": insert.excluded.last_push_at},
        )
    )


def _stored_lines(
    connection: Connection, source: str, external_ids: list[str]
) -> dict[str, Row]:
    stored = {}
    for start in range(0, len(external_ids), LOOKUP_CHUNK):
        chunk = external_ids[start : start + LOOKUP_CHUNK]
        for row in connection.execute(
            SELECT_STORED, {"source": source, "external_ids": chunk}
        ):
            stored[row.external_id] = row
    return stored


# An expanding parameter: the list is bound, not 1000 literals coerced into
# the statement at every push.
SELECT_STORED = select(lines_table).where(
    lines_table.c.source == bindparam("source"),
    lines_table.c.external_id.in_(bindparam("external_ids", expanding=True)),
)


def _mark_pending(
    connection: Connection, keys: Iterable[tuple[str, str, str, str]], now: datetime
) -> None:
    rows = [
        {
            "source": source,
            "customer": customer,
            "month": month,
            "currency": currency,
            "version": 1,
            "first_marked_at": now,
            "marked_at": now,
            "attempts": 0,
        }
        for source, customer, month, currency in sorted(keys)
    ]
    if rows:
        execute_many(connection, _mark_pending_statement(connection), rows)


@cache
def _mark_pending_statement_for(insert: Any) -> Any:
    insert = insert(pending_table)
    return insert.on_conflict_do_update(
        index_elements=[
            pending_table.c.month,
            pending_table.c.customer,
            pending_table.c.source,
            pending_table.c.currency,
        ],
        set_={
            # A worker holding the key deletes it only at the version it
            # read: the bump keeps this change pending.
            "version": pending_table.c.version + 1,
            "marked_at": insert.excluded.marked_at,
            # New lines deserve a new try of a total the ERP refused.
            "retry_after": None,
        },
        # A key that is pending, unclaimed and not waiting for a retry
        # needs nothing: no worker has read its total yet, and the one
        # that claims it will read these lines. Leaving its row alone
        # spares a row write per key (most keys of a steady push). The
        # conflicting row is still locked on PostgreSQL, so a worker's
        # claim waits for this transaction.
        where=or_(
            pending_table.c.claim_token.is_not(None),
            pending_table.c.retry_after.is_not(None),
        ),
    )


def _mark_pending_statement(connection: Connection) -> Any:
    # One construct per backend: execute_many caches its compiled form.
    return _mark_pending_statement_for(dialect_insert(connection))


@dataclass
class SalesFilter:
    source: str | None = None
    customer: str | None = None
    external_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def list_lines(
    connection: Connection, where: SalesFilter, after: int | None, limit: int
) -> tuple[list[Row], int | None]:
    """One page of current lines in id order, and the cursor of the next
    page (None on the last). Keyset pagination: a page costs the same at
    any depth and a line pushed meanwhile is neither skipped nor repeated."""
    conditions = []
    if where.source is not None:
        conditions.append(lines_table.c.source == where.source)
    if where.customer is not None:
        conditions.append(lines_table.c.customer == where.customer)
    if where.external_id is not None:
        conditions.append(lines_table.c.external_id == where.external_id)
    # The month bounds follow from the dates; they let the month-led index
    # narrow the rows of a date range.
    if where.date_from is not None:
        conditions.append(lines_table.c.month >= month_of(where.date_from))
        conditions.append(lines_table.c.date >= where.date_from)
    if where.date_to is not None:
        conditions.append(lines_table.c.month <= month_of(where.date_to))
        conditions.append(lines_table.c.date <= where.date_to)
    if after is not None:
        conditions.append(lines_table.c.id > after)
    query = (
        select(lines_table)
        .where(and_(True, *conditions))
        .order_by(lines_table.c.id)
        .limit(limit + 1)
    )
    rows = list(connection.execute(query))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None
