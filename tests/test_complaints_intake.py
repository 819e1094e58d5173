"""POST /api/v1/complaints and GET /api/v1/complaints/{source}/{external_id}.

The first tests hold the API alone to its contract (validation, one
complaint per (source, external id), keys bound to a source); the others
run the sync worker against a real Tryton ERP on loopback, each under a
source of its own.
"""

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from sync_api.commands.sync import make_worker
from sync_api.complaint_spec import FORWARDED, PENDING, UNMATCHED
from sync_api.erp import ErpComplaintsClient, ErpError, ErpRefused
from sync_api.extensions import db
from sync_api.models import ComplaintIntake
from tests.conftest import make_erp_api
from tests.rpc import Rpc, make_user, rpc_date, rpc_now
from tests.test_health import assert_problem

SOURCE = "portal"
URL = "/api/v1/complaints"


def complaint(external_id="WEB-1", **values):
    result = {
        "source": SOURCE,
        "external_id": external_id,
        "customer": "C0001",
        "received_at": "2026-03-14T09:30:00+08:00",
        "category": "delivery",
        "severity": "serious",
        "description": "The doors arrived scratched.",
        "contact": "Ms Li, 138 0000 0000",
    }
    result.update(values)
    return result


def send(client, headers, body):
    return client.post(URL, json=body, headers=headers)


def stored(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ComplaintIntake))


@pytest.fixture
def sender(make_key):
    return make_key("complaints:write")


# --- the API alone -----------------------------------------------------------


def test_a_complaint_is_kept_once_and_pending(app, client, sender):
    response = send(client, sender, complaint())

    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == PENDING
    assert body["number"] is None
    assert body["state"] is None
    # Kept in UTC, to the second.
    assert body["received_at"] == "2026-03-14T01:30:00Z"
    assert response.headers["Location"] == f"{URL}/{SOURCE}/WEB-1"

    again = send(client, sender, complaint())

    assert again.status_code == 200
    assert again.get_json() == body
    assert stored(app) == 1


def test_the_same_moment_in_another_offset_is_the_same_content(app, client, sender):
    send(client, sender, complaint())

    response = send(client, sender, complaint(received_at="2026-03-14T01:30:00Z"))

    assert response.status_code == 200
    assert stored(app) == 1


def test_other_content_is_a_conflict_naming_the_complaint(app, client, sender):
    send(client, sender, complaint())

    response = send(client, sender, complaint(severity="general"))

    problem = assert_problem(response, 409)
    assert problem["external_id"] == "WEB-1"
    assert problem["source"] == SOURCE
    assert problem["fields"] == ["severity"]
    assert "WEB-1" in problem["detail"]
    assert stored(app) == 1


def test_severity_is_optional(app, client, sender):
    body = complaint()
    del body["severity"]
    del body["contact"]

    response = send(client, sender, body)

    assert response.status_code == 201
    assert response.get_json()["severity"] is None


