"""``/api/v1/openapi.json``: the API's OpenAPI 3 document.

The document is kept in the repository (``sync_api/openapi.json``) and
served as it is; tests/test_openapi.py checks that it covers every route.
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"

blueprint = Blueprint("docs", __name__, url_prefix="/api/v1")


@cache
def openapi_document() -> dict[str, Any]:
    return json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))


@blueprint.get("/openapi.json")
def openapi() -> dict[str, Any]:
    return openapi_document()
