"""Property-based tests (hypothesis) of the sales schema and the revision
rules, through the Flask test client on the real API database (SQLite, or
PostgreSQL with CRM_API_TEST_POSTGRESQL_URI).

Each example starts from an empty ledger; the totals the sync worker would
send are captured by an in-process recorder standing in for the ERP
transport and compared with :func:`tests.lines.expected_totals`, computed
independently from the pushed lines.
"""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sync_api.currencies import ISO_4217_CODES
from sync_api.erp import UpsertResult
from sync_api.extensions import db
from sync_api.models import SalesLine, SalesLineRevision, SalesSource, SyncPending
from sync_api.services.sync import SyncSettings, SyncWorker
from tests.lines import batch, expected_totals
from tests.test_sales import count

SOURCE = "prop"
# Examples share one app and database per test, emptied between examples.
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LEDGER_TABLES = (SalesLineRevision, SalesLine, SyncPending, SalesSource)

# --- strategies --------------------------------------------------------------

# Text any database stores: no NUL, no lone surrogate.
storable = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
# Text that would do harm if it were ever pasted into SQL, HTML or a CSV
# formula instead of bound as a value: it must come back as sent.
HOSTILE = st.sampled_from(
    [
        "'; DROP TABLE sales_line; --",
        "C0001' OR '1'='1",
        '"); DELETE FROM api_key; --',
        "<script>alert(1)</script>",
        '=HYPERLINK("http://x")',
        "\\x27 \\ % _ *",
        "客户'; --",
    ]
)


def free_text(min_size: int, max_size: int) -> st.SearchStrategy:
    return st.one_of(
        st.text(storable, min_size=min_size, max_size=max_size),
        HOSTILE.map(lambda text: text[:max_size]),
    )


CURRENCIES = sorted(ISO_4217_CODES)


def decimal_text(integer_digits: int, digits: int, sign: int) -> st.SearchStrategy:
    """A decimal string with at most these digits, of the given sign
    (a zero may be written "-0"), in any notation ("10", "10.0", "010")."""
    return st.builds(
        lambda integer, fraction, zeros: (
            ("-" if sign < 0 else "")
            + "0" * zeros
            + str(integer)
            + (("." + fraction) if fraction else "")
        ),
        st.integers(0, 10**integer_digits - 1),
        st.text("0123456789", max_size=digits),
        st.integers(0, 2),
    )


@st.composite
def valid_lines(draw, external_id=None) -> dict[str, Any]:
    """Any line the contract accepts; optional members may be absent."""
    sign = draw(st.sampled_from([1, -1]))
    latest = date.today() + timedelta(days=7)
    line = {
        "external_id": external_id or draw(free_text(1, 128)),
        "customer": draw(free_text(1, 64)),
        "date": draw(st.dates(date(2000, 1, 1), latest)).isoformat(),
        # A return has both quantity and amount negative.
        "quantity": draw(decimal_text(12, 4, sign)),
        "amount": draw(decimal_text(14, 2, sign)),
        "cost": draw(decimal_text(14, 2, draw(st.sampled_from([1, -1])))),
        "currency": draw(st.sampled_from(CURRENCIES)),
    }
    optional = {
        "revision": st.integers(1, 2**31 - 1),
        "product": st.none() | free_text(0, 128),
        "category": st.none() | free_text(0, 128),
        "status": st.sampled_from(["confirmed", "cancelled"]),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            line[name] = draw(strategy)
    return line


# Values the contract refuses, per field.
UNSTORABLE = st.sampled_from(["\x00", "\ud800", "a\udfffb", "x\x00"])
NOT_A_STRING = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.just([]),
)
NOT_A_DECIMAL = st.one_of(
    NOT_A_STRING.filter(lambda v: v is not None),
    st.sampled_from(
        ["", "1e3", "1.", ".5", "+1", " 1", "1,5", "NaN", "0x10", "\u0661"]
    ),
    st.text(max_size=8).filter(lambda t: not t.lstrip("-").replace(".", "").isdigit()),
)
INVALID = {
    "external_id": st.one_of(
        NOT_A_STRING, st.just(""), st.text(min_size=129, max_size=140), UNSTORABLE
    ),
    "revision": st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=2**31),
        st.sampled_from(["1", 1.0, None, True]),
    ),
    "customer": st.one_of(
        NOT_A_STRING, st.just(""), st.text(min_size=65, max_size=70), UNSTORABLE
    ),
    "date": st.one_of(
        NOT_A_STRING,
        st.sampled_from(["2025-02-30", "20250314", "2025-3-14", "1999-12-31", ""]),
        st.dates(date.today() + timedelta(days=8)).map(date.isoformat),
    ),
    "quantity": st.one_of(NOT_A_DECIMAL, st.just("1.00001"), st.just("1" * 13)),
    "amount": st.one_of(NOT_A_DECIMAL, st.just("1.001"), st.just("1" * 15)),
    "cost": st.one_of(NOT_A_DECIMAL, st.just("1.001"), st.just("1" * 15)),
    "currency": st.one_of(
        NOT_A_STRING, st.sampled_from(["", "cny", "XXXX", "ZZZ", "RMB"])
    ),
    "product": st.one_of(
        st.integers(), st.text(min_size=129, max_size=140), UNSTORABLE
    ),
    "category": st.one_of(
        st.integers(), st.text(min_size=129, max_size=140), UNSTORABLE
    ),
    "status": st.one_of(
        st.none(), st.sampled_from(["", "returned", "CONFIRMED", "open"])
    ),
}


