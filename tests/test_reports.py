"""Finance reports end to end: a real ERP with the golden data set
(fixtures/golden_reports.py) and the API served over loopback HTTP.

The figures asserted here are worked out by hand from the constants of the
golden data set; each report is then compared across the ERP route's JSON,
the API's JSON, CSV and XLSX (read back with openpyxl).
"""

import csv
import datetime as dt
import io
import re
import threading
from decimal import Decimal

import openpyxl
import pytest
import requests
from werkzeug.serving import make_server

from sync_api.extensions import db
from sync_api.services.keys import create_key
from sync_api.services.reports import XLSX_MIMETYPE
from tests.conftest import make_erp_api
from tests.erp_server import free_port

PROBLEM = "application/problem+json"
DECIMAL = re.compile(r"^-?\d+\.\d+$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- fixtures -----------------------------------------------------------------


def serve(app):
    """Run app on a free loopback port in a thread; return (url, stop)."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        thread.join(timeout=10)

    return f"http://127.0.0.1:{server.server_port}", stop


def make_api(database_uri, golden, **settings):
    # Pages of two rows: the files gather several pages.
    return make_erp_api(database_uri, golden, REPORTS_PAGE_SIZE=2, **settings)


class Api:
    def __init__(self, app, url):
        self.app = app
        self.url = url

    def key(self, *scopes):
        with self.app.app_context():
            token = create_key(db.session, "test", list(scopes)).token
        return {"Authorization": f"Bearer {token}"}

    def get(self, path, key, headers=None, **params):
        return requests.get(
            f"{self.url}/api/v1/reports{path}",
            params=params,
            headers={**key, **(headers or {})},
            timeout=30,
        )


@pytest.fixture
def api(database_uri, golden):
    app = make_api(database_uri, golden)
    url, stop = serve(app)
    yield Api(app, url)
    stop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def reader(api):
    return api.key("reports:read")


def erp_get(golden, path, key=None, **params):
    return requests.get(
        f"{golden.url}/{golden.database}/crm/reports{path}",
        params=params,
        headers={"Authorization": f"Bearer {key or golden.reports_key}"},
        timeout=30,
    )


def erp_json(golden, path, **params):
    response = erp_get(golden, path, **params)
    assert response.status_code == 200, response.text
    return response.json()


def evaluation_ids(golden):
    listed = erp_json(golden, "/evaluations")["evaluations"]
    return {e["name"]: e["id"] for e in listed}


# --- comparing formats ---------------------------------------------------------


def csv_rows(response):
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def xlsx_sheets(response, data_only=True):
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == XLSX_MIMETYPE
    workbook = openpyxl.load_workbook(io.BytesIO(response.content), data_only=data_only)
    return {
        sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)]
        for sheet in workbook.worksheets
    }


def csv_text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def same_cell(value, cell):
    """Whether an XLSX cell holds the ERP's JSON value, typed."""
    if value is None:
        return cell is None
    if isinstance(value, bool):
        return cell is value
    if isinstance(value, int):
        return cell == value
    if isinstance(value, str) and DATE.match(value):
        return isinstance(cell, dt.datetime) and cell.date().isoformat() == value
    if isinstance(value, str) and DECIMAL.match(value):
        exponent = Decimal(value).as_tuple().exponent
        return isinstance(cell, int | float) and Decimal(str(cell)).quantize(
            Decimal(1).scaleb(exponent)
        ) == Decimal(value)
    return cell == value


def assert_same_table(rows, csv_response, xlsx_sheet, value=None):
    """The ERP's rows are the CSV's rows (header = their keys) and the XLSX
    sheet's rows (same columns, typed), in the same order."""
    value = value or (lambda row, key: row.get(key))
    header, lines = csv_rows(csv_response)
    assert len(lines) == len(rows)
    for row, line in zip(rows, lines, strict=True):
        assert line == [csv_text(value(row, key)) for key in header]
    assert len(xlsx_sheet[0]) == len(header)
    for row, cells in zip(rows, xlsx_sheet[1 : len(rows) + 1], strict=True):
        for key, cell in zip(header, cells, strict=True):
            assert same_cell(value(row, key), cell), (key, value(row, key), cell)
    return header


# --- figures worked out by hand ------------------------------------------------


def test_evaluation_report_is_the_hand_worked_figures_in_every_format(
    api, reader, golden
):
    evaluation_id = evaluation_ids(golden)["Calendar 2024"]
    erp = erp_json(golden, f"/evaluations/{evaluation_id}", limit=100)
    lines = {line["party_code"]: line for line in erp["lines"]}

    # 2024: G002 2,000,000 a month (cost 75 %), G003 500,000 (80 %),
    # G001 100,000 (60 %), G004 10,000 + 5,000 (70 %); G005 never bought
    # and is not evaluated.
    assert [line["party_code"] for line in erp["lines"]] == [
        "G002",
        "G003",
        "G001",
        "G004",
    ]
    expected = {
        "G002": ("24000000.00", "18000000.00", "6000000.00", 24, "key"),
        "G003": ("6000000.00", "4800000.00", "1200000.00", 24, "major"),
        "G001": ("1200000.00", "720000.00", "480000.00", 24, "strategic"),
        "G004": ("15000.00", "10500.00", "4500.00", 4, "general"),
    }
    for code, (revenue, cost, margin, orders, tier) in expected.items():
        line = lines[code]
        assert (
            line["revenue"],
            line["cost"],
            line["gross_margin"],
            line["order_count"],
            line["proposed_tier"],
            line["tier"],
        ) == (revenue, cost, margin, orders, tier, tier)
    assert lines["G001"]["designated"] is True
    # 2023: G002 1.5 M a month, so growth (24 - 18) / 18 = 33.33 %.
    assert Decimal(lines["G002"]["previous_revenue"]) == Decimal("18000000")
    assert erp["totals"] == {
        "revenue": "31215000.00",
        "cost": "23530500.00",
        "gross_margin": "7684500.00",
        "order_count": 76,
    }
    assert erp["total"] == 4

    # The API's JSON is the ERP's document; a page is the ERP's page.
    response = api.get(f"/evaluations/{evaluation_id}", reader, limit="100")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == erp
    page = api.get(f"/evaluations/{evaluation_id}", reader, offset="1", limit="2")
    assert page.json() == erp_json(
        golden, f"/evaluations/{evaluation_id}", offset=1, limit=2
    )
    assert [line["party_code"] for line in page.json()["lines"]] == ["G003", "G001"]

    # CSV and XLSX gather every page (the API asks two rows at a time).
    csv_response = api.get(f"/evaluations/{evaluation_id}", reader, format="csv")
    assert csv_response.headers["Content-Disposition"] == (
        f'attachment; filename="evaluation-{evaluation_id}.csv"'
    )
    xlsx_response = api.get(
        f"/evaluations/{evaluation_id}", reader, headers={"Accept": XLSX_MIMETYPE}
    )
    assert xlsx_response.headers["Content-Disposition"] == (
        f'attachment; filename="evaluation-{evaluation_id}.xlsx"'
    )
    sheets = xlsx_sheets(xlsx_response)
    lines_sheet = sheets["Evaluation lines"]
    header = assert_same_table(erp["lines"], csv_response, lines_sheet)

    # The totals row: SUM formulas whose cached values are the totals.
    totals = dict(zip(header, lines_sheet[5], strict=True))
    assert lines_sheet[5][0] == "Total"
    assert totals["revenue"] == pytest.approx(31215000.00)
    assert totals["cost"] == pytest.approx(23530500.00)
    assert totals["gross_margin"] == pytest.approx(7684500.00)
    assert totals["order_count"] == 76
    formula_row = xlsx_sheets(xlsx_response, data_only=False)["Evaluation lines"][5]
    formulas = dict(zip(header, formula_row, strict=True))
    assert formulas["revenue"] == "=SUM(D2:D5)"
    report = dict(row[:2] for row in sheets["Report"])
    assert report["Name"] == "Calendar 2024"
    assert report["State"] == "applied"
    assert report["Start date"] == dt.datetime(2024, 1, 1)


def test_evaluation_list_newest_first(api, reader, golden):
    erp = erp_json(golden, "/evaluations")
    assert [e["name"] for e in erp["evaluations"]] == [
        "Calendar 2025 (draft)",
        "Calendar 2024",
    ]
    assert [e["state"] for e in erp["evaluations"]] == ["draft", "applied"]
    applied = erp["evaluations"][1]
    assert applied["company_revenue"] == "31215000.00"
    assert applied["currency"] == "CNY"

    assert api.get("/evaluations", reader).json() == erp
    csv_response = api.get("/evaluations", reader, headers={"Accept": "text/csv"})
    sheets = xlsx_sheets(api.get("/evaluations", reader, format="xlsx"))
    assert_same_table(erp["evaluations"], csv_response, sheets["Evaluations"])


def test_tiers_roster_with_history(api, reader, golden):
    erp = erp_json(golden, "/tiers")
    roster = {c["party_code"]: (c["tier_code"], c["since"]) for c in erp["customers"]}
    # Applied as on 2025-01-02: every evaluated customer got its first
    # tier then; G005, never evaluated, has none.
    assert roster == {
        "G001": ("strategic", "2025-01-02"),
        "G002": ("key", "2025-01-02"),
        "G003": ("major", "2025-01-02"),
        "G004": ("general", "2025-01-02"),
    }
    # Ordered by tier (highest first) then code.
    assert [c["party_code"] for c in erp["customers"]] == [
        "G001",
        "G002",
        "G003",
        "G004",
    ]
    first = erp["customers"][0]
    assert first["account_manager"] == "Anna Account"
    assert first["strategic"] is True
    assert [
        (h["date"], h["from_tier"], h["to_tier"], h["evaluation"])
        for h in first["history"]
    ] == [("2025-01-02", None, "strategic", "Calendar 2024")]

    assert api.get("/tiers", reader).json() == erp
    sheets = xlsx_sheets(api.get("/tiers", reader, format="xlsx"))
    csv_response = api.get("/tiers", reader, format="csv")
    from sync_api.services.reports import history_text

    assert_same_table(
        erp["customers"],
        csv_response,
        sheets["Tiers"],
        value=lambda row, key: history_text(row) if key == "history" else row[key],
    )
    history = [
        {"party_code": c["party_code"], "party_name": c["party_name"], **h}
        for c in erp["customers"]
        for h in c["history"]
    ]
    history_csv = api.get("/tiers", reader, format="csv", table="history")
    assert history_csv.headers["Content-Disposition"].endswith('tiers-history.csv"')
    assert_same_table(history, history_csv, sheets["Tier history"])


def test_business_status_of_june_2025(api, reader, golden):
    erp = erp_json(golden, "/business-status", month="2025-06")
    assert erp["month"] == "2025-06"
    assert erp["currency"] == "CNY"
    assert erp["evaluation"] == "Calendar 2024"
    customers = {c["party_code"]: c for c in erp["customers"]}
    # Strategic and key customers only.
    assert sorted(customers) == ["G001", "G002"]
    g001, g002 = customers["G001"], customers["G002"]
    # G001: June 150,000; May 110,000; June 2024 100,000;
    # January-June 5 x 110,000 + 150,000.
    assert (
        g001["sales_month"],
        g001["sales_previous_month"],
        g001["sales_same_month_last_year"],
        g001["sales_ytd"],
        g001["plan_target"],
    ) == ("150000.00", "110000.00", "100000.00", "700000.00", "800000.00")
    # +36.36 % on May, +50 % on June 2024.
    assert Decimal(g001["fluctuation"]) == Decimal("36.36")
    assert Decimal(g001["fluctuation_year"]) == Decimal("50.00")
    # G002: June 1.8 M, May 2 M, June 2024 2 M; 4 x 2.1 M + 2 M + 1.8 M.
    assert (
        g002["sales_month"],
        g002["sales_previous_month"],
        g002["sales_same_month_last_year"],
        g002["sales_ytd"],
    ) == ("1800000.00", "2000000.00", "2000000.00", "12200000.00")
    assert Decimal(g002["fluctuation"]) == Decimal("-10.00")
    assert Decimal(g002["fluctuation_year"]) == Decimal("-10.00")
    # The completion rate compares the plan's target with the sales of the
    # plan's own period to date. G001's plan is the first half of 2025, so
    # January-June as the year to date: 700,000 / 800,000 = 87.50 %.
    assert (
        g001["plan_start_date"],
        g001["plan_end_date"],
        g001["sales_plan_to_date"],
        g001["plan_achievement"],
    ) == ("2025-01-01", "2025-06-30", "700000.00", "87.50")
    # G002's plan is the second quarter: April-June 2.1 M + 2 M + 1.8 M =
    # 5.9 M of 6 M = 98.33 %, not the 12.2 M of the year to date.
    assert (
        g002["plan_start_date"],
        g002["plan_end_date"],
        g002["plan_target"],
        g002["sales_plan_to_date"],
        g002["plan_achievement"],
    ) == ("2025-04-01", "2025-06-30", "6000000.00", "5900000.00", "98.33")
    # June complaints: G001 quality serious and delivery general, G002
    # service very serious (its March complaint is another month).
    assert (
        g001["quality_problems"],
        g001["delivery_problems"],
        g001["service_problems"],
        g001["serious_complaints"],
    ) == (1, 1, 0, 1)
    assert (
        g002["quality_problems"],
        g002["delivery_problems"],
        g002["service_problems"],
        g002["serious_complaints"],
    ) == (0, 0, 1, 1)
    # Visit windows ending in June: the month (account manager), the
    # second quarter (quality) and the first half-year (executive and
    # technical), for both since key customers follow the strategic
    # policy. G001's executive visit of March 1 falls in the half-year;
    # G002's account manager visit of June 20 in the month.
    assert (g001["visits_done"], g001["visits_required"]) == (1, 4)
    assert (g002["visits_done"], g002["visits_required"]) == (1, 4)
    # The 12 months ending in June, oldest first.
    assert [p["month"] for p in g001["trend"]] == [
        f"{2024 + (m > 12)}-{(m - 1) % 12 + 1:02d}" for m in range(7, 19)
    ]
    assert [p["sales"] for p in g001["trend"]] == ["100000.00"] * 6 + [
        "110000.00"
    ] * 5 + ["150000.00"]
    totals = erp["totals"]
    assert (
        totals["sales_month"],
        totals["sales_previous_month"],
        totals["sales_same_month_last_year"],
        totals["sales_ytd"],
    ) == ("1950000.00", "2110000.00", "2100000.00", "12900000.00")
    assert (totals["plan_target"], totals["sales_plan_to_date"]) == (
        "6800000.00",
        "6600000.00",
    )

    assert api.get("/business-status", reader, month="2025-06").json() == erp
    csv_response = api.get("/business-status", reader, month="2025-06", format="csv")
    assert csv_response.headers["Content-Disposition"] == (
        'attachment; filename="business-status-2025-06.csv"'
    )
    xlsx_response = api.get("/business-status", reader, month="2025-06", format="xlsx")
    sheet = xlsx_sheets(xlsx_response)["Business status"]

    def value(row, key):
        if key.startswith("sales_20"):
            return next(p["sales"] for p in row["trend"] if p["month"] == key[6:])
        return row[key]

    header = assert_same_table(erp["customers"], csv_response, sheet, value)
    titles = dict(zip(header, sheet[0], strict=True))
    assert titles["sales_ytd"] == "Sales calendar year to date"
    assert titles["plan_target"] == "Plan target (whole plan period)"
    assert titles["sales_plan_to_date"] == "Sales plan period to date"
    assert titles["plan_achievement"] == "Plan completion % (plan period to date)"
    assert "sales_2024-07" in header
    assert "sales_2025-06" in header
    total_row = dict(zip(header, sheet[len(erp["customers"]) + 1], strict=True))
    assert total_row["party_code"] == "Total"
    assert total_row["sales_month"] == pytest.approx(1950000.00)
    assert total_row["sales_ytd"] == pytest.approx(12900000.00)
    assert total_row["plan_target"] == pytest.approx(6800000.00)
    assert total_row["sales_plan_to_date"] == pytest.approx(6600000.00)
    assert total_row["serious_complaints"] == 2
    assert total_row["sales_2025-06"] == pytest.approx(1950000.00)


def test_complaints_ledger_by_category(api, reader, golden):
    params = {"from": "2025-01-01", "to": "2025-06-30", "group_by": "category"}
    erp = erp_json(golden, "/complaints", **params)
    counts = {g["key"]: g["complaint_count"] for g in erp["groups"]}
    # Two quality complaints (June G001, March G002), one delivery, one
    # service; the cancelled billing complaint is left out.
    assert counts == {"quality": 2, "delivery": 1, "service": 1}
    assert erp["totals"]["complaint_count"] == 4
    assert (erp["from"], erp["to"], erp["group_by"]) == (
        "2025-01-01",
        "2025-06-30",
        "category",
    )
    june = erp_json(golden, "/complaints", **{**params, "from": "2025-06-01"})
    assert june["totals"]["complaint_count"] == 3

    assert api.get("/complaints", reader, **params).json() == erp
    csv_response = api.get("/complaints", reader, format="csv", **params)
    assert csv_response.headers["Content-Disposition"] == (
        'attachment; filename="complaints-2025-01-01-2025-06-30-category.csv"'
    )
    sheet = xlsx_sheets(api.get("/complaints", reader, format="xlsx", **params))[
        "Complaints"
    ]
    header = assert_same_table(erp["groups"], csv_response, sheet)
    total_row = dict(zip(header, sheet[len(erp["groups"]) + 1], strict=True))
    assert total_row["complaint_count"] == 4
    for key in ("response_hours", "satisfaction", "response_on_time"):
        assert same_cell(erp["totals"][key], total_row[key]), key


def test_visit_compliance_of_the_first_half_of_2025(api, reader, golden):
    erp = erp_json(golden, "/visits", period="2025-H1")
    assert (erp["from"], erp["to"]) == ("2025-01-01", "2025-06-30")
    customers = {(c["party_code"], c["level"]): c for c in erp["customers"]}
    # Strategic G001: monthly account manager visits (6 windows, 4 done),
    # executive and technical every 6 months (1 each, 1 and 0 done),
    # quality every 3 months (2 windows, 1 done).
    figures = {key: (c["required"], c["done"]) for key, c in customers.items()}
    assert figures[("G001", "account_manager")] == (6, 4)
    assert figures[("G001", "executive")] == (1, 1)
    assert figures[("G001", "technical")] == (1, 0)
    assert figures[("G001", "quality")] == (2, 1)
    # Key G002 follows the strategic rules: monthly (6 windows, the
    # February and June visits), the half-years and quarters none done.
    assert figures[("G002", "account_manager")] == (6, 2)
    assert figures[("G002", "executive")] == (1, 0)
    assert figures[("G002", "technical")] == (1, 0)
    assert figures[("G002", "quality")] == (2, 0)
    # Both name only their account manager, Anna: she answers for the
    # monthly level (12 windows, 6 done) and, on a row of its own, for
    # the unassigned levels (8 windows, 2 done).
    assert {
        (c["party_code"], c["level"]): (c["responsible"], c["unassigned"])
        for c in erp["customers"]
        if c["party_code"] == "G001"
    } == {
        ("G001", "executive"): ("Anna Account", True),
        ("G001", "account_manager"): ("Anna Account", False),
        ("G001", "technical"): ("Anna Account", True),
        ("G001", "quality"): ("Anna Account", True),
    }
    rows = {(m["employee"], m["unassigned"]): m for m in erp["managers"]}
    assert sorted(rows) == [("Anna Account", False), ("Anna Account", True)]
    figures = {
        key: (m["customers"], m["required"], m["done"], m["rate"])
        for key, m in rows.items()
    }
    assert figures[("Anna Account", False)] == (2, 12, 6, "50.00")
    assert figures[("Anna Account", True)] == (2, 8, 2, "25.00")
    assert erp["totals"]["required"] == 20
    assert erp["totals"]["done"] == 8

    assert api.get("/visits", reader, period="2025-H1").json() == erp
    sheets = xlsx_sheets(api.get("/visits", reader, period="2025-H1", format="xlsx"))
    assert_same_table(
        erp["customers"],
        api.get("/visits", reader, period="2025-H1", format="csv"),
        sheets["Visits by customer"],
    )
    header = assert_same_table(
        erp["managers"],
        api.get("/visits", reader, period="2025-H1", format="csv", table="managers"),
        sheets["Visits by manager"],
    )
    total_row = dict(
        zip(header, sheets["Visits by manager"][len(erp["managers"]) + 1], strict=True)
    )
    assert total_row["required"] == 20
    assert total_row["done"] == 8
    assert same_cell(erp["totals"]["rate"], total_row["rate"])


# --- ETag -------------------------------------------------------------------------


def test_etag_answers_304_until_the_report_changes_format(api, reader):
    first = api.get("/tiers", reader)
    tag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{40}"', tag)

    again = api.get("/tiers", reader, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == tag

    xlsx = api.get("/tiers", reader, format="xlsx")
    assert xlsx.headers["ETag"] != tag
    # Same figures, same bytes: the XLSX ETag is a strong one.
    xlsx_again = api.get("/tiers", reader, format="xlsx")
    assert xlsx_again.content == xlsx.content
    assert xlsx_again.headers["ETag"] == xlsx.headers["ETag"]
    assert (
        api.get(
            "/tiers",
            reader,
            headers={"If-None-Match": xlsx.headers["ETag"]},
            format="xlsx",
        ).status_code
        == 304
    )
    stale = api.get("/tiers", reader, headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()


# --- bad input ---------------------------------------------------------------------


def problem_of(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    document = response.json()
    assert document["status"] == status
    assert document["detail"]
    return document


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/business-status", {"month": "2025-13"}, "month"),
        ("/business-status", {"month": "June"}, "month"),
        ("/business-status", {}, "month"),
        ("/visits", {"period": "2025-Q5"}, "period"),
        ("/visits", {"period": "2025-H3"}, "period"),
        ("/visits", {}, "period"),
        ("/complaints", {"from": "2025-07-01", "to": "2025-01-01"}, "from"),
        ("/complaints", {"from": "2025-02-30", "to": "2025-03-01"}, "from"),
        ("/complaints", {"to": "2025-03-01"}, "from"),
        (
            "/complaints",
            {"from": "2025-01-01", "to": "2025-03-01", "group_by": "colour"},
            "group_by",
        ),
        ("/tiers", {"limit": "0"}, "limit"),
        ("/tiers", {"limit": "10001"}, "limit"),
        ("/evaluations", {"offset": "-1"}, "offset"),
        ("/tiers", {"table": "secrets"}, "table"),
        ("/tiers", {"month": "2025-06"}, "month"),
        ("/tiers", {"format": "pdf"}, "format"),
        # The ERP checks these (the API passes them on as they came).
        ("/visits", {"period": ["2025-H1", "2025-H2"]}, "period"),
        ("/visits", {"period": "2025-00"}, "period"),
        ("/business-status", {"month": "2025-6"}, "month"),
        ("/complaints", {"from": "2025-01-01", "to": "2025/02/01"}, "to"),
        ("/evaluations/1", {"table": "lines"}, "table"),
        ("/evaluations", {"offset": "1e3"}, "offset"),
    ],
)
def test_a_malformed_parameter_is_named(api, reader, path, params, parameter):
    document = problem_of(api.get(path, reader, **params), 400)
    assert document["parameter"] == parameter
    assert parameter in document["detail"]


def test_the_erps_refusals_keep_their_status_and_message(api, reader, golden):
    ids = evaluation_ids(golden)
    unknown = max(ids.values()) + 1000
    erp_refusal = erp_get(golden, f"/evaluations/{unknown}")
    assert erp_refusal.status_code == 404
    document = problem_of(api.get(f"/evaluations/{unknown}", reader), 404)
    assert document["detail"] == erp_refusal.json()["message"]

    # A draft evaluation has no figures yet.
    draft = ids["Calendar 2025 (draft)"]
    assert erp_get(golden, f"/evaluations/{draft}").status_code == 409
    for fmt in ("json", "csv", "xlsx"):
        problem_of(api.get(f"/evaluations/{draft}", reader, format=fmt), 409)

    # No evaluation was applied on or before the end of 2024-12.
    document = problem_of(api.get("/business-status", reader, month="2024-12"), 409)
    assert (
        document["detail"]
        == erp_get(golden, "/business-status", month="2024-12").json()["message"]
    )
    # The ERP says which month is in the future; the API passes it on.
    next_year = dt.date.today().year + 1
    document = problem_of(
        api.get("/business-status", reader, month=f"{next_year}-01"), 400
    )
    assert document["parameter"] == "month"


def test_an_accept_header_naming_no_report_format_is_refused(api, reader):
    problem_of(api.get("/tiers", reader, headers={"Accept": "text/html"}), 406)
    csv_response = api.get("/tiers", reader, headers={"Accept": "text/csv;q=0.9"})
    assert csv_response.headers["Content-Type"].startswith("text/csv")
    assert api.get("/tiers", reader, headers={"Accept": "*/*"}).headers[
        "Content-Type"
    ] == ("application/json")


# --- access ----------------------------------------------------------------------


def test_a_key_without_the_reports_scope_reads_nothing(api):
    problem_of(api.get("/tiers", {}), 401)
    writer = api.key("sales:write")
    document = problem_of(api.get("/tiers", writer), 403)
    assert "reports:read" in document["detail"]
    problem_of(api.get("/business-status", writer, month="2025-06"), 403)
    assert api.get("/tiers", api.key("admin")).status_code == 200


def test_an_erp_user_outside_the_crm_groups_gets_no_figures(database_uri, golden):
    direct = erp_get(golden, "/tiers", key=golden.plain_reports_key)
    assert direct.status_code == 403
    assert direct.json()["error"] == "forbidden"

    app = make_api(database_uri, golden, ERP_REPORTS_KEY=golden.plain_reports_key)
    url, stop = serve(app)
    try:
        api = Api(app, url)
        reader = api.key("reports:read")
        for path, params in [
            ("/tiers", {}),
            ("/evaluations", {"format": "csv"}),
            ("/business-status", {"month": "2025-06"}),
            ("/visits", {"period": "2025-H1"}),
        ]:
            document = problem_of(api.get(path, reader, **params), 403)
            assert document["title"] == "Forbidden by the ERP"
            assert "The ERP refused" in document["detail"]
    finally:
        stop()
        with app.app_context():
            db.engine.dispose()


def test_a_wrong_erp_key_or_an_erp_down_is_a_gateway_problem(database_uri, golden):
    wrong = make_api(database_uri, golden, ERP_REPORTS_KEY="not-a-key")
    down = make_api(database_uri, golden, ERP_URL=f"http://127.0.0.1:{free_port()}")
    for app, status in [(wrong, 502), (down, 503)]:
        url, stop = serve(app)
        try:
            api = Api(app, url)
            document = problem_of(api.get("/tiers", api.key("reports:read")), status)
            assert "ERP" in document["detail"]
        finally:
            stop()
            with app.app_context():
                db.engine.dispose()


# --- CLI ---------------------------------------------------------------------------


def test_cli_writes_the_same_files(api, reader, golden, tmp_path):
    evaluation_id = evaluation_ids(golden)["Calendar 2024"]
    runner = api.app.test_cli_runner()
    output = tmp_path / "evaluation.xlsx"
    result = runner.invoke(
        args=[
            "reports",
            "evaluation",
            str(evaluation_id),
            "--format",
            "xlsx",
            "--output",
            str(output),
        ]
    )
    assert result.exit_code == 0, result.output
    served = api.get(f"/evaluations/{evaluation_id}", reader, format="xlsx")
    assert output.read_bytes() == served.content

    output = tmp_path / "status.csv"
    result = runner.invoke(
        args=[
            "reports",
            "business-status",
            "--month",
            "2025-06",
            "--format",
            "csv",
            "--output",
            str(output),
        ]
    )
    assert result.exit_code == 0, result.output
    assert (
        output.read_bytes()
        == api.get("/business-status", reader, month="2025-06", format="csv").content
    )

    result = runner.invoke(
        args=["reports", "business-status", "--month", "2024-12", "--output", "-"]
    )
    assert result.exit_code != 0
    assert "409" in result.output


def test_cli_passes_the_options_on_and_names_the_one_the_erp_refuses(api):
    runner = api.app.test_cli_runner()
    result = runner.invoke(
        args=["reports", "visits", "--period", "2025-H3", "--output", "-"]
    )
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--period'" in result.output
    assert "2025-H3" in result.output
    result = runner.invoke(
        args=[
            "reports",
            "complaints",
            "--from",
            "2025-01-01",
            "--to",
            "2025-06-30",
            "--group-by",
            "colour",
            "--output",
            "-",
        ]
    )
    assert result.exit_code == 2, result.output
    assert "'--group-by'" in result.output
    result = runner.invoke(args=["reports", "business-status", "--output", "-"])
    assert result.exit_code == 2, result.output
    assert "'--month'" in result.output
