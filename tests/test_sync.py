"""The sync worker against a real Tryton ERP on loopback.

Each test pushes under a source of its own, so the ERP's summaries of one
test never mix with another's. The ERP's totals are compared with totals
computed here from the pushed lines (tests/lines.py), not with the API's.
"""

import os
import signal
import subprocess
import threading
import time

import pytest
from sqlalchemy import func, select

from fixtures.demo_data import customers
from sync_api.commands.sync import make_worker
from sync_api.erp import ErpClient, ErpError
from sync_api.extensions import db
from sync_api.models import SyncPending
from tests.erp_server import BIN, REPOSITORY_ROOT
from tests.lines import batch, erp_view, expected_totals, line
from tests.rpc import Rpc


@pytest.fixture
def writer(make_key):
    return make_key("sales:write", "sales:read")


@pytest.fixture
def make_key(erp_app):
    from sync_api.services.keys import create_key

    def make(*scopes, source=None):
        with erp_app.app_context():
            token = create_key(db.session, "test", list(scopes), source).token
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def client(erp_app):
    return erp_app.test_client()


def push(client, headers, source, lines):
    for start in range(0, len(lines), 1000):
        response = client.post(
            "/api/v1/sales",
            json=batch(source, *lines[start : start + 1000]),
            headers=headers,
        )
        assert response.status_code == 200, response.get_json()


def sync_once(app):
    with app.app_context():
        return make_worker().run_once()


def pending(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SyncPending))


def test_demo_lines_arrive_as_the_totals_recomputed_from_them(
    erp_app, client, writer, erp
):
    lines = [item for customer in customers() for item in customer.lines]
    push(client, writer, "demo-path", lines)

    report = sync_once(erp_app)

    expected = expected_totals([lines])
    assert report.rows_sent == len(expected)
    assert erp_view(erp.summaries("demo-path")) == expected
    assert pending(erp_app) == 0
    status = client.get("/api/v1/sync/status", headers=writer).get_json()
    assert status["pending_keys"] == 0
    assert status["oldest_pending_age_s"] is None
    assert status["last_success_at"] is not None


def test_updates_cancellations_and_returns_change_the_totals(
    erp_app, client, writer, erp
):
    first = [
        line("U-1"),
        line("U-2", amount="300.00", cost="100.00"),
        line("U-3", customer="C0002"),
    ]
    push(client, writer, "corrections", first)
    sync_once(erp_app)
    second = [
        # corrected: another month
        line("U-1", revision=2, date="2025-04-02"),
        # cancelled: C0002's month falls to zero
        line("U-3", revision=2, customer="C0002", status="cancelled"),
        # a return
        line("U-4", quantity="-1", amount="-120.00", cost="-80.00"),
    ]
    push(client, writer, "corrections", second)

    sync_once(erp_app)

    expected = expected_totals([first, second])
    assert erp_view(erp.summaries("corrections")) == expected
    assert expected[("C0002", "2025-03", "CNY")]["line_count"] == 0


def test_unknown_customer_is_kept_and_listed(erp_app, client, writer, erp):
    push(client, writer, "newshop", [line("N-1", customer="NEW-42"), line("N-2")])

    sync_once(erp_app)

    summaries = erp.summaries("newshop")
    assert summaries[("NEW-42", "2025-03", "CNY")]["matched"] is False
    assert summaries[("C0001", "2025-03", "CNY")]["matched"] is True
    status = client.get("/api/v1/sync/status", headers=writer).get_json()
    assert {"source": "newshop", "customer": "NEW-42"} in [
        {"source": u["source"], "customer": u["customer"]}
        for u in status["unmatched_customers"]
    ]
    assert status["pending_keys"] == 0


def unmatched_of(client, headers, source):
    status = client.get("/api/v1/sync/status", headers=headers).get_json()
    return [
        (u["customer"], u["summaries"])
        for u in status["unmatched_customers"]
        if u["source"] == source
    ]


def test_unmatched_customers_come_from_the_erps_answers(
    erp_app, client, writer, erp, monkeypatch
):
    push(
        client,
        writer,
        "answers",
        [
            line("A-1", customer="NEW-77"),
            line("A-2", customer="NEW-77", date="2025-04-02"),
            line("A-3"),
        ],
    )
    with erp_app.app_context():
        worker = make_worker()
    calls = []
    request = worker.erp.session.request

    def record(method, url, **kwargs):
        calls.append((method, url.split("/crm/")[1]))
        return request(method, url, **kwargs)

    monkeypatch.setattr(worker.erp.session, "request", record)

    with erp_app.app_context():
        worker.run_once()

    assert calls == [("POST", "sales/summaries")]
    assert unmatched_of(client, writer, "answers") == [("NEW-77", 2)]

    # The party appears in the ERP; the answer to the customer's next total
    # no longer names it.
    admin = Rpc(erp, "admin", erp.password)
    admin.model("party.party", "create", [{"name": "New 77", "code": "NEW-77"}])
    push(client, writer, "answers", [line("A-4", customer="NEW-77")])
    with erp_app.app_context():
        worker.run_once()

    assert calls == [("POST", "sales/summaries")] * 2
    assert unmatched_of(client, writer, "answers") == []
    assert erp.summaries("answers")[("NEW-77", "2025-04", "CNY")]["matched"] is True


