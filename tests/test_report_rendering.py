"""The report service without an ERP: the API's own parameters, CSV and
XLSX layout, and the API's answers when the ERP cannot be asked.

The figures of the ERP are tested end to end in tests/test_reports.py; here
the documents are written by hand in the shape of
crm_module/doc/report_routes.md.
"""

import csv
import io
import json

import openpyxl
import pytest

from sync_api.erp import ErpDocument
from sync_api.services.reports import (
    REPORTS,
    FetchedReport,
    ReportQueryError,
    etag,
    parse_query,
    render,
)

COMPLAINTS = {
    "from": "2025-01-01",
    "to": "2025-06-30",
    "group_by": "customer",
    "groups": [
        {
            "key": "C1",
            "label": '=HYPERLINK("http://evil")',
            "complaint_count": 2,
            "breach_count": 1,
            "response_hours": "12.50",
            "resolution_hours": None,
            "response_on_time": "50.00",
            "resolution_on_time": None,
            "repeat_count": 1,
            "satisfaction": "4.5",
        },
        {
            "key": "C2",
            "label": "客户二",
            "complaint_count": 1,
            "breach_count": 0,
            "response_hours": "-1.25",
            "resolution_hours": "30.00",
            "response_on_time": "100.00",
            "resolution_on_time": "100.00",
            "repeat_count": 0,
            "satisfaction": None,
        },
    ],
    "totals": {
        "complaint_count": 3,
        "breach_count": 1,
        "response_hours": "7.92",
        "resolution_hours": "30.00",
        "response_on_time": "66.67",
        "resolution_on_time": "100.00",
        "repeat_count": 1,
        "satisfaction": "4.5",
    },
}


def fetched(document):
    return FetchedReport(
        [ErpDocument(json.dumps(document).encode(), document)], document
    )


def complaints_query():
    return parse_query(
        REPORTS["complaints"],
        {"from": ["2025-01-01"], "to": ["2025-06-30"], "group_by": ["customer"]},
    )


def test_csv_keeps_the_erps_values_and_defuses_formulas():
    body = render(fetched(COMPLAINTS), complaints_query(), "csv")

    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["key", "label", "complaint_count", "breach_count"]
    assert rows[1][1] == '\'=HYPERLINK("http://evil")'
    assert rows[1][4] == "12.50"
    assert rows[1][5] == ""
    # A negative decimal is a number, not a formula: left as it is.
    assert rows[2][1] == "客户二"
    assert rows[2][4] == "-1.25"
    assert len(rows) == 3


def test_xlsx_types_cells_and_sums_with_cached_values():
    body = render(fetched(COMPLAINTS), complaints_query(), "xlsx")

    values = openpyxl.load_workbook(io.BytesIO(body), data_only=True)
    formulas = openpyxl.load_workbook(io.BytesIO(body))
    sheet = values["Complaints"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:J3"
    assert sheet["A1"].font.bold
    assert sheet["B2"].value == '=HYPERLINK("http://evil")'
    assert sheet["B2"].data_type == "s"
    assert sheet["E2"].value == 12.5
    assert sheet["E2"].number_format == "#,##0.00"
    assert sheet["J2"].number_format == "#,##0.0"
    assert sheet["E3"].value == -1.25
    # Totals: counts are SUM formulas with their values; rates are the ERP's.
    assert sheet["A4"].value == "Total"
    assert sheet["C4"].value == 3
    assert formulas["Complaints"]["C4"].value == "=SUM(C2:C3)"
    assert sheet["E4"].value == 7.92
    assert sheet["G4"].value == 66.67
    report = dict(values["Report"].iter_rows(values_only=True))
    assert report["Grouped by"] == "customer"
    assert report["From"].date().isoformat() == "2025-01-01"


def test_same_figures_same_bytes_and_etag():
    query = complaints_query()
    first = render(fetched(COMPLAINTS), query, "xlsx")
    second = render(fetched(COMPLAINTS), query, "xlsx")
    assert first == second
    assert etag(fetched(COMPLAINTS), query, "xlsx") == etag(
        fetched(COMPLAINTS), query, "xlsx"
    )
    assert etag(fetched(COMPLAINTS), query, "xlsx") != etag(
        fetched(COMPLAINTS), query, "csv"
    )
    changed = {**COMPLAINTS, "to": "2025-06-29"}
    assert etag(fetched(changed), query, "csv") != etag(
        fetched(COMPLAINTS), query, "csv"
    )


def test_the_report_parameters_go_to_the_erp_as_they_came():
    # The ERP checks them (tests/test_reports.py: every malformed one is
    # named); the API only takes out the table of a CSV.
    args = {"period": ["2025-H1", "2025-H2"], "table": ["managers"], "x": ["1"]}
    query = parse_query(REPORTS["visits"], args)
    assert query.params == {"period": ["2025-H1", "2025-H2"], "x": ["1"]}
    assert query.table == "managers"
    assert query.path == "/visits"
    # A report of one table has no table parameter of the API's.
    query = parse_query(
        REPORTS["evaluation"], {"table": ["lines"]}, {"evaluation_id": 7}
    )
    assert query.params == {"table": ["lines"]}
    assert query.path == "/evaluations/7"
    assert not query.page
    assert parse_query(REPORTS["evaluations"], {"offset": ["1e3"]}).page


@pytest.mark.parametrize(
    "table", [["secrets"], ["customers", "history"], ["Customers"]]
)
def test_the_table_of_a_csv_is_checked_by_the_api(table):
    with pytest.raises(ReportQueryError) as raised:
        parse_query(REPORTS["tiers"], {"table": table})
    assert raised.value.parameter == "table"


def test_without_an_erp_reports_key_reports_are_unavailable(app, client, make_key):
    app.config["ERP_REPORTS_KEY"] = ""
    response = client.get("/api/v1/reports/tiers", headers=make_key("reports:read"))

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "CRM_ERP_REPORTS_KEY" in response.get_json()["detail"]


def test_an_unreachable_erp_is_503_and_only_the_apis_own_parameters_are_400_before_it(
    client, make_key
):
    # TestConfig's ERP is http://erp.invalid, which never resolves.
    reader = make_key("reports:read")
    response = client.get("/api/v1/reports/visits?period=2025-H1", headers=reader)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.get_json()["detail"].startswith("The ERP does not answer")

    response = client.get("/api/v1/reports/visits?period=2025", headers=reader)
    assert response.status_code == 503
    # The period is the ERP's to check: without the ERP, no answer on it.
    response = client.get("/api/v1/reports/visits?period=25", headers=reader)
    assert response.status_code == 503
    response = client.get(
        "/api/v1/reports/visits?period=2025&table=secrets", headers=reader
    )
    assert response.status_code == 400
    assert response.get_json()["parameter"] == "table"
    response = client.get("/api/v1/reports/visits?format=pdf", headers=reader)
    assert response.status_code == 400
    assert response.get_json()["parameter"] == "format"
