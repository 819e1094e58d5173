"""The health blueprint, and the problem+json shape of every error."""

import logging
from http import HTTPStatus

import pytest

import sync_api
from sync_api import create_app
from sync_api.errors import ApiError

PROBLEM_MEMBERS = {"type", "title", "status", "detail"}


def assert_problem(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    document = response.get_json()
    assert PROBLEM_MEMBERS.issubset(document)
    assert document["status"] == status
    return document


def test_health_reports_database_and_version(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "version": sync_api.__version__,
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_health_without_database_is_503(tmp_path):
    # A folder cannot be opened as a SQLite file, so every query fails.
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}"})

    response = app.test_client().get("/health")

    document = assert_problem(response, 503)
    assert document["title"] == "Service Unavailable"
    assert str(tmp_path) not in response.get_data(as_text=True)


def test_unknown_url_is_problem(client):
    document = assert_problem(client.get("/no-such-resource"), 404)

    assert document["type"] == "about:blank"
    assert document["title"] == "Not Found"


def test_wrong_method_is_problem_listing_allowed_methods(client):
    response = client.post("/health")

    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_unhandled_exception_is_problem_without_traceback(app, client, caplog):
    def fail():
        raise RuntimeError("secret internal state")

    app.add_url_rule("/fail", view_func=fail)
    # TESTING lets exceptions reach the test; production answers them.
    app.config["PROPAGATE_EXCEPTIONS"] = False

    with caplog.at_level(logging.ERROR):
        response = client.get("/fail")

    assert_problem(response, 500)
    body = response.get_data(as_text=True)
    assert "secret internal state" not in body
    assert "Traceback" not in body
    # The traceback goes to the log instead.
    assert any(record.exc_info for record in caplog.records)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ApiError(422, "Some lines are invalid.", errors=[{"index": 0}]),
            {
                "type": "about:blank",
                # The phrase changed in Python 3.13 ("Unprocessable Content").
                "title": HTTPStatus(422).phrase,
                "status": 422,
                "detail": "Some lines are invalid.",
                "errors": [{"index": 0}],
            },
        ),
        (
            ApiError(
                409,
                "Lines conflict with stored ones.",
                title="Conflicting lines",
                problem_type="/problems/conflict",
            ),
            {
                "type": "/problems/conflict",
                "title": "Conflicting lines",
                "status": 409,
                "detail": "Lines conflict with stored ones.",
            },
        ),
    ],
)
def test_api_error_becomes_problem_with_its_members(app, client, error, expected):
    def refuse():
        raise error

    app.add_url_rule("/refuse", view_func=refuse)

    response = client.get("/refuse")

    assert_problem(response, expected["status"])
    assert response.get_json() == expected