def in_the_future():
    moment = datetime.now(timezone.utc) + timedelta(hours=1)
    return moment.isoformat(timespec="seconds")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"priority": "high"}, "priority"),
        ({"received_at": in_the_future()}, "received_at"),
        ({"received_at": "2026-03-14T09:30:00"}, "received_at"),
        ({"received_at": "2026-03-14"}, "received_at"),
        ({"received_at": "1999-12-31T23:00:00Z"}, "received_at"),
        ({"severity": "urgent"}, "severity"),
        ({"category": "weather"}, "category"),
        ({"category": None}, "category"),
        ({"description": "   "}, "description"),
        ({"customer": ""}, "customer"),
        ({"external_id": "x" * 129}, "external_id"),
        ({"source": "not a source"}, "source"),
        ({"contact": "\x00"}, "contact"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(app, client, sender, values, field):
    response = send(client, sender, complaint(**values))

    problem = assert_problem(response, 422)
    assert field in {error["field"] for error in problem["errors"]}
    assert stored(app) == 0


def test_a_missing_field_is_refused(app, client, sender):
    body = complaint()
    del body["received_at"]

    problem = assert_problem(send(client, sender, body), 422)

    assert [e["field"] for e in problem["errors"]] == ["received_at"]


def test_not_json_is_refused(app, client, sender):
    assert_problem(client.post(URL, data="x", headers=sender), 415)
    assert_problem(
        client.post(URL, data="{", content_type="application/json", headers=sender),
        400,
    )
    assert_problem(client.post(URL, json=[complaint()], headers=sender), 422)
    assert stored(app) == 0


def test_keys_need_the_scope_and_their_source(app, client, make_key):
    assert_problem(send(client, make_key("sales:write"), complaint()), 403)
    bound = make_key("complaints:write", source="callcentre")
    assert_problem(send(client, bound, complaint()), 403)
    assert_problem(client.get(f"{URL}/{SOURCE}/WEB-1", headers=bound), 403)

    response = send(client, bound, complaint(source="callcentre"))

    assert response.status_code == 201
    assert client.get(f"{URL}/callcentre/WEB-1", headers=bound).status_code == 200
    assert stored(app) == 1


def test_status_of_an_unknown_complaint_is_404(client, sender):
    assert_problem(client.get(f"{URL}/{SOURCE}/nope", headers=sender), 404)


def test_status_before_the_forward_needs_no_erp(client, sender):
    send(client, sender, complaint())

    response = client.get(f"{URL}/{SOURCE}/WEB-1", headers=sender)

    assert response.status_code == 200
    assert response.get_json()["status"] == PENDING


def test_the_keys_cli_makes_complaint_keys(runner):
    result = runner.invoke(
        args=[
            "keys",
            "create",
            "--name",
            "portal",
            "--scope",
            "complaints:write",
            "--source",
            SOURCE,
        ]
    )

    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("crm_")


# --- with the ERP --------------------------------------------------------------


@pytest.fixture
def erp_client(erp_app):
    return erp_app.test_client()


@pytest.fixture
def erp_sender(erp_app):
    from sync_api.services.keys import create_key

    def make(*scopes, source=None):
        with erp_app.app_context():
            token = create_key(db.session, "test", list(scopes), source).token
        return {"Authorization": f"Bearer {token}"}

    return make("complaints:write", "sales:read")


def sync_once(app):
    with app.app_context():
        return make_worker().run_once()


def rpc_complaints(erp, source):
    admin = Rpc(erp, "admin", erp.password)
    return admin.search_read(
        "crm.complaint",
        [["intake_source", "=", source]],
        [
            "number",
            "state",
            "channel",
            "category",
            "severity",
            "party.code",
            "received_at",
            "contact",
            "intake_external_id",
            "response_deadline",
        ],
    )


def test_a_complaint_flows_into_the_erp_once(erp_app, erp_client, erp_sender, erp):
    source = "flow-portal"
    body = complaint(source=source)
    assert send(erp_client, erp_sender, body).status_code == 201

    report = sync_once(erp_app)

    assert report.complaints.created == 1
    (created,) = rpc_complaints(erp, source)
    assert created["channel"] == "web"
    assert created["category"] == "delivery"
    assert created["severity"] == "serious"
    assert created["party."]["code"] == "C0001"
    assert created["intake_external_id"] == "WEB-1"
    assert created["contact"] == "Ms Li, 138 0000 0000"
    assert created["state"] == "received"
    # The model's own create ran: numbered, with its deadlines.
    assert created["number"]
    assert created["response_deadline"] is not None

    status = erp_client.get(f"{URL}/{source}/WEB-1", headers=erp_sender).get_json()
    assert status["status"] == FORWARDED
    assert status["number"] == created["number"]
    assert status["state"] == "received"
    assert status["outcome"] is None

    # Sent again: the same answer, nothing new anywhere.
    again = send(erp_client, erp_sender, body)
    assert again.status_code == 200
    assert again.get_json()["number"] == created["number"]
    assert sync_once(erp_app).complaints.forwarded == 0
    assert len(rpc_complaints(erp, source)) == 1


def test_a_retried_forward_creates_no_second_complaint(erp):
    body = complaint(source="retry-portal", received_at="2026-03-14T01:30:00")
    with ErpComplaintsClient(erp.url, erp.database, erp.key, 10) as erp_client:
        first = erp_client.intake(body)
        # The answer was lost; the worker sends the complaint again.
        second = erp_client.intake(body)

        assert first["status"] == "created"
        assert second["status"] == "existing"
        assert second["number"] == first["number"]
        assert len(rpc_complaints(erp, "retry-portal")) == 1
        assert erp_client.status("retry-portal", "WEB-1")["number"] == first["number"]
        with pytest.raises(ErpRefused) as unknown:
            erp_client.status("retry-portal", "WEB-2")
        assert unknown.value.status == 404


def test_a_key_of_a_sync_only_user_creates_complaints(erp):
    """The crm_sync key authorises the sending system: its user, in CRM Sales
    Sync only, has no rights on complaints and still creates them"""
    admin = Rpc(erp, "admin", erp.password)
    make_user(admin, "intake-bot", ["CRM Sales Sync"])
    (user,) = admin.search_read("res.user", [["login", "=", "intake-bot"]], ["id"])
    (application,) = admin.model(
        "res.user.application",
        "create",
        [{"user": user["id"], "application": "crm_sync", "state": "validated"}],
    )
    (key,) = admin.model("res.user.application", "read", [application], ["key"])
    body = complaint(source="bot-portal", received_at="2026-03-14T01:30:00")
    with ErpComplaintsClient(erp.url, erp.database, key["key"], 10) as erp_client:
        created = erp_client.intake(body)
    assert created["status"] == "created"
    (complaint_row,) = rpc_complaints(erp, "bot-portal")
    assert complaint_row["number"] == created["number"]


def test_the_erp_refuses_what_it_cannot_take(erp):
    with ErpComplaintsClient(erp.url, erp.database, erp.key, 10) as erp_client:
        for values, field in [
            ({"category": "weather"}, "category"),
            ({"severity": "urgent"}, "severity"),
            ({"received_at": "2999-01-01T00:00:00"}, "received_at"),
            ({"description": ""}, "description"),
        ]:
            with pytest.raises(ErpRefused) as refused:
                erp_client.intake(complaint(source="bad-intake", **values))
            assert refused.value.status == 422
            assert refused.value.field == field
    assert rpc_complaints(erp, "bad-intake") == []


def test_an_unknown_customer_waits_and_is_listed(database_uri, erp):
    app = make_erp_api(database_uri, erp, COMPLAINTS_RETRY_SECONDS=0.0)
    client = app.test_client()
    from sync_api.services.keys import create_key

    with app.app_context():
        token = create_key(db.session, "t", ["complaints:write", "sales:read"]).token
    headers = {"Authorization": f"Bearer {token}"}
    source = "unknown-portal"
    send(client, headers, complaint(source=source, customer="NEW-C-1"))

    report = sync_once(app)

    assert report.complaints.unmatched == 1
    assert rpc_complaints(erp, source) == []
    status = client.get(f"{URL}/{source}/WEB-1", headers=headers).get_json()
    assert status["status"] == UNMATCHED
    sync_status = client.get("/api/v1/sync/status", headers=headers).get_json()
    assert {
        "source": source,
        "external_id": "WEB-1",
        "customer": "NEW-C-1",
        "received_at": "2026-03-14T01:30:00Z",
    } in sync_status["unmatched_complaints"]

    # The party appears in the ERP: the next pass creates the complaint.
    admin = Rpc(erp, "admin", erp.password)
    admin.model("party.party", "create", [{"name": "New C 1", "code": "NEW-C-1"}])
    assert sync_once(app).complaints.created == 1
    (created,) = rpc_complaints(erp, source)
    assert created["party."]["code"] == "NEW-C-1"
    sync_status = client.get("/api/v1/sync/status", headers=headers).get_json()
    assert sync_status["unmatched_complaints"] == []
    assert sync_status["complaints_pending"] == 0
    with app.app_context():
        db.engine.dispose()


def test_erp_down_during_intake_loses_nothing(erp_app, erp_client, erp_sender, erp):
    source = "outage-portal"
    send(erp_client, erp_sender, complaint("OUT-0", source=source))
    erp.stop()
    try:
        with pytest.raises(ErpError):
            sync_once(erp_app)
        stop = threading.Event()
        with erp_app.app_context():
            worker = make_worker()
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        # Intake goes on while the ERP is down; the worker backs off.
        for n in range(1, 4):
            response = send(
                erp_client, erp_sender, complaint(f"OUT-{n}", source=source)
            )
            assert response.status_code == 201
        time.sleep(0.5)
        status = erp_client.get(f"{URL}/{source}/OUT-1", headers=erp_sender)
        assert status.get_json()["status"] == PENDING
        sync_status = erp_client.get("/api/v1/sync/status", headers=erp_sender)
        assert sync_status.get_json()["complaints_pending"] == 4
        assert sync_status.get_json()["last_error"].startswith("ERP unreachable")
    finally:
        erp.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sync_status = erp_client.get("/api/v1/sync/status", headers=erp_sender)
            if sync_status.get_json()["complaints_pending"] == 0:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)

    created = rpc_complaints(erp, source)
    assert sorted(c["intake_external_id"] for c in created) == [
        f"OUT-{n}" for n in range(4)
    ]
    for n in range(4):
        status = erp_client.get(f"{URL}/{source}/OUT-{n}", headers=erp_sender)
        assert status.get_json()["status"] == FORWARDED


