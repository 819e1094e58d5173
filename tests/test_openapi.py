"""The OpenAPI document in the repository covers every route, and the API
serves it."""

import re

from sync_api.docs import openapi_document

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
