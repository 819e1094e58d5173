"""API keys: the CLI commands, and 401 / 403 on every protected route."""

import pytest
from sqlalchemy import select

from sync_api.extensions import db
from sync_api.models import ApiKey
from sync_api.services.keys import SCOPES
from tests.lines import batch, line
from tests.test_health import assert_problem

PROTECTED = [
    ("post", "/api/v1/sales", "sales:write"),
    ("get", "/api/v1/sales", "sales:read"),
    ("get", "/api/v1/sync/status", "sales:read"),
]


def create(runner, *args):
    result = runner.invoke(args=["keys", "create", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_create_prints_the_key_last_and_stores_only_its_hash(app, runner):
    token = create(runner, "--name", "shop", "--scope", "sales:write")

    with app.app_context():
        key = db.session.scalars(select(ApiKey)).one()
    assert token.startswith(f"crm_{key.prefix}_")
    secret = token.split("_", 2)[2]
    assert len(secret) >= 40
    assert secret not in (key.secret_hash, key.prefix, key.name)
    assert key.scopes == "sales:write"


def test_list_shows_keys_without_secrets(runner):
    token = create(runner, "--name", "shop", "--scope", "sales:write", "--source", "s1")

    output = runner.invoke(args=["keys", "list"]).output

    assert "shop" in output
    assert "s1" in output
    assert "active" in output
    assert token.split("_", 2)[2] not in output


def test_unknown_scope_is_refused(runner):
    result = runner.invoke(args=["keys", "create", "--name", "x", "--scope", "root"])

    assert result.exit_code != 0


def test_revoked_key_is_401(client, runner):
    token = create(runner, "--name", "shop", "--scope", "sales:read")
    prefix = token.split("_")[1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/sales", headers=headers).status_code == 200

    result = runner.invoke(args=["keys", "revoke", prefix])

    assert result.exit_code == 0
    assert_problem(client.get("/api/v1/sales", headers=headers), 401)
    assert "revoked" in runner.invoke(args=["keys", "list"]).output


def test_revoking_an_unknown_key_fails(runner):
    assert runner.invoke(args=["keys", "revoke", "nope"]).exit_code != 0


@pytest.mark.parametrize(("method", "url", "scope"), PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer crm_00000000_not-a-secret",
        "Bearer garbage",
    ],
)
def test_missing_or_bad_key_is_401(client, method, url, scope, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = getattr(client, method)(url, headers=headers, json=batch("s", line()))

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_right_prefix_wrong_secret_is_401(client, make_key):
    headers = make_key("sales:read")
    token = headers["Authorization"]

    response = client.get("/api/v1/sales", headers={"Authorization": token + "x"})

    assert_problem(response, 401)


@pytest.mark.parametrize(("method", "url", "scope"), PROTECTED)
def test_wrong_scope_is_403(client, make_key, method, url, scope):
    other = {"sales:write": "sales:read", "sales:read": "sales:write"}[scope]
    headers = make_key(other, "reports:read")

    response = getattr(client, method)(url, headers=headers, json=batch("s", line()))

    assert_problem(response, 403)


@pytest.mark.parametrize(("method", "url", "scope"), PROTECTED)
def test_admin_may_do_everything(client, make_key, method, url, scope):
    headers = make_key("admin")

    response = getattr(client, method)(url, headers=headers, json=batch("s", line()))

    assert response.status_code == 200


def test_key_bound_to_a_source_pushes_and_reads_only_it(client, make_key):
    headers = make_key("sales:write", "sales:read", source="shop-eu")

    assert_problem(
        client.post("/api/v1/sales", json=batch("shop-us", line()), headers=headers),
        403,
    )
    assert (
        client.post(
            "/api/v1/sales", json=batch("shop-eu", line()), headers=headers
        ).status_code
        == 200
    )
    assert_problem(client.get("/api/v1/sales?source=shop-us", headers=headers), 403)
    page = client.get("/api/v1/sales", headers=headers).get_json()
    assert {item["source"] for item in page["lines"]} == {"shop-eu"}


# Routes anyone may call: the health check and the API's own description.
PUBLIC_ENDPOINTS = {"health.health", "docs.openapi", "static"}


def protected_routes(app):
    "Every (method, path, endpoint) of the app, path parameters filled in"
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path, rule.endpoint


def test_every_route_but_the_public_ones_names_its_scope(app):
    for _, path, endpoint in protected_routes(app):
        view = app.view_functions[endpoint]
        assert getattr(view, "required_scope", None) in SCOPES, path


def test_every_protected_route_refuses_no_key_and_every_other_scope(
    app, client, make_key
):
    routes = list(protected_routes(app))
    assert routes
    for method, path, endpoint in routes:
        required = app.view_functions[endpoint].required_scope
        response = client.open(path, method=method, json=batch("s", line()))
        assert_problem(response, 401)
        for scope in sorted(set(SCOPES) - {required, "admin"}):
            response = client.open(
                path, method=method, headers=make_key(scope), json=batch("s", line())
            )
            assert_problem(response, 403)
