"""Injection attempts in every free-text field of a sales line.

The API must store what was sent as text, byte for byte, and read it back
unchanged; nothing in it may run as SQL or change another table. The source
is not free text (letters, digits, '.', '_', '-'): an attempt there is
refused with a 422 naming the field, and nothing is stored.
"""

import pytest
from sqlalchemy import func, select

from sync_api.extensions import db
from sync_api.models import ApiKey, SalesLine
from tests.lines import batch, line
from tests.test_health import assert_problem
from tests.test_sales import count

HOSTILE = [
    "'; DROP TABLE sales_line; --",
    "x' OR '1'='1",
    "Robert'); DELETE FROM api_key; --",
    '" ; UPDATE api_key SET revoked_at = CURRENT_TIMESTAMP; --',
    "%s %(name)s {0} $1 ?",
    "<script>alert('x')</script>",
    "\\x00\\n\\r\\t back\\slash",
    "客户 ‮ 反向 🙂",
    "${jndi:ldap://127.0.0.1/a}",
    "C0001\n,=cmd|' /C calc'!A0",
]
FREE_TEXT = ["external_id", "customer", "product", "category"]


@pytest.mark.parametrize("field", FREE_TEXT)
def test_hostile_text_is_stored_and_read_back_as_text(app, client, make_key, field):
    headers = make_key("sales:write", "sales:read")
    lines = [
        line(f"SO-{n}", **{field: value}) if field != "external_id" else
        line(value)
        for n, value in enumerate(HOSTILE)
    ]  # fmt: skip
    with app.app_context():
        keys_before = db.session.scalar(select(func.count()).select_from(ApiKey))

    response = client.post("/api/v1/sales", headers=headers, json=batch("s", *lines))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["inserted"] == len(HOSTILE)
    with app.app_context():
        stored = db.session.scalars(
            select(getattr(SalesLine, field)).where(SalesLine.source == "s")
        ).all()
        assert sorted(stored) == sorted(HOSTILE)
        assert db.session.scalar(select(func.count()).select_from(ApiKey)) == (
            keys_before
        )
        assert (
            db.session.scalar(
                select(func.count()).where(ApiKey.revoked_at.is_not(None))
            )
            == 0
        )
    page = client.get("/api/v1/sales?source=s&limit=1000", headers=headers)
    assert page.status_code == 200
    assert sorted(item[field] for item in page.get_json()["lines"]) == sorted(HOSTILE)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_filter_values_match_nothing_and_break_nothing(client, make_key, value):
    headers = make_key("sales:write", "sales:read")
    client.post("/api/v1/sales", headers=headers, json=batch("s", line()))

    response = client.get(
        "/api/v1/sales", headers=headers, query_string={"customer": value}
    )

    assert response.status_code == 200
    assert response.get_json()["lines"] == []


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_source_is_refused_and_nothing_stored(app, client, make_key, value):
    headers = make_key("sales:write")

    response = client.post("/api/v1/sales", headers=headers, json=batch(value, line()))

    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["source"]
    assert count(app, SalesLine) == 0


@pytest.mark.parametrize("field", FREE_TEXT)
def test_nul_character_is_refused_on_every_database(app, client, make_key, field):
    # PostgreSQL's text cannot hold NUL: the API refuses it everywhere alike
    # with the field named, rather than failing on one database only.
    headers = make_key("sales:write")
    lines = [line("SO-ok"), dict(line("SO-nul"), **{field: "bad\x00text"})]

    response = client.post("/api/v1/sales", headers=headers, json=batch("s", *lines))

    body = assert_problem(response, 422)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, field)]
    assert "NUL" in body["errors"][0]["message"]
    assert count(app, SalesLine) == 0


def test_nul_character_in_a_filter_is_a_400(client, make_key):
    headers = make_key("sales:read")

    response = client.get(
        "/api/v1/sales", headers=headers, query_string={"customer": "C\x000"}
    )

    assert_problem(response, 400)
