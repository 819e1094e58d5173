"""``GET /health``: is the API up, and does its database answer?"""

from flask import Blueprint, Response, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import sync_api
from sync_api.errors import ApiError
from sync_api.extensions import db

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> dict[str, str]:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        # The driver's message can name hosts and paths: log it, don't send it.
        current_app.logger.warning("Health check: database unreachable: %s", error)
        raise ApiError(503, "The database does not answer.") from error
    return {"status": "ok", "database": "ok", "version": sync_api.__version__}


@blueprint.after_request
def forbid_caching(response: Response) -> Response:
    # A cached "ok" would hide an outage from a monitor behind a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response
