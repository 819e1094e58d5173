"""Every error leaves the API as ``application/problem+json`` (RFC 9457).

Views raise :class:`ApiError` for errors they find themselves, or call
``flask.abort`` for plain HTTP errors; routing errors (404, 405) and
unhandled exceptions (500) get the same shape from the handlers registered
by :func:`register_error_handlers`.
"""

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

PROBLEM_MIMETYPE = "application/problem+json"

# RFC 9457: "about:blank" means the problem has no meaning beyond its HTTP
# status, and its title is then the status phrase.
GENERIC_PROBLEM_TYPE = "about:blank"

# Seconds a client waits before retrying when the database refused a write
# (locked, busy, full, unreachable): long enough for a lock to clear.
DATABASE_RETRY_AFTER_SECONDS = 5

Headers = Iterable[tuple[str, str]] | dict[str, str]


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    problem_type: str = GENERIC_PROBLEM_TYPE,
    headers: Headers | None = None,
    **members: Any,
) -> Response:
    """Build a problem+json response.

    ``members`` become extension members of the document, for example
    ``errors=[{"index": 3, "field": "amount", "message": "..."}]``.
    """
    document: dict[str, Any] = {
        "type": problem_type,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        document["detail"] = detail
    document.update(members)
    response = current_app.json.response(document)
    response.status_code = status
    response.mimetype = PROBLEM_MIMETYPE
    if headers:
        response.headers.extend(headers)
    return response


class ApiError(Exception):
    """An error a view or service answers to the client with.

    ``raise ApiError(409, "Lines conflict with stored ones.", conflicts=[...])``
    gives a 409 problem document with a ``conflicts`` member.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        problem_type: str = GENERIC_PROBLEM_TYPE,
        headers: Headers | None = None,
        **members: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.problem_type = problem_type
        self.headers = headers
        self.members = members

    def to_response(self) -> Response:
        return problem(
            self.status,
            self.detail,
            title=self.title,
            problem_type=self.problem_type,
            headers=self.headers,
            **self.members,
        )


def handle_api_error(error: ApiError) -> Response:
    return error.to_response()


def handle_http_exception(error: HTTPException) -> Response:
    # Keep the headers an HTTP error carries (Allow on 405, WWW-Authenticate
    # on 401); only the HTML content type is replaced.
    headers = [
        (name, value)
        for name, value in error.get_headers()
        if name.lower() != "content-type"
    ]
    # An unhandled exception reaches here as InternalServerError, whose
    # description is werkzeug's generic text: the traceback only goes to the
    # log (Flask logs it before calling this handler).
    return problem(
        error.code or 500,
        error.description,
        title=error.name,
        headers=headers,
    )


def handle_database_unavailable(error: OperationalError) -> Response:
    """The database could not do its part now (SQLite "database is locked"
    or "database or disk is full", a PostgreSQL disk full, lock timeout or
    lost connection). The transaction was rolled back, so nothing of the
    request was stored: the client may send it again later."""
    # The driver's message can name hosts and paths: log it, don't send it.
    current_app.logger.error("Database unavailable: %s", error.orig)
    return problem(
        503,
        "The database cannot take the request now; nothing was stored. "
        "Send it again later.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OperationalError, handle_database_unavailable)
