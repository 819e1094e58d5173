"""POST and GET /api/v1/sales: every bad input is refused whole, every line
is kept once."""

import json
import threading
from datetime import datetime

import pytest
from sqlalchemy import func, select

from sync_api.extensions import db
from sync_api.models import SalesLine, SalesLineRevision, SyncPending
from tests.lines import batch, line, today_plus
from tests.test_health import assert_problem

SOURCE = "shop-eu"


@pytest.fixture
def writer(make_key):
    return make_key("sales:write", "sales:read")


def push(client, headers, *lines, source=SOURCE):
    return client.post("/api/v1/sales", json=batch(source, *lines), headers=headers)


def push_csv(client, headers, body, source=SOURCE):
    return client.post(
        f"/api/v1/sales?source={source}",
        data=body,
        content_type="text/csv",
        headers=headers,
    )


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_push_stores_lines_and_marks_their_keys(app, client, writer):
    response = push(
        client,
        writer,
        line("A-1"),
        line("A-2", customer="C0002"),
        line("A-3", date="2025-04-01"),
    )

    assert response.status_code == 200
    assert response.get_json() == {
        "source": SOURCE,
        "lines": 3,
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
    }
    assert count(app, SalesLine) == 3
    # (C0001, 2025-03), (C0002, 2025-03), (C0001, 2025-04)
    assert count(app, SyncPending) == 3


def pending_key(app, customer="C0001"):
    with app.app_context():
        row = db.session.execute(
            select(
                SyncPending.version, SyncPending.claim_token, SyncPending.retry_after
            ).where(SyncPending.customer == customer)
        ).one()
        return row._asdict()


def set_pending(app, **values):
    with app.app_context():
        db.session.execute(SyncPending.__table__.update().values(**values))
        db.session.commit()


def test_new_lines_of_a_pending_key_bump_it_only_when_a_worker_read_it(
    app, client, writer
):
    push(client, writer, line("K-1"))
    assert pending_key(app)["version"] == 1

    # Unclaimed: the worker that claims it will read every line; the
    # version stays.
    assert push(client, writer, line("K-2")).status_code == 200
    assert pending_key(app)["version"] == 1

    # Claimed: the worker may have summed the lines already; the bump
    # stops it from deleting the key at the version it read.
    set_pending(app, claim_token="worker-1")
    push(client, writer, line("K-3"))
    assert pending_key(app) == {
        "version": 2,
        "claim_token": "worker-1",
        "retry_after": None,
    }

    # Refused by the ERP and waiting for a retry: new lines are tried at once.
    set_pending(app, claim_token=None, retry_after=datetime(2999, 1, 1))
    push(client, writer, line("K-4"))
    assert pending_key(app) == {"version": 3, "claim_token": None, "retry_after": None}
    assert count(app, SyncPending) == 1


def test_replayed_batch_is_unchanged(app, client, writer):
    lines = [line("A-1"), line("A-2", amount="5.50")]
    push(client, writer, *lines)

    response = push(client, writer, *lines)

    assert response.get_json()["unchanged"] == 2
    assert response.get_json()["inserted"] == 0
    assert count(app, SalesLine) == 2
    assert count(app, SalesLineRevision) == 0


def test_equal_values_in_other_notation_are_unchanged(app, client, writer):
    push(client, writer, line("A-1", quantity="10", amount="1200"))

    response = push(client, writer, line("A-1", quantity="10.0000", amount="1200.00"))

    assert response.get_json()["unchanged"] == 1


def test_newer_revision_updates_and_keeps_the_old_one(app, client, writer):
    push(client, writer, line("A-1"))

    response = push(
        client, writer, line("A-1", revision=2, amount="900.00", customer="C0002")
    )

    assert response.get_json()["updated"] == 1
    with app.app_context():
        current = db.session.scalars(select(SalesLine)).one()
        old = db.session.scalars(select(SalesLineRevision)).one()
        customers = set(db.session.scalars(select(SyncPending.customer)))
    assert (current.revision, current.amount, current.customer) == (2, 90000, "C0002")
    assert (old.revision, old.amount, old.customer) == (1, 120000, "C0001")
    # The line left C0001's total and joined C0002's: both are recomputed.
    assert customers == {"C0001", "C0002"}


@pytest.mark.parametrize("revision", [1, 2])
def test_stale_or_equal_revision_with_other_content_is_a_conflict(
    app, client, writer, revision
):
    push(client, writer, line("A-1", revision=2))

    response = push(
        client,
        writer,
        line("A-0"),
        line("A-1", revision=revision, amount="1.00"),
    )

    document = assert_problem(response, 409)
    assert document["conflicts"] == [
        {"index": 1, "external_id": "A-1", "revision": revision, "stored_revision": 2}
    ]
    # All or nothing: the good line of the batch was not stored either.
    assert count(app, SalesLine) == 1


