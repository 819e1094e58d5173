"""Property-based tests (hypothesis) of complaint intake: the schema, one
complaint per (source, external id), and forwarding that creates each
complaint in the ERP exactly once whatever the ERP's outages.

Each example starts from an empty table; the ERP is an in-process stand-in
that keeps complaints by (source, external id), as crm_module does.
"""

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_api.complaint_spec import CATEGORIES, CONTENT_FIELDS, FORWARDED, SEVERITIES
from sync_api.erp import ErpError, ErpRefused
from sync_api.extensions import db
from sync_api.models import ComplaintIntake
from sync_api.services.complaints import ComplaintForwarder, ForwardSettings
from tests.test_complaints_intake import URL, stored
from tests.test_properties import free_text

SOURCE = "prop-portal"
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def empty(app) -> None:
    with app.app_context():
        db.session.execute(ComplaintIntake.__table__.delete())
        db.session.commit()


def non_blank(max_size: int) -> st.SearchStrategy:
    return free_text(1, max_size).filter(lambda text: text.strip())


@st.composite
def moments(draw) -> str:
    "A past moment with any offset, as a sender writes it"
    seconds = draw(st.integers(0, 20 * 365 * 86400))
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc) - timedelta(seconds=seconds)
    offset = draw(st.integers(-14 * 4, 14 * 4)) * 15
    zone = timezone(timedelta(minutes=offset))
    return moment.astimezone(zone).isoformat()


@st.composite
def complaints(draw) -> dict[str, Any]:
    result = {
        "source": SOURCE,
        "external_id": draw(non_blank(128)),
        "customer": draw(non_blank(64)),
        "received_at": draw(moments()),
        "category": draw(st.sampled_from(CATEGORIES)),
        "description": draw(non_blank(300)),
    }
    severity = draw(st.one_of(st.none(), st.sampled_from(SEVERITIES)))
    if severity is not None or draw(st.booleans()):
        result["severity"] = severity
    contact = draw(st.one_of(st.none(), free_text(0, 128)))
    if contact is not None or draw(st.booleans()):
        result["contact"] = contact
    return result


INVALID = {
    "external_id": st.one_of(st.just(""), st.just("x" * 129), st.integers()),
    "customer": st.one_of(st.just(" "), st.just("c" * 65), st.none()),
    "received_at": st.one_of(
        st.just("2026-03-14"),
        st.just("2026-03-14T09:30:00"),
        st.just("2999-01-01T00:00:00Z"),
        st.just("1999-12-31T00:00:00Z"),
        st.integers(),
    ),
    "category": st.text(max_size=12).filter(lambda text: text not in CATEGORIES),
    "severity": st.text(max_size=12).filter(lambda text: text not in SEVERITIES),
    "description": st.one_of(st.just(""), st.just("\t\n"), st.just("a\x00b")),
    "contact": st.one_of(st.just("c" * 129), st.integers()),
    "unknown": st.text(max_size=5),
}


@pytest.fixture
def sender(make_key):
    return make_key("complaints:write")


@SETTINGS
@given(body=complaints())
def test_any_valid_complaint_is_kept_as_sent_once(app, client, sender, body):
    empty(app)

    first = client.post(URL, json=body, headers=sender)
    again = client.post(URL, json=body, headers=sender)

    assert first.status_code == 201, first.get_json()
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert stored(app) == 1
    answer = first.get_json()
    for name in ("external_id", "customer", "category"):
        assert answer[name] == body[name]
    assert answer["severity"] == body.get("severity")
    sent = datetime.fromisoformat(body["received_at"])
    kept = datetime.fromisoformat(answer["received_at"].replace("Z", "+00:00"))
    assert kept == sent.replace(microsecond=0)


@SETTINGS
@given(body=complaints(), name=st.sampled_from(sorted(INVALID)), data=st.data())
def test_any_single_invalid_field_is_refused(app, client, sender, body, name, data):
    empty(app)
    body[name] = data.draw(INVALID[name])

    response = client.post(URL, json=body, headers=sender)

    assert response.status_code == 422, (name, body[name])
    assert response.mimetype == "application/problem+json"
    assert {e["field"] for e in response.get_json()["errors"]} == {name}
    assert stored(app) == 0