def test_the_erp_refuses_a_batch_with_bad_rows_naming_each(erp):
    def row(customer, **values):
        return {
            "source": "bad-rows",
            "customer": customer,
            "month": "2025-03",
            "currency": "CNY",
            "revenue": "10.00",
            "cost": "5.00",
            "quantity": "1",
            "line_count": 1,
            "last_sale_date": "2025-03-14",
            **values,
        }

    rows = [
        row("C0001"),
        row("C0002", currency="XYZ"),
        row("C0003"),
        row("C0004", revenue=10.5, line_count=-1),
    ]
    with ErpClient(erp.url, erp.database, erp.key, 10) as erp_client:
        with pytest.raises(ErpError) as refused:
            erp_client.upsert_summaries(rows)
        assert refused.value.status == 422
        assert sorted(
            (error["index"], error["field"]) for error in refused.value.row_errors
        ) == [(1, "currency"), (3, "line_count"), (3, "revenue")]
        assert erp.summaries("bad-rows") == {}

        # Not even an object with rows: the same answer, about the rows.
        with pytest.raises(ErpError) as refused:
            erp_client.call("POST", "/summaries", json=rows)
        assert refused.value.status == 422
        assert [error["field"] for error in refused.value.row_errors] == ["rows"]

        assert erp_client.upsert_summaries(rows[:1]).inserted == 1


def test_rows_the_erp_refuses_wait_while_the_others_go_through(
    erp_app, client, writer, erp
):
    # The API takes any ISO 4217 currency; this ERP knows CNY and USD only.
    lines = [line(f"R-{i}", customer=f"C{i:04d}") for i in range(1, 30)]
    lines.append(line("R-EUR", customer="C0005", currency="EUR"))
    push(client, writer, "refused", lines)

    report = sync_once(erp_app)

    assert report.keys_rejected == 1
    assert report.rejected[0]["currency"] == "EUR"
    stored = erp.summaries("refused")
    assert len(stored) == 29
    assert ("C0005", "2025-03", "EUR") not in stored
    status = client.get("/api/v1/sync/status", headers=writer).get_json()
    assert status["pending_keys"] == 1
    assert status["rejected_keys"] == 1
    assert "EUR" in status["last_error"]
    # Not retried before its time: the next pass sends nothing.
    assert sync_once(erp_app).rows_sent == 0


def test_erp_down_during_pushes_loses_nothing(erp_app, client, writer, erp):
    pushes = [
        [line(f"D-{n}-{i}", customer=f"C{i % 7 + 1:04d}") for i in range(40)]
        for n in range(3)
    ]
    push(client, writer, "outage", pushes[0])
    erp.stop()
    try:
        with pytest.raises(ErpError):
            sync_once(erp_app)
        status = client.get("/api/v1/sync/status", headers=writer).get_json()
        assert status["last_error"].startswith("ERP unreachable")
        stop = threading.Event()
        with erp_app.app_context():
            worker = make_worker()
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        # The worker retries with backoff while senders go on pushing.
        push(client, writer, "outage", pushes[1])
        time.sleep(1)
        push(client, writer, "outage", pushes[2])
        assert pending(erp_app) > 0
    finally:
        erp.start()
    try:
        deadline = time.monotonic() + 60
        while pending(erp_app) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)

    assert pending(erp_app) == 0
    assert erp_view(erp.summaries("outage")) == expected_totals(pushes)


def test_worker_killed_in_a_batch_converges_after_restart(
    erp_app, client, writer, erp, database_uri
):
    lines = [
        line(f"K-{i}", customer=f"C{i % 60 + 1:04d}", date=f"2024-{i % 12 + 1:02d}-10")
        for i in range(2400)
    ]
    push(client, writer, "killed", lines)
    total_keys = pending(erp_app)
    environment = dict(
        os.environ,
        CRM_API_DATABASE_URI=database_uri,
        CRM_ERP_URL=erp.url,
        CRM_ERP_DATABASE=erp.database,
        CRM_ERP_KEY=erp.key,
        CRM_SYNC_BATCH_SIZE="10",
        CRM_SYNC_LEASE_SECONDS="2",
        CRM_SYNC_POLL_SECONDS="0.05",
        PYTHONPATH=str(REPOSITORY_ROOT),
    )
    command = [str(BIN / "flask"), "--app", "sync_api", "sync", "run"]

    worker = subprocess.Popen(command, env=environment, cwd=REPOSITORY_ROOT)
    try:
        claimed = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with erp_app.app_context():
                claimed = db.session.scalar(
                    select(func.count()).where(SyncPending.claim_token.is_not(None))
                )
                db.session.rollback()
            if claimed and pending(erp_app) < total_keys:
                break
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        worker.kill()
    assert claimed, "the worker was not caught in the middle of a batch"
    left = pending(erp_app)
    assert 0 < left < total_keys

    restarted = subprocess.run(
        [*command, "--once"],
        env=dict(environment, CRM_SYNC_BATCH_SIZE="1000"),
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restarted.returncode == 0, restarted.stderr
    # The killed worker's claim outlives it by the lease (2 s here).
    time.sleep(2.5)
    sync_once(erp_app)

    assert pending(erp_app) == 0
    assert erp_view(erp.summaries("killed")) == expected_totals([lines])


def test_two_workers_never_lose_a_key(erp_app, client, writer, erp):
    lines = [line(f"W-{i}", customer=f"C{i % 50 + 1:04d}") for i in range(500)]
    push(client, writer, "twoworkers", lines)
    with erp_app.app_context():
        workers = [make_worker(), make_worker()]
    errors = []

    def run(worker):
        try:
            worker.run_once()
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert pending(erp_app) == 0
    assert erp_view(erp.summaries("twoworkers")) == expected_totals([lines])


def test_status_needs_a_key(client):
    assert client.get("/api/v1/sync/status").status_code == 401