def test_cancellation_and_return_are_lines_too(app, client, writer):
    push(client, writer, line("A-1"))

    response = push(
        client,
        writer,
        line("A-1", revision=2, status="cancelled"),
        line("A-2", quantity="-2", amount="-240.00", cost="-160.00"),
    )

    assert response.get_json() == {
        "source": SOURCE,
        "lines": 2,
        "inserted": 1,
        "updated": 1,
        "unchanged": 0,
    }


def test_same_line_twice_in_a_batch_counts_once(app, client, writer):
    response = push(client, writer, line("A-1"), line("A-1"))

    assert response.get_json()["inserted"] == 1
    assert response.get_json()["unchanged"] == 1
    assert count(app, SalesLine) == 1


def test_duplicate_external_id_with_other_content_is_refused(app, client, writer):
    response = push(client, writer, line("A-1"), line("A-2"), line("A-1", cost="1"))

    document = assert_problem(response, 422)
    assert document["errors"] == [
        {
            "index": 2,
            "field": "external_id",
            "message": "External id 'A-1' is also line 0 of this batch, with "
            "other content.",
        }
    ]
    assert count(app, SalesLine) == 0


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"amount": 1200.0}, "amount"),  # a JSON float
        ({"amount": 1200}, "amount"),  # a JSON integer is a number too
        ({"amount": "1e3"}, "amount"),
        ({"amount": "1200.001"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "Infinity"}, "amount"),
        ({"amount": " 12"}, "amount"),
        ({"amount": "+12"}, "amount"),
        ({"amount": "1,200.00"}, "amount"),
        ({"amount": "100000000000000.00"}, "amount"),  # 10 ** 14
        ({"cost": "0x10"}, "cost"),
        ({"quantity": "1.00001"}, "quantity"),
        ({"quantity": "-1"}, "amount"),  # a return is negative in both
        ({"date": "2025-02-30"}, "date"),
        ({"date": "14/03/2025"}, "date"),
        ({"date": 20250314}, "date"),
        ({"date": "1999-12-31"}, "date"),
        ({"date": today_plus(8)}, "date"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "cny"}, "currency"),
        ({"currency": None}, "currency"),
        ({"revision": "2"}, "revision"),
        ({"revision": 0}, "revision"),
        ({"revision": 1.5}, "revision"),
        ({"status": "returned"}, "status"),
        ({"customer": ""}, "customer"),
        ({"customer": 17}, "customer"),
        ({"external_id": ["A"]}, "external_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_line_is_refused_with_index_and_field(
    app, client, writer, values, field
):
    bad = line("A-2")
    bad.update(values)

    response = push(client, writer, line("A-1"), bad)

    document = assert_problem(response, 422)
    assert [(e["index"], e["field"]) for e in document["errors"]] == [(1, field)]
    assert count(app, SalesLine) == 0


@pytest.mark.parametrize(
    "missing", ["external_id", "customer", "date", "quantity", "amount", "cost"]
)
def test_missing_field_is_refused(app, client, writer, missing):
    bad = line("A-2")
    del bad[missing]

    response = push(client, writer, line("A-1"), bad)

    document = assert_problem(response, 422)
    assert [(e["index"], e["field"]) for e in document["errors"]] == [(1, missing)]


def test_every_error_of_every_line_is_reported(client, writer):
    response = push(
        client,
        writer,
        line("A-1", amount=1.5, currency="XYZ"),
        line("A-2"),
        "not an object",
    )

    document = assert_problem(response, 422)
    assert [(e["index"], e["field"]) for e in document["errors"]] == [
        (0, "amount"),
        (0, "currency"),
        (2, None),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": [line()]}, "source"),
        ({"source": SOURCE}, "lines"),
        ({"source": SOURCE, "lines": "A-1"}, "lines"),
        ({"source": "a b", "lines": [line()]}, "source"),
        ({"source": 12, "lines": [line()]}, "source"),
    ],
)
def test_invalid_envelope_is_refused(client, writer, body, field):
    response = client.post("/api/v1/sales", json=body, headers=writer)

    document = assert_problem(response, 422)
    assert [e["field"] for e in document["errors"]] == [field]


def test_body_that_is_not_an_object_is_refused(client, writer):
    response = client.post("/api/v1/sales", json=[line()], headers=writer)

    assert_problem(response, 422)


def test_malformed_json_is_400(client, writer):
    response = client.post(
        "/api/v1/sales",
        data='{"source": "shop-eu", "lines": [',
        content_type="application/json",
        headers=writer,
    )

    document = assert_problem(response, 400)
    assert document["detail"].startswith("Malformed JSON")


def test_wrong_content_type_is_415(client, writer):
    response = client.post(
        "/api/v1/sales",
        data=json.dumps(batch(SOURCE, line())),
        content_type="text/plain",
        headers=writer,
    )

    assert_problem(response, 415)


def test_oversized_batch_is_413(app, client, writer):
    lines = [line(f"A-{i}") for i in range(5001)]

    response = push(client, writer, *lines)

    assert_problem(response, 413)
    assert count(app, SalesLine) == 0


