"""Bearer-key authentication of the API's views.

``@require_scope("sales:write")`` answers 401 without a valid key and 403
when the key lacks the scope; the key is then ``g.api_key``. A key bound to
a source is checked against the source a request names with
:func:`check_source`.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from sync_api.errors import ApiError
from sync_api.extensions import db
from sync_api.models import ApiKey
from sync_api.services.keys import find_key, has_scope

View = TypeVar("View", bound=Callable[..., Any])

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm-sync-api"'}


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_scope(scope: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            if token is None:
                raise ApiError(
                    401,
                    "An API key is required: Authorization: Bearer <key>.",
                    headers=CHALLENGE,
                )
            key = find_key(db.session, token)
            if key is None:
                raise ApiError(
                    401, "The API key is unknown or revoked.", headers=CHALLENGE
                )
            if not has_scope(key, scope):
                raise ApiError(403, f"The API key lacks the scope {scope}.")
            g.api_key = key
            return view(*args, **kwargs)

        # Read by the tests that walk every route for its authentication.
        wrapper.required_scope = scope  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def current_key() -> ApiKey:
    return g.api_key


def check_source(source: str | None) -> None:
    """Refuse a request about another source than the key's own."""
    bound = current_key().source
    if bound is not None and source != bound:
        raise ApiError(403, f"The API key may only be used for source {bound}.")


def bound_source() -> str | None:
    return current_key().source
