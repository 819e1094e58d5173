"""The OpenAPI document in the repository covers every route, and the API
serves it."""

import re

from sync_api.docs import openapi_document
from sync_api.services.reports import REPORTS

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def test_document_is_served(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")


def test_every_route_is_documented(app):
    paths = openapi_document()["paths"]
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - IGNORED_METHODS:
            routes.add((path, method.lower()))

    documented = {(path, method) for path, item in paths.items() for method in item}
    assert routes - documented == set()
    assert documented - routes == set()


def test_every_reference_resolves():
    document = openapi_document()
    text = str(document)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in document["components"]["schemas"]


def query_parameters(document, operation):
    "The names and the documented schemas of an operation's query parameters"
    parameters = {}
    for parameter in operation["parameters"]:
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][
                parameter["$ref"].rsplit("/", 1)[-1]
            ]
        if parameter["in"] == "query":
            parameters[parameter["name"]] = parameter["schema"]
    return parameters


def test_every_report_of_the_catalog_is_documented_with_its_parameters():
    document = openapi_document()
    reports = {
        path: item
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/reports/")
    }
    documented = set()
    for report in REPORTS.values():
        path = "/api/v1/reports" + re.sub(
            r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", report.path
        )
        documented.add(path)
        parameters = query_parameters(document, reports[path]["get"])
        expected = {"format", *(p.name for p in report.parameters)}
        if report.paginated:
            expected |= {"offset", "limit"}
        if len(report.tables) > 1:
            expected.add("table")
            assert parameters["table"]["enum"] == [t.name for t in report.tables]
        assert set(parameters) == expected, path
    assert set(reports) == documented
