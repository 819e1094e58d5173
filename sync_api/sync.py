"""``/api/v1/sync``: how far the ERP is behind the ledger."""

from typing import Any

from flask import Blueprint

from sync_api.auth import require_scope
from sync_api.extensions import db
from sync_api.schemas import SyncStatusSchema
from sync_api.services.sync import sync_status

blueprint = Blueprint("sync", __name__, url_prefix="/api/v1/sync")


@blueprint.get("/status")
@require_scope("sales:read")
def status() -> dict[str, Any]:
    return SyncStatusSchema().dump(sync_status(db.engine))