# --- helpers -----------------------------------------------------------------


def empty_ledger(app) -> None:
    with app.app_context():
        for model in LEDGER_TABLES:
            db.session.execute(model.__table__.delete())
        db.session.commit()


def push(client, headers, lines):
    return client.post("/api/v1/sales", json=batch(SOURCE, *lines), headers=headers)


class RecordingErp:
    """Keeps the absolute totals the worker sends, the way the ERP stores
    them: a later total of a key replaces the earlier one."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, str, str], dict[str, Any]] = {}

    def upsert_summaries(self, rows: list[dict[str, Any]]) -> UpsertResult:
        for row in rows:
            self.totals[(row["customer"], row["month"], row["currency"])] = {
                "revenue": Decimal(row["revenue"]),
                "cost": Decimal(row["cost"]),
                "quantity": Decimal(row["quantity"]),
                "line_count": row["line_count"],
                "last_sale_date": row["last_sale_date"],
            }
        return UpsertResult(len(rows), 0, 0, [])


def sync_totals(app, erp: RecordingErp) -> None:
    with app.app_context():
        SyncWorker(db.engine, erp, SyncSettings(batch_size=50)).run_once()


@pytest.fixture
def writer(make_key):
    return make_key("sales:write", "sales:read")


# --- the sales schema ----------------------------------------------------------


@SETTINGS
@given(lines=st.lists(valid_lines(), min_size=1, max_size=5))
def test_any_valid_batch_is_accepted_and_stored(app, client, writer, lines):
    empty_ledger(app)
    # Distinct external ids: a repeated id with other content is refused.
    for index, line in enumerate(lines):
        line["external_id"] = f"{index}-{line['external_id']}"[:128]

    response = push(client, writer, lines)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["inserted"] == len(lines)
    assert count(app, SalesLine) == len(lines)
    stored = client.get(
        "/api/v1/sales", query_string={"source": SOURCE, "limit": 10}, headers=writer
    ).get_json()["lines"]
    by_id = {item["external_id"]: item for item in stored}
    for line in lines:
        item = by_id[line["external_id"]]
        for name in ("quantity", "amount", "cost"):
            assert Decimal(item[name]) == Decimal(line[name])
        # Free text, hostile or not, is stored and given back as sent.
        for name in ("customer", "product", "category"):
            assert item[name] == line.get(name)
        assert item["revision"] == line.get("revision", 1)
        assert item["status"] == line.get("status", "confirmed")


@st.composite
def batches_with_one_invalid_field(draw):
    lines = draw(st.lists(valid_lines(), min_size=1, max_size=4))
    for index, line in enumerate(lines):
        line["external_id"] = f"{index}-{line['external_id']}"[:128]
    index = draw(st.integers(0, len(lines) - 1))
    name = draw(st.sampled_from(sorted(INVALID)))
    lines[index][name] = draw(INVALID[name])
    if name in {"quantity", "amount"}:
        # Keep the other one of the pair a plain positive number, so the
        # only error is the field under test.
        other = "amount" if name == "quantity" else "quantity"
        lines[index][other] = "1"
    return lines, index, name


@SETTINGS
@given(case=batches_with_one_invalid_field())
def test_any_single_invalid_field_is_refused_with_its_index(app, client, writer, case):
    empty_ledger(app)
    lines, index, name = case

    response = push(client, writer, lines)

    assert response.status_code == 422, (name, lines[index][name])
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert {(error["index"], error["field"]) for error in errors} == {(index, name)}
    assert count(app, SalesLine) == 0
    assert count(app, SyncPending) == 0


@SETTINGS
@given(
    name=st.sampled_from(
        ["external_id", "customer", "date", "quantity", "amount", "cost", "currency"]
    ),
    line=valid_lines(),
)
def test_a_missing_required_field_is_refused(app, client, writer, name, line):
    empty_ledger(app)
    del line[name]

    response = push(client, writer, [line])

    assert response.status_code == 422
    assert [(e["index"], e["field"]) for e in response.get_json()["errors"]] == [
        (0, name)
    ]
    assert count(app, SalesLine) == 0


# --- the revision rules --------------------------------------------------------

EXTERNAL_IDS = ["L1", "L2", "L3"]


@st.composite
def pushes(draw):
    """A sequence of batches over a few external ids, with small revisions
    so that replays, corrections and conflicts all happen."""
    result = []
    for _ in range(draw(st.integers(1, 6))):
        ids = draw(st.lists(st.sampled_from(EXTERNAL_IDS), min_size=1, unique=True))
        lines = []
        for external_id in ids:
            line = draw(valid_lines(external_id=external_id))
            line["revision"] = draw(st.integers(1, 3))
            # A few customers and months, so that corrections move lines
            # between totals and several lines share one.
            line["customer"] = draw(st.sampled_from(["C0001", "C0002"]))
            line["date"] = draw(st.sampled_from(["2025-01-05", "2025-02-10"]))
            line["currency"] = "CNY"
            lines.append(line)
        result.append(lines)
    return result


def normalised(line: dict[str, Any]) -> tuple:
    "The content of a line as the API compares it"
    return (
        line.get("revision", 1),
        line["customer"],
        line["date"],
        Decimal(line["quantity"]),
        Decimal(line["amount"]),
        Decimal(line["cost"]),
        line["currency"],
        line.get("product"),
        line.get("category"),
        line.get("status", "confirmed"),
    )


@SETTINGS
@given(sequence=pushes())
def test_revision_rules_over_any_sequence_of_pushes(app, client, writer, sequence):
    empty_ledger(app)
    erp = RecordingErp()
    current: dict[str, dict[str, Any]] = {}
    replaced: list[tuple[str, int]] = []
    accepted: list[list[dict[str, Any]]] = []

    for lines in sequence:
        outcomes = {}
        for line in lines:
            old = current.get(line["external_id"])
            if old is None:
                outcomes[line["external_id"]] = "inserted"
            elif normalised(old) == normalised(line):
                outcomes[line["external_id"]] = "unchanged"
            elif line["revision"] > old["revision"]:
                outcomes[line["external_id"]] = "updated"
            else:
                outcomes[line["external_id"]] = "conflict"
        before = (count(app, SalesLine), count(app, SalesLineRevision))

        response = push(client, writer, lines)

        conflicts = [
            i
            for i, line in enumerate(lines)
            if outcomes[line["external_id"]] == "conflict"
        ]
        if conflicts:
            # The whole batch is refused, naming every conflicting line.
            assert response.status_code == 409
            assert [c["index"] for c in response.get_json()["conflicts"]] == conflicts
            assert (count(app, SalesLine), count(app, SalesLineRevision)) == before
            continue
        assert response.status_code == 200, response.get_json()
        result = response.get_json()
        for outcome in ("inserted", "updated", "unchanged"):
            assert result[outcome] == list(outcomes.values()).count(outcome)
        for line in lines:
            if outcomes[line["external_id"]] == "updated":
                old = current[line["external_id"]]
                replaced.append((old["external_id"], old["revision"]))
            current[line["external_id"]] = line
        accepted.append(lines)
        sync_totals(app, erp)

    # Every line has its last accepted revision; the older ones are kept.
    stored = client.get(
        "/api/v1/sales", query_string={"source": SOURCE}, headers=writer
    ).get_json()["lines"]
    assert {item["external_id"]: item["revision"] for item in stored} == {
        key: line["revision"] for key, line in current.items()
    }
    with app.app_context():
        kept = db.session.execute(
            select(SalesLineRevision.external_id, SalesLineRevision.revision)
        ).all()
    assert sorted(kept) == sorted(replaced)
    # The totals sent for the ERP are those of the last accepted revisions,
    # cancelled lines left out.
    assert erp.totals == expected_totals(accepted)