OTHER = {
    "customer": lambda value: value[:63] + ("x" if not value.endswith("x") else "y"),
    "received_at": lambda value: (
        datetime.fromisoformat(value) - timedelta(seconds=1)
    ).isoformat(),
    "category": lambda value: CATEGORIES[(CATEGORIES.index(value) + 1) % 6],
    "severity": lambda value: SEVERITIES[
        (SEVERITIES.index(value) + 1) % 3 if value in SEVERITIES else 0
    ],
    "description": lambda value: value + ".",
    "contact": lambda value: (value or "")[:127] + "!",
}


@SETTINGS
@given(body=complaints(), name=st.sampled_from(CONTENT_FIELDS))
def test_any_other_content_is_a_conflict(app, client, sender, body, name):
    empty(app)
    client.post(URL, json=body, headers=sender)
    changed = dict(body, **{name: OTHER[name](body.get(name))})

    response = client.post(URL, json=changed, headers=sender)

    assert response.status_code == 409, response.get_json()
    assert response.get_json()["fields"] == [name]
    assert response.get_json()["external_id"] == body["external_id"]
    assert stored(app) == 1


class FlakyErp:
    """Keeps complaints by (source, external id) as crm_module does; a call
    fails before the ERP works ("down") or after it committed ("lost": the
    answer never arrives), as the plan says."""

    def __init__(self, plan: list[str]) -> None:
        self.plan = itertools.chain(plan, itertools.repeat("ok"))
        self.created: dict[tuple[str, str], dict[str, Any]] = {}
        self.creations = 0

    def intake(self, payload: dict[str, Any]) -> dict[str, Any]:
        step = next(self.plan)
        if step == "down":
            raise ErpError("ERP unreachable: ConnectionError")
        key = (payload["source"], payload["external_id"])
        status = "existing" if key in self.created else "created"
        if status == "created":
            self.creations += 1
            self.created[key] = payload
        if step == "lost":
            raise ErpError("ERP unreachable: no answer within 10 s")
        return {
            "status": status,
            "number": f"N{len(self.created)}",
            "state": "received",
        }


@SETTINGS
@given(
    bodies=st.lists(
        complaints(), min_size=1, max_size=5, unique_by=lambda b: b["external_id"]
    ),
    plan=st.lists(st.sampled_from(["ok", "down", "lost"]), max_size=12),
)
def test_every_complaint_reaches_the_erp_exactly_once(
    app, client, sender, bodies, plan
):
    empty(app)
    for body in bodies:
        assert client.post(URL, json=body, headers=sender).status_code == 201
    erp = FlakyErp(plan)
    with app.app_context():
        forwarder = ComplaintForwarder(db.engine, erp, ForwardSettings(batch_size=2))
        for _ in range(len(plan) + len(bodies) + 1):
            try:
                forwarder.run_once()
            except ErpError:
                continue

    assert erp.creations == len(bodies)
    assert set(erp.created) == {(SOURCE, b["external_id"]) for b in bodies}
    for payload in erp.created.values():
        assert payload["received_at"]
    with app.app_context():
        statuses = db.session.scalars(db.select(ComplaintIntake.status)).all()
    assert statuses == [FORWARDED] * len(bodies)


class RefusingErp:
    "Refuses the complaints of one customer with its own error, takes the rest"

    def __init__(self, refused_customer: str) -> None:
        self.refused_customer = refused_customer
        self.created: list[str] = []

    def intake(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload["customer"] == self.refused_customer:
            raise ErpRefused("Access denied", status=400, code=None, field=None)
        self.created.append(payload["external_id"])
        return {"status": "created", "number": "N1", "state": "received"}


def test_a_complaint_the_erp_refuses_waits_and_the_others_go_through(
    app, client, sender
):
    for external_id, customer in [("R-1", "C0001"), ("R-2", "BAD"), ("R-3", "C0003")]:
        body = {
            "source": SOURCE,
            "external_id": external_id,
            "customer": customer,
            "received_at": "2026-03-14T09:30:00Z",
            "category": "service",
            "description": "Nobody called back.",
        }
        assert client.post(URL, json=body, headers=sender).status_code == 201
    erp = RefusingErp("BAD")
    with app.app_context():
        report = ComplaintForwarder(db.engine, erp).run_once()

    assert erp.created == ["R-1", "R-3"]
    assert [row["external_id"] for row in report.refused] == ["R-2"]
    refused = client.get(f"{URL}/{SOURCE}/R-2", headers=sender).get_json()
    assert refused["status"] == "refused"
    assert "Access denied" in refused["last_error"]
