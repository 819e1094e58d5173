"""schemathesis against the API's own OpenAPI document, in process.

Every documented operation gets requests generated from the document
(valid and invalid ones), sent to the Flask app with a valid key of each
scope. No answer may be a 5xx, and every answer must be one the document
describes: status code, content type, headers and body schema.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sync_api.docs import openapi_document
from sync_api.extensions import db
from tests.conftest import make_erp_api

# A batch of more lines than the document's maxItems is refused with 413
# (issue 5), one of the answers an invalid request may get.
REFUSALS = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}},
        # Like most HTTP APIs, this one ignores query parameters it does not
        # use; the document does not promise to refuse them.
        "generation": {"allow-extra-parameters": False},
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)

SCOPES = ["sales:write", "sales:read", "complaints:write", "reports:read", "admin"]
# What these tests hold the API to. positive_data_acceptance is left out on
# purpose: the document cannot say everything the API refuses (a date out
# of range, a currency outside the configured set, a revision conflict),
# so a document-valid request may rightly get a 4xx.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture
def app(database_uri, golden):
    """The API with the golden ERP behind its reports, so that the report
    operations answer with figures or the ERP's refusals, never a 503."""
    app = make_erp_api(database_uri, golden, ERP_TIMEOUT_SECONDS=30.0)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def keys(make_key):
    return {scope: make_key(scope) for scope in SCOPES}


@pytest.mark.parametrize("scope", SCOPES)
@schema.parametrize()
@FUZZ
def test_every_operation_with_each_scope(app, keys, scope, case):
    send_with_key(app, case, keys[scope])


@schema.parametrize()
@FUZZ
def test_every_operation_without_a_valid_key(app, case):
    send_with_key(app, case, {"Authorization": "Bearer not-a-key"})


def send_with_key(app, case, header):
    # Set on the case itself, so that a case generated without its
    # Authorization header (an invalid one) is known to be sent with one.
    case.headers = {**(case.headers or {}), **header}
    checks = CHECKS
    if case.media_type == "text/csv":
        # Whatever schemathesis puts in a CSV body (a number, a list) goes
        # out as text, which the document's "type: string" allows: there is
        # no invalid CSV body by type, so none must be refused as such.
        checks = [check for check in CHECKS if check is not negative_data_rejection]
    case.call_and_validate(app=app, checks=checks)
