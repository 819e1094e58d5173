"""``/api/v1/complaints``: other systems send complaints and follow them.

A complaint is kept once per (source, external id) and forwarded to the
ERP by the sync worker (``services/complaints.py``), so that an ERP outage
loses nothing; its status is read back by the same source and id.
"""

import json
from typing import Any
from urllib.parse import quote

from flask import Blueprint, current_app, request
from marshmallow import Schema, ValidationError

from sync_api.auth import check_source, require_scope
from sync_api.erp import complaints_client
from sync_api.errors import ApiError
from sync_api.extensions import db
from sync_api.schemas import ComplaintStatusSchema, make_complaint_schema
from sync_api.services.complaints import (
    ComplaintConflict,
    find_complaint,
    refresh_complaint,
    store_complaint,
)

blueprint = Blueprint("complaints", __name__, url_prefix="/api/v1/complaints")


@blueprint.post("")
@require_scope("complaints:write")
def send_complaint() -> tuple[dict[str, Any], int, dict[str, str]]:
    complaint = load_complaint()
    check_source(complaint["source"])
    try:
        row, created = store_complaint(db.engine, complaint)
    except ComplaintConflict as error:
        stored = error.stored
        raise ApiError(
            409,
            f"Complaint {stored.external_id} of source {stored.source} was "
            "sent before with other content; nothing was stored.",
            title="Conflicting complaint",
            source=stored.source,
            external_id=stored.external_id,
            number=stored.number,
            fields=error.fields,
        ) from error
    return (
        ComplaintStatusSchema().dump(row),
        201 if created else 200,
        {"Location": status_url(row.source, row.external_id)},
    )


@blueprint.get("/<source>/<path:external_id>")
@require_scope("complaints:write")
def complaint_status(source: str, external_id: str) -> dict[str, Any]:
    check_source(source)
    row = find_complaint(db.engine, source, external_id)
    if row is None:
        raise ApiError(404, f"No complaint {external_id} was sent by source {source}.")
    with complaints_client(current_app.config) as erp:
        row = refresh_complaint(db.engine, erp, row)
    return ComplaintStatusSchema().dump(row)


def status_url(source: str, external_id: str) -> str:
    return f"{blueprint.url_prefix}/{quote(source)}/{quote(external_id, safe='')}"


def load_complaint() -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise ApiError(415, "Send the complaint as application/json.")
    try:
        document = json.loads(request.get_data())
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, f"Malformed JSON: {error}") from error
    if not isinstance(document, dict):
        raise ApiError(
            422,
            "The body must be an object; nothing was stored.",
            errors=[{"index": None, "field": None, "message": "Not an object."}],
        )
    try:
        return complaint_schema().load(document)
    except ValidationError as error:
        raise ApiError(
            422,
            "The complaint is invalid; nothing was stored.",
            errors=[
                {"index": None, "field": name, "message": message}
                for name, messages in error.normalized_messages().items()
                for message in (messages if isinstance(messages, list) else [messages])
            ],
        ) from error


def complaint_schema() -> Schema:
    schema = current_app.extensions.get("sync_api.complaint_schema")
    if schema is None:
        schema = make_complaint_schema(current_app.config["SALES_EARLIEST_DATE"])
        current_app.extensions["sync_api.complaint_schema"] = schema
    return schema
