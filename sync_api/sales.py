"""``/api/v1/sales``: outside systems push sales lines and read them back.

A view parses with a schema, calls one service function and dumps the
result; the rules are in ``services/sales.py``.
"""

import csv
import io
import json
from typing import Any

from flask import Blueprint, current_app, request
from marshmallow import Schema, ValidationError

from sync_api.auth import bound_source, check_source, require_scope
from sync_api.errors import ApiError
from sync_api.extensions import db
from sync_api.line_spec import LINE_FIELDS
from sync_api.schemas import (
    FastLineLoader,
    PushResultSchema,
    SalesBatchSchema,
    SalesPageSchema,
    SalesQuerySchema,
    flatten_line_errors,
    make_line_schema,
)
from sync_api.services.sales import (
    ConflictError,
    DuplicateLinesError,
    SalesFilter,
    list_lines,
    store_batch,
)

blueprint = Blueprint("sales", __name__, url_prefix="/api/v1/sales")

JSON_TYPES = {"application/json"}
CSV_TYPES = {"text/csv"}
INTEGER_FIELDS = [spec.name for spec in LINE_FIELDS if spec.kind == "integer"]


@blueprint.post("")
@require_scope("sales:write")
def push_sales() -> tuple[dict[str, Any], int]:
    source, raw_lines = read_batch()
    check_source(source)
    lines = load_lines(raw_lines)
    try:
        result = store_batch(db.engine, source, lines)
    except DuplicateLinesError as error:
        raise ApiError(
            422,
            "The batch names an external id twice with different content; "
            "nothing was stored.",
            errors=error.errors,
        ) from error
    except ConflictError as error:
        raise ApiError(
            409,
            "Lines conflict with stored ones (an older or equal revision with "
            "other content); nothing was stored.",
            title="Conflicting lines",
            conflicts=error.conflicts,
        ) from error
    return PushResultSchema().dump(result), 200


@blueprint.get("")
@require_scope("sales:read")
def get_sales() -> dict[str, Any]:
    try:
        query = SalesQuerySchema().load(request.args)
    except ValidationError as error:
        raise ApiError(
            400, "Invalid query parameters.", errors=error.normalized_messages()
        ) from error
    bound = bound_source()
    if bound is not None:
        check_source(query.get("source", bound))
        query["source"] = bound
    limit = query.get("limit", current_app.config["SALES_PAGE_SIZE"])
    maximum = current_app.config["SALES_MAX_PAGE_SIZE"]
    if limit > maximum:
        # The document promises at most this many: refused like any other
        # out-of-contract value rather than silently cut.
        raise ApiError(
            400,
            "Invalid query parameters.",
            errors={"limit": [f"At most {maximum} lines per page."]},
        )
    where = SalesFilter(
        source=query.get("source"),
        customer=query.get("customer"),
        external_id=query.get("external_id"),
        date_from=query.get("date_from"),
        date_to=query.get("date_to"),
    )
    with db.engine.connect() as connection:
        rows, next_cursor = list_lines(connection, where, query.get("cursor"), limit)
    return SalesPageSchema().dump(
        {
            "lines": [row._mapping for row in rows],
            "next_cursor": None if next_cursor is None else str(next_cursor),
        }
    )


def read_batch() -> tuple[str, list[Any]]:
    """The source and the raw lines of a push, JSON or CSV."""
    if request.mimetype in JSON_TYPES:
        try:
            document = json.loads(request.get_data())
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiError(400, f"Malformed JSON: {error}") from error
    elif request.mimetype in CSV_TYPES:
        document = {"source": request.args.get("source"), "lines": read_csv()}
    else:
        raise ApiError(
            415,
            "Send the batch as application/json (or text/csv with ?source=).",
        )
    if not isinstance(document, dict):
        raise ApiError(
            422,
            "The body must be an object with 'source' and 'lines'.",
            errors=[{"index": None, "field": None, "message": "Not an object."}],
        )
    lines = document.get("lines")
    maximum = current_app.config["SALES_MAX_LINES"]
    if isinstance(lines, list) and len(lines) > maximum:
        raise ApiError(
            413, f"{len(lines)} lines in one batch; at most {maximum} are taken."
        )
    try:
        batch = SalesBatchSchema().load(document)
    except ValidationError as error:
        raise ApiError(
            422,
            "The batch is invalid; nothing was stored.",
            errors=[
                {"index": None, "field": name, "message": message}
                for name, messages in error.normalized_messages().items()
                for message in (messages if isinstance(messages, list) else [messages])
            ],
        ) from error
    return batch["source"], batch["lines"]


def read_csv() -> list[dict[str, Any]]:
    """CSV rows with the JSON fields as columns; empty optional cells are
    left out, and the integer fields (the revision), numbers in JSON, are
    read as numbers."""
    try:
        text = request.get_data().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ApiError(400, "The CSV is not UTF-8.") from error
    rows = []
    # newline="": the csv module reads \r, \n and \r\n line ends itself.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            line: dict[str, Any] = {
                name: value for name, value in row.items() if name and value != ""
            }
            for name in INTEGER_FIELDS:
                value = line.get(name)
                # isascii: int() refuses some of the digits isdigit() knows.
                if isinstance(value, str) and value.isascii() and value.isdigit():
                    line[name] = int(value)
            rows.append(line)
    except csv.Error as error:
        raise ApiError(
            400, f"Malformed CSV at line {reader.line_num}: {error}"
        ) from error
    return rows


def load_lines(raw_lines: list[Any]) -> list[dict[str, Any]]:
    schema, fast_loader = line_loaders()
    loaded = fast_loader.load(raw_lines)
    if loaded is not None:
        return loaded
    try:
        return schema.load(raw_lines)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {}
        raise ApiError(
            422,
            "Some lines are invalid; nothing was stored.",
            errors=flatten_line_errors(messages),
        ) from error


def line_loaders() -> tuple[Schema, FastLineLoader]:
    # Built once per app: their checks read the app's configuration.
    loaders = current_app.extensions.get("sync_api.line_loaders")
    if loaders is None:
        config = current_app.config
        settings = (
            config["SALES_CURRENCIES"],
            config["SALES_EARLIEST_DATE"],
            config["SALES_MAX_FUTURE_DAYS"],
        )
        loaders = (make_line_schema(*settings), FastLineLoader(*settings))
        current_app.extensions["sync_api.line_loaders"] = loaders
    return loaders