def test_largest_batch_is_taken(app, client, writer):
    lines = [line(f"A-{i}", customer=f"C{i % 50:04d}") for i in range(5000)]

    response = push(client, writer, *lines)

    assert response.get_json()["inserted"] == 5000


def test_body_over_the_size_limit_is_413(app, client, writer):
    app.config["MAX_CONTENT_LENGTH"] = 1000

    response = push(client, writer, *[line(f"A-{i}") for i in range(10)])

    assert_problem(response, 413)


def test_csv_push(app, client, writer):
    body = (
        "external_id,revision,customer,date,quantity,amount,cost,currency,status\n"
        "A-1,1,C0001,2025-03-14,10,1200.00,800.00,CNY,confirmed\n"
        "A-2,,C0002,2025-03-15,-1,-5.00,-4.00,USD,\n"
    )

    response = push_csv(client, writer, body)

    assert response.get_json()["inserted"] == 2
    page = client.get("/api/v1/sales?external_id=A-2", headers=writer).get_json()
    assert page["lines"][0]["status"] == "confirmed"
    assert page["lines"][0]["revision"] == 1


def test_csv_errors_have_row_index(client, writer):
    body = (
        "external_id,customer,date,quantity,amount,cost,currency\nA-1,C1,x,1,1,1,CNY\n"
    )

    response = push_csv(client, writer, body)

    document = assert_problem(response, 422)
    assert [(e["index"], e["field"]) for e in document["errors"]] == [(0, "date")]


def test_csv_with_old_mac_line_ends_is_read(client, writer):
    body = (
        "external_id,customer,date,quantity,amount,cost,currency\r"
        "A-1,C0001,2025-03-14,10,1200.00,800.00,CNY\r"
    )

    response = push_csv(client, writer, body)

    assert response.get_json()["inserted"] == 1


@pytest.mark.parametrize("body", ['a,b\n"x\n', "\r0", 'a\n"unclosed'])
def test_malformed_csv_is_a_400_and_stores_nothing(app, client, writer, body):
    # Found by schemathesis: a bare carriage return made the reader fail
    # with a 500.
    response = push_csv(client, writer, body)

    assert response.status_code in (400, 422)
    assert response.mimetype == "application/problem+json"
    assert count(app, SalesLine) == 0


def test_concurrent_overlapping_pushes_store_each_line_once(app, writer):
    # Four senders retry the same lines at once, each batch overlapping the
    # next by half.
    lines = [line(f"A-{i}", customer=f"C{i % 20:04d}") for i in range(800)]
    batches = [lines[i : i + 400] for i in range(0, 700, 200)] * 2
    results, errors = [], []
    start = threading.Barrier(len(batches))

    def send(lines_):
        client = app.test_client()
        start.wait()
        response = push(client, writer, *lines_)
        (results if response.status_code == 200 else errors).append(response)

    threads = [threading.Thread(target=send, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.get_json() for r in errors] == []
    assert sum(r.get_json()["inserted"] for r in results) == 800
    assert count(app, SalesLine) == 800
    assert count(app, SalesLineRevision) == 0


def test_list_filters_and_pages(client, writer):
    push(
        client,
        writer,
        *[line(f"A-{i}", date=f"2025-03-{i + 1:02d}") for i in range(5)],
        line("B-1", customer="C0002"),
    )

    first = client.get("/api/v1/sales?customer=C0001&limit=2", headers=writer)
    page = first.get_json()
    second = client.get(
        f"/api/v1/sales?customer=C0001&limit=2&cursor={page['next_cursor']}",
        headers=writer,
    ).get_json()
    third = client.get(
        f"/api/v1/sales?customer=C0001&limit=2&cursor={second['next_cursor']}",
        headers=writer,
    ).get_json()
    dated = client.get(
        "/api/v1/sales?from=2025-03-02&to=2025-03-03", headers=writer
    ).get_json()

    ids = [item["external_id"] for p in (page, second, third) for item in p["lines"]]
    assert ids == ["A-0", "A-1", "A-2", "A-3", "A-4"]
    assert third["next_cursor"] is None
    assert [item["external_id"] for item in dated["lines"]] == ["A-1", "A-2"]
    assert page["lines"][0]["amount"] == "1200.00"
    assert page["lines"][0]["quantity"] == "10.0000"


def test_list_with_bad_query_is_400(client, writer):
    response = client.get("/api/v1/sales?from=yesterday", headers=writer)

    assert_problem(response, 400)


def test_list_beyond_the_largest_page_is_400(app, client, writer):
    maximum = app.config["SALES_MAX_PAGE_SIZE"]

    response = client.get(f"/api/v1/sales?limit={maximum + 1}", headers=writer)

    assert assert_problem(response, 400)["errors"] == {
        "limit": [f"At most {maximum} lines per page."]
    }
    assert (
        client.get(f"/api/v1/sales?limit={maximum}", headers=writer).status_code == 200
    )