def test_a_closed_complaint_shows_its_outcome(erp_app, erp_client, erp_sender, erp):
    source = "closed-portal"
    send(erp_client, erp_sender, complaint(source=source))
    sync_once(erp_app)
    (created,) = rpc_complaints(erp, source)
    close_in_erp(erp, created["id"])

    status = erp_client.get(f"{URL}/{source}/WEB-1", headers=erp_sender).get_json()

    assert status["state"] == "closed"
    assert status["outcome"]["satisfaction"] == 5
    assert status["outcome"]["actions"] == [
        {"kind": "replace", "description": "Doors replaced."}
    ]
    assert status["outcome"]["actions_taken"] == "On site."
    assert status["outcome"]["closed_at"]


def close_in_erp(erp, complaint_id):
    "Walk a complaint through the workflow to closed, as ERP users do"
    admin = Rpc(erp, "admin", erp.password)
    departments = admin.search_read("crm.department", [], ["id"])
    if departments:
        department = departments[0]["id"]
    else:
        (department,) = admin.model(
            "crm.department",
            "create",
            [{"name": "After-sales", "company": admin.context["company"]}],
        )
    ids = [complaint_id]

    def button(name):
        admin.model("crm.complaint", name, ids)

    def write(values):
        admin.model("crm.complaint", "write", ids, values)

    # the receiving department's employee calls the customer back
    (party,) = admin.model("party.party", "create", [{"name": "Li Na"}])
    (caller,) = admin.model(
        "company.employee",
        "create",
        [
            {
                "party": party,
                "company": admin.context["company"],
                "crm_department": department,
            }
        ],
    )
    button("acknowledge")
    write({"responsible_department": department, "receiving_department": department})
    button("investigate")
    write({"cause_analysis": "Packing.", "measures": "Replace the doors."})
    button("submit")
    button("approve")
    write(
        {
            "actions": [
                ["create", [{"kind": "replace", "description": "Doors replaced."}]]
            ],
            "actions_taken": "On site.",
        }
    )
    button("resolve")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    write(
        {
            "agreed_at": rpc_now(),
            "agreed_with": "Mr. Sun",
            "return_visit_date": rpc_date(now.date()),
            "return_visit_by": caller,
            "return_visit_result": "Satisfied.",
            "satisfaction": 5,
        }
    )
    button("close")
