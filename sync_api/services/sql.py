"""SQL helpers shared by the services."""

from operator import itemgetter
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


# (statement, dialect name, driver, paramstyle, row keys) -> _Prepared
_prepared: dict[tuple[Any, str, str, str, tuple[str, ...]], "_Prepared"] = {}


class _Prepared:
    """A statement compiled once for a dialect and a set of row keys: its
    SQL string, the order of its parameters and their converters."""

    def __init__(self, statement: Any, dialect: Any, keys: tuple[str, ...]) -> None:
        compiled = statement.compile(
            dialect=dialect, column_keys=list(keys), for_executemany=True
        )
        self.sql = compiled.string
        self.positional = compiled.positional
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        self.names = list(compiled.positiontup if compiled.positional else binds)
        # Parameters that are not row values: literals of the statement
        # (the 1 of "version + 1").
        self.constants = {
            name: bind.effective_value
            for name, bind in binds.items()
            if name not in keys
        }
        missing = [
            name for name, bind in binds.items() if name not in keys and bind.required
        ]
        if missing:
            raise ValueError(f"Rows lack the parameters {missing}.")
        self.processors = [
            (index, processor)
            for index, name in enumerate(self.names)
            if (
                processor := binds[name]
                .type.dialect_impl(dialect)
                .bind_processor(dialect)
            )
        ]


def execute_many(
    connection: Connection, statement: Any, rows: list[dict[str, Any]]
) -> None:
    """Run ``statement`` once per row through the driver's executemany.

    SQLAlchemy's own executemany builds and converts a parameter dictionary
    per row in Python, which costs more than the database's insert itself.
    Here the statement is compiled once per dialect (keep ``statement`` a
    module-level construct, it is the cache key), the rows become plain
    tuples, and only the columns that need it (dates on SQLite) go through
    the type's bind processor, once per distinct value of the call (a
    batch's lines share a few dozen dates and one ``now``). Every row must
    have the same keys.
    """
    if not rows:
        return
    dialect = connection.dialect
    keys = tuple(rows[0])
    cache_key = (statement, dialect.name, dialect.driver, dialect.paramstyle, keys)
    prepared = _prepared.get(cache_key)
    if prepared is None:
        prepared = _prepared[cache_key] = _Prepared(statement, dialect, keys)
    names = prepared.names
    constants = prepared.constants
    if constants:
        rows = [{**constants, **row} for row in rows]
    if not prepared.positional and not prepared.processors:
        # Named parameters (psycopg): the rows are the parameters.
        connection.exec_driver_sql(prepared.sql, rows)
        return
    get = itemgetter(*names)
    params: list[Any] = [get(row) for row in rows]
    if len(names) == 1:
        params = [(value,) for value in params]
    if prepared.processors:
        params = [list(values) for values in params]
        for index, processor in prepared.processors:
            # Bind values are hashable (numbers, strings, dates, None).
            converted: dict[Any, Any] = {}
            for values in params:
                value = values[index]
                try:
                    values[index] = converted[value]
                except KeyError:
                    values[index] = converted[value] = processor(value)
        params = [tuple(values) for values in params]
    if not prepared.positional:
        params = [dict(zip(names, values, strict=True)) for values in params]
    connection.exec_driver_sql(prepared.sql, params)
