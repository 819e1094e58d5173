"""Finance reports: the catalog of the reports (which ERP route serves each
one, the parameters it takes, its tables and columns, its file name) and
their rendering as CSV or XLSX.

The ERP computes every figure and checks every report parameter (the API
computes none; the contract: crm_module/doc/report_routes.md): this module
passes the parameters on as they came, fetches the ERP's JSON (every page of
it for a file) and lays the figures out. JSON is the ERP's document as it
came. The API's routes (sync_api/reports.py) and the ``flask reports``
commands (sync_api/commands/reports.py) are both made from ``REPORTS``. No
Flask here: the views and the commands call the same functions.
"""

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import xlsxwriter

from sync_api.erp import ErpDocument, ErpReportsClient

FORMATS = ("json", "csv", "xlsx")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIMETYPES = {"json": "application/json", "csv": "text/csv", "xlsx": XLSX_MIMETYPE}
# The ERP pages long lists: offset from 0, limit 1..10000 (default 1000).
MAX_PAGE_SIZE = 10000
# Part of every ETag: change it when a rendering changes, so that a client's
# cached file is not taken for the new one.
RENDERING_VERSION = "1"
# The XLSX creation date is fixed: the same figures give the same bytes, so
# the ETag computed from the ERP's figures is a strong one.
XLSX_CREATED = dt.datetime(2000, 1, 1)
# A spreadsheet would run a cell starting with these as a formula (CSV
# injection); text cells that start with one get a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ReportQueryError(ValueError):
    """A parameter of the API's own (the CSV's table) is malformed."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


# --- layout of the reports ---------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of a table: the key of the ERP's rows (and the CSV header),
    the XLSX header, how to type the value, and whether the XLSX totals row
    sums it."""

    key: str
    title: str
    kind: str = "text"  # text, money, decimal, int, date, bool
    total: bool = False
    value: Callable[[dict[str, Any]], Any] | None = None

    def get(self, row: dict[str, Any]) -> Any:
        return self.value(row) if self.value else row.get(self.key)


@dataclass(frozen=True)
class Table:
    """A list of the ERP's document: a CSV file or an XLSX sheet.

    ``totals`` names the member of the document holding the ERP's totals of
    this table; a column that is not summed shows the ERP's total (a rate,
    an average) on the totals row."""

    name: str
    title: str
    columns: Callable[[dict[str, Any]], list[Column]]
    rows: Callable[[dict[str, Any]], Iterable[dict[str, Any]]]
    total_row: bool = False
    totals: str | None = None


@dataclass(frozen=True)
class Parameter:
    """A query parameter of a report's ERP route, offered by ``flask
    reports`` as an option. The API and the command pass it on as given:
    the ERP checks it and names it when it refuses it (400)."""

    name: str
    help: str


# A path argument of a route in Werkzeug's syntax: <int:evaluation_id>
PATH_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Report:
    """A row of the catalog: the API's route GET /api/v1/reports<path> and
    the command ``flask reports <name>`` are made from it."""

    # The command's name; with "_" for "-", the view's endpoint.
    name: str
    # The route below /api/v1/reports, which is the ERP's route below
    # /<database>/crm/reports too, in Werkzeug's syntax.
    path: str
    # The command's help.
    summary: str
    # The query parameters of the ERP's route besides offset and limit.
    parameters: tuple[Parameter, ...]
    tables: tuple[Table, ...]
    filename: Callable[[dict[str, Any], dict[str, Any]], str]
    # The document's member that the ERP pages (offset/limit), if any.
    paginated: str | None = None
    # Single values shown on the XLSX "Report" sheet, read from the
    # document's member info_member (the document itself when None).
    info: tuple[Column, ...] = ()
    info_member: str | None = None

    @property
    def path_arguments(self) -> dict[str, type]:
        "The path's arguments, each with its Python type"
        return {
            name: int if converter == "int" else str
            for converter, name in PATH_ARGUMENT.findall(self.path)
        }

    def erp_path(self, path_args: dict[str, Any]) -> str:
        "The ERP route below /<database>/crm/reports of these path arguments"
        return PATH_ARGUMENT.sub(
            lambda match: str(self.path_arguments[match[2]](path_args[match[2]])),
            self.path,
        )


def fixed(columns: list[Column]) -> Callable[[dict[str, Any]], list[Column]]:
    return lambda document: columns


def member(name: str) -> Callable[[dict[str, Any]], Iterable[dict[str, Any]]]:
    return lambda document: document.get(name) or []


EVALUATION_COLUMNS = [
    Column("id", "Id", "int"),
    Column("name", "Name"),
    Column("period_type", "Period type"),
    Column("measure", "Measure"),
    Column("start_date", "Start date", "date"),
    Column("end_date", "End date", "date"),
    Column("state", "State"),
    Column("currency", "Currency"),
    Column("company_revenue", "Company revenue", "money"),
    Column("company_margin", "Company margin", "money"),
    Column("unmatched_revenue", "Unmatched revenue", "money"),
    Column("customer_count", "Customers", "int"),
    Column("change_count", "Tier changes", "int"),
    Column("approved_by", "Approved by"),
    Column("approved_date", "Approved on", "date"),
    Column("applied_by", "Applied by"),
    Column("applied_date", "Applied on", "date"),
]

EVALUATION_LINE_COLUMNS = [
    Column("rank", "Rank", "int"),
    Column("party_code", "Customer code"),
    Column("party_name", "Customer"),
    Column("revenue", "Revenue", "money", total=True),
    Column("cost", "Cost", "money", total=True),
    Column("gross_margin", "Gross margin", "money", total=True),
    Column("margin_rate", "Margin %", "decimal"),
    Column("amount", "Measured amount", "money", total=True),
    Column("share", "Share %", "decimal"),
    Column("cumulative_share", "Cumulative share %", "decimal"),
    Column("abc_class", "ABC class"),
    Column("previous_revenue", "Previous revenue", "money", total=True),
    Column("growth", "Growth %", "decimal"),
    Column("order_count", "Orders", "int", total=True),
    Column("last_sale_date", "Last sale", "date"),
    Column("designated", "Designated strategic", "bool"),
    Column("big_customer", "Big customer", "bool"),
    Column("complaint_general", "Complaints general", "int", total=True),
    Column("complaint_serious", "Complaints serious", "int", total=True),
    Column("complaint_very_serious", "Complaints very serious", "int", total=True),
    Column("satisfaction", "Satisfaction", "decimal"),
    Column("current_tier", "Current tier"),
    Column("proposed_tier", "Proposed tier"),
    Column("override_tier", "Override tier"),
    Column("tier", "Tier"),
    Column("changed", "Changed", "bool"),
]


def history_text(customer: dict[str, Any]) -> str:
    "The tier history of a customer in one cell, newest first"
    return " | ".join(
        f"{h.get('date') or ''}: {h.get('from_tier') or '-'} -> "
        f"{h.get('to_tier') or '-'}"
        + (f" ({h['evaluation']})" if h.get("evaluation") else "")
        + (f" by {h['user']}" if h.get("user") else "")
        for h in customer.get("history") or []
    )


TIER_COLUMNS = [
    Column("party_code", "Customer code"),
    Column("party_name", "Customer"),
    Column("tier_code", "Tier code"),
    Column("tier_name", "Tier"),
    Column("strategic", "Designated strategic", "bool"),
    Column("account_manager", "Account manager"),
    Column("since", "Since", "date"),
    Column("history", "History", value=history_text),
]

TIER_HISTORY_COLUMNS = [
    Column("party_code", "Customer code"),
    Column("party_name", "Customer"),
    Column("date", "Date", "date"),
    Column("from_tier", "From tier"),
    Column("to_tier", "To tier"),
    Column("evaluation", "Evaluation"),
    Column("user", "User"),
]


def tier_history_rows(document: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for customer in document.get("customers") or []:
        for change in customer.get("history") or []:
            yield {
                "party_code": customer.get("party_code"),
                "party_name": customer.get("party_name"),
                **change,
            }


BUSINESS_STATUS_COLUMNS = [
    Column("party_code", "Customer code"),
    Column("party_name", "Customer"),
    Column("tier_code", "Tier code"),
    Column("tier_name", "Tier"),
    Column("account_manager", "Account manager"),
    Column("sales_month", "Sales this month", "money", total=True),
    Column("sales_previous_month", "Sales previous month", "money", total=True),
    Column(
        "sales_same_month_last_year",
        "Sales same month last year",
        "money",
        total=True,
    ),
    Column("sales_ytd", "Sales calendar year to date", "money", total=True),
    # The plan figures are of the customer's plan period, not of the
    # calendar year: its dates come first.
    Column("plan_start_date", "Plan start date", "date"),
    Column("plan_end_date", "Plan end date", "date"),
    Column("plan_target", "Plan target (whole plan period)", "money", total=True),
    Column("sales_plan_to_date", "Sales plan period to date", "money", total=True),
    Column("plan_achievement", "Plan completion % (plan period to date)", "decimal"),
    Column("fluctuation", "Change vs previous month %", "decimal"),
    Column("fluctuation_year", "Change vs last year %", "decimal"),
    Column("new_business", "New business"),
    Column("quality_problems", "Quality problems", "int", total=True),
    Column("delivery_problems", "Delivery problems", "int", total=True),
    Column("service_problems", "Service problems", "int", total=True),
    Column("serious_complaints", "Serious complaints", "int", total=True),
    Column("visits_done", "Visits done", "int", total=True),
    Column("visits_required", "Visits required", "int", total=True),
]


def trend_value(index: int) -> Callable[[dict[str, Any]], Any]:
    def value(row: dict[str, Any]) -> Any:
        trend = row.get("trend") or []
        return trend[index].get("sales") if index < len(trend) else None

    return value


def business_status_columns(document: dict[str, Any]) -> list[Column]:
    """The fixed columns, then one per month of the 12-month trend (the
    same months for every customer: the 12 ending at the report's month)."""
    customers = document.get("customers") or []
    months = [point.get("month") for point in (customers[0].get("trend") or [])]
    return BUSINESS_STATUS_COLUMNS + [
        Column(f"sales_{month}", f"Sales {month}", "money", True, trend_value(i))
        for i, month in enumerate(months)
    ]


COMPLAINT_COLUMNS = [
    Column("key", "Key"),
    Column("label", "Group"),
    Column("complaint_count", "Complaints", "int", total=True),
    Column("breach_count", "Breaches", "int", total=True),
    Column("response_hours", "Average response hours", "decimal"),
    Column("resolution_hours", "Average resolution hours", "decimal"),
    Column("response_on_time", "Response on time %", "decimal"),
    Column("resolution_on_time", "Resolution on time %", "decimal"),
    Column("repeat_count", "Repeat complaints", "int", total=True),
    Column("satisfaction", "Satisfaction", "decimal"),
]

VISIT_CUSTOMER_COLUMNS = [
    Column("party_code", "Customer code"),
    Column("party_name", "Customer"),
    Column("tier_code", "Tier code"),
    Column("level", "Visit level"),
    Column("account_manager", "Account manager"),
    Column("responsible", "Responsible"),
    Column("unassigned", "Unassigned", "bool"),
    Column("last_visit", "Last visit", "date"),
    Column("next_due", "Next due", "date"),
    Column("overdue_days", "Overdue days", "int"),
    Column("required", "Required", "int", total=True),
    Column("done", "Done", "int", total=True),
]

VISIT_MANAGER_COLUMNS = [
    Column("employee", "Responsible"),
    Column("unassigned", "Unassigned levels", "bool"),
    Column("customers", "Customers", "int"),
    Column("required", "Required", "int", total=True),
    Column("done", "Done", "int", total=True),
    Column("rate", "Compliance %", "decimal"),
]


# --- the catalog ----------------------------------------------------------


def safe_name(*parts: object) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", str(p)) for p in parts if p)


REPORTS: dict[str, Report] = {
    report.name: report
    for report in [
        Report(
            name="evaluations",
            path="/evaluations",
            summary="The customer evaluations, newest first.",
            parameters=(),
            tables=(
                Table(
                    "evaluations",
                    "Evaluations",
                    fixed(EVALUATION_COLUMNS),
                    member("evaluations"),
                ),
            ),
            filename=lambda args, document: "evaluations",
            paginated="evaluations",
        ),
        Report(
            name="evaluation",
            path="/evaluations/<int:evaluation_id>",
            summary="The lines of one evaluation, by rank, with totals.",
            parameters=(),
            tables=(
                Table(
                    "lines",
                    "Evaluation lines",
                    fixed(EVALUATION_LINE_COLUMNS),
                    member("lines"),
                    total_row=True,
                    totals="totals",
                ),
            ),
            filename=lambda args, document: f"evaluation-{args['evaluation_id']}",
            paginated="lines",
            info=tuple(EVALUATION_COLUMNS),
            info_member="evaluation",
        ),
        Report(
            name="tiers",
            path="/tiers",
            summary="The current tier of every customer and its history.",
            parameters=(),
            tables=(
                Table("customers", "Tiers", fixed(TIER_COLUMNS), member("customers")),
                Table(
                    "history",
                    "Tier history",
                    fixed(TIER_HISTORY_COLUMNS),
                    tier_history_rows,
                ),
            ),
            filename=lambda args, document: "tiers",
            paginated="customers",
        ),
        Report(
            name="business-status",
            path="/business-status",
            summary="The monthly business status of strategic and key customers.",
            parameters=(Parameter("month", "YYYY-MM (required)"),),
            tables=(
                Table(
                    "customers",
                    "Business status",
                    business_status_columns,
                    member("customers"),
                    total_row=True,
                    totals="totals",
                ),
            ),
            filename=lambda args, document: safe_name(
                "business-status", document.get("month")
            ),
            info=(
                Column("month", "Month"),
                Column("currency", "Currency"),
                Column("evaluation", "Evaluation in force"),
            ),
        ),
        Report(
            name="complaints",
            path="/complaints",
            summary="The complaint ledger's analysis over a date range.",
            parameters=(
                Parameter("from", "YYYY-MM-DD (required)"),
                Parameter("to", "YYYY-MM-DD (required)"),
                Parameter(
                    "group_by",
                    "category, severity, department, customer or month "
                    "(default: category)",
                ),
            ),
            tables=(
                Table(
                    "groups",
                    "Complaints",
                    fixed(COMPLAINT_COLUMNS),
                    member("groups"),
                    total_row=True,
                    totals="totals",
                ),
            ),
            filename=lambda args, document: safe_name(
                "complaints",
                document.get("from"),
                document.get("to"),
                document.get("group_by"),
            ),
            info=(
                Column("from", "From", "date"),
                Column("to", "To", "date"),
                Column("group_by", "Grouped by"),
            ),
        ),
        Report(
            name="visits",
            path="/visits",
            summary="Visit compliance by responsible employee and customer.",
            parameters=(
                Parameter("period", "YYYY, YYYY-H1, YYYY-Q2 or YYYY-MM (required)"),
            ),
            tables=(
                Table(
                    "customers",
                    "Visits by customer",
                    fixed(VISIT_CUSTOMER_COLUMNS),
                    member("customers"),
                    total_row=True,
                ),
                Table(
                    "managers",
                    "Visits by manager",
                    fixed(VISIT_MANAGER_COLUMNS),
                    member("managers"),
                    total_row=True,
                    totals="totals",
                ),
            ),
            filename=lambda args, document: safe_name("visits", document.get("period")),
            info=(
                Column("period", "Period"),
                Column("from", "From", "date"),
                Column("to", "To", "date"),
            ),
        ),
    ]
}


@dataclass(frozen=True)
class ReportQuery:
    """A request for a report: what to ask the ERP, and which table a CSV
    holds."""

    report: Report
    path_args: dict[str, Any] = field(default_factory=dict)
    # The ERP route's query parameters, each with its values as given.
    params: dict[str, list[str]] = field(default_factory=dict)
    table: str = ""

    @property
    def path(self) -> str:
        return self.report.erp_path(self.path_args)

    @property
    def page(self) -> bool:
        "Whether the client asked for one page of a paged list"
        return bool(self.report.paginated) and any(
            name in self.params for name in ("offset", "limit")
        )


def parse_query(
    report: Report,
    args: Mapping[str, list[str]],
    path_args: dict[str, Any] | None = None,
) -> ReportQuery:
    """Take the API's own parameter out of the query parameters (each name
    with the list of its values) of a report: ``table``, which table of a
    report of several a CSV holds; raise ReportQueryError if it is wrong.

    Every other parameter is the ERP route's and goes to it as it came: the
    ERP refuses an unknown, repeated, missing or malformed one, or a month
    in the future, and names it."""
    params = dict(args)
    table_names = [table.name for table in report.tables]
    table = table_names[0]
    if len(table_names) > 1 and "table" in params:
        given = params.pop("table")
        if len(given) != 1:
            raise ReportQueryError(
                "table", "Parameter 'table' is given more than once."
            )
        if given[0] not in table_names:
            raise ReportQueryError(
                "table",
                f"Parameter 'table' is {given[0]!r}: one of "
                f"{', '.join(table_names)} is expected.",
            )
        table = given[0]
    return ReportQuery(report, dict(path_args or {}), params, table)


# --- fetching ---------------------------------------------------------------


@dataclass
class FetchedReport:
    """The ERP's pages of a report, and their merged document."""

    pages: list[ErpDocument]
    document: dict[str, Any]

    def digest(self, *parts: str) -> str:
        "A strong ETag of the pages' bytes and of how they are rendered"
        sha = hashlib.sha256()
        for part in (RENDERING_VERSION, *parts):
            sha.update(part.encode() + b"\0")
        for page in self.pages:
            sha.update(page.raw)
        return '"' + sha.hexdigest()[:40] + '"'


Progress = Callable[[int, int], None]


def fetch_report(
    client: ErpReportsClient,
    query: ReportQuery,
    *,
    whole: bool,
    page_size: int = MAX_PAGE_SIZE,
    progress: Progress | None = None,
) -> FetchedReport:
    """Fetch a report from the ERP: one call, or for a file of a paged list
    every page (``whole``) unless the client asked for one page.

    ``progress(rows_so_far, total_rows)`` is called after each page."""
    report = query.report
    if not report.paginated or query.page or not whole:
        document = client.get(query.path, query.params)
        if progress:
            rows = len(document.data.get(report.paginated or "", None) or [])
            progress(rows, document.data.get("total", rows))
        return FetchedReport([document], document.data)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    pages: list[ErpDocument] = []
    rows: list[dict[str, Any]] = []
    while True:
        page = client.get(
            query.path,
            {**query.params, "offset": str(len(rows)), "limit": str(page_size)},
        )
        pages.append(page)
        chunk = page.data.get(report.paginated) or []
        rows.extend(chunk)
        total = int(page.data.get("total") or 0)
        if progress:
            progress(len(rows), total)
        # An empty page ends the loop even if the total grew meanwhile.
        if not chunk or len(rows) >= total:
            break
    document = {**pages[0].data, report.paginated: rows}
    document.update(offset=0, limit=len(rows), total=len(rows))
    return FetchedReport(pages, document)


def etag(fetched: FetchedReport, query: ReportQuery, fmt: str) -> str:
    if fmt == "json":
        # The body is the ERP's bytes: the ETag is their hash.
        return fetched.digest("json")
    return fetched.digest(fmt, query.table)


def filename(fetched: FetchedReport, query: ReportQuery, fmt: str) -> str:
    name = query.report.filename(query.path_args, fetched.document)
    if fmt == "csv" and query.table != query.report.tables[0].name:
        name += f"-{query.table}"
    return f"{name}.{fmt}"


def render(fetched: FetchedReport, query: ReportQuery, fmt: str) -> bytes:
    if fmt == "json":
        return fetched.pages[0].raw
    if fmt == "csv":
        return render_csv(query, fetched.document)
    if fmt == "xlsx":
        return render_xlsx(query, fetched.document)
    raise ValueError(f"unknown format {fmt}")


# --- CSV -------------------------------------------------------------------


def csv_cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if kind == "text" and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def render_csv(query: ReportQuery, document: dict[str, Any]) -> bytes:
    """One table: a header row of the ERP's keys, one row per item, values
    as the ERP gave them (decimal strings, ISO dates). UTF-8 with a byte
    order mark, so that Excel shows Chinese names."""
    (table,) = [t for t in query.report.tables if t.name == query.table]
    columns = table.columns(document)
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\r\n")
    writer.writerow([column.key for column in columns])
    for row in table.rows(document):
        writer.writerow([csv_cell(column.get(row), column.kind) for column in columns])
    return ("\ufeff" + output.getvalue()).encode("utf-8")


# --- XLSX ------------------------------------------------------------------


class Formats:
    """The workbook's cell formats, made once each."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self.workbook = workbook
        self.cache: dict[tuple[str, int, bool], Any] = {}

    def get(self, kind: str, places: int = 2, bold: bool = False) -> Any:
        key = (kind, places if kind == "decimal" else 0, bold)
        if key not in self.cache:
            properties: dict[str, Any] = {"bold": True} if bold else {}
            if kind == "money":
                properties["num_format"] = "#,##0.00"
            elif kind == "decimal":
                properties["num_format"] = "#,##0" + (
                    "." + "0" * places if places else ""
                )
            elif kind == "int":
                properties["num_format"] = "#,##0"
            elif kind == "date":
                properties["num_format"] = "yyyy-mm-dd"
            elif kind == "header":
                properties.update(bold=True, bottom=1, text_wrap=True, valign="top")
            self.cache[key] = self.workbook.add_format(properties)
        return self.cache[key]


# Excel's day 0 (its serial dates count from 1899-12-30 for any date after
# February 1900).
EXCEL_EPOCH = dt.date(1899, 12, 30).toordinal()

CellWriter = Callable[[int, int, Any], None]


def cell_writer(
    sheet: Any, formats: Formats, kind: str, bold: bool = False
) -> CellWriter:
    """A function writing one value of kind at (row, col).

    Made once per column: with 10,000 rows of 26 columns the per-cell work
    is most of an XLSX report's time, so formats are looked up here and
    decimal strings go to float without a Decimal in between (a float is
    what the cell stores)."""
    if kind == "money":
        money = formats.get("money", bold=bold)
        return lambda row, col, value: sheet.write_number(row, col, float(value), money)
    if kind == "decimal":
        by_places: dict[int, Any] = {}

        def write_decimal(row: int, col: int, value: Any) -> None:
            text = str(value)
            dot = text.find(".")
            places = len(text) - dot - 1 if dot >= 0 else 0
            cell_format = by_places.get(places)
            if cell_format is None:
                cell_format = by_places[places] = formats.get("decimal", places, bold)
            sheet.write_number(row, col, float(text), cell_format)

        return write_decimal
    if kind == "int":
        integer = formats.get("int", bold=bold)
        return lambda row, col, value: sheet.write_number(row, col, int(value), integer)
    if kind == "date":
        date = formats.get("date", bold=bold)

        def write_date(row: int, col: int, value: Any) -> None:
            text = str(value)
            if len(text) == 10:
                serial = dt.date.fromisoformat(text).toordinal() - EXCEL_EPOCH
                sheet.write_number(row, col, serial, date)
            else:
                sheet.write_datetime(row, col, dt.datetime.fromisoformat(text), date)

        return write_date
    text_format = formats.get("text", bold=bold)
    if kind == "bool":
        return lambda row, col, value: sheet.write_boolean(
            row, col, bool(value), text_format
        )
    # write_string never turns "=..." into a formula.
    return lambda row, col, value: sheet.write_string(row, col, str(value), text_format)


def write_cell(
    sheet: Any,
    formats: Formats,
    row: int,
    col: int,
    kind: str,
    value: Any,
    bold: bool = False,
) -> None:
    if value is None or value == "":
        if bold:
            sheet.write_blank(row, col, None, formats.get("text", bold=True))
        return
    cell_writer(sheet, formats, kind, bold)(row, col, value)


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


WIDTHS = {"text": 22, "money": 16, "decimal": 12, "int": 10, "date": 12, "bool": 10}


def write_table(
    workbook: xlsxwriter.Workbook,
    formats: Formats,
    table: Table,
    document: dict[str, Any],
) -> None:
    sheet = workbook.add_worksheet(table.title[:31])
    columns = table.columns(document)
    for index, column in enumerate(columns):
        sheet.set_column(
            index, index, max(WIDTHS[column.kind], min(len(column.title) + 2, 30))
        )
    header = formats.get("header")
    for index, column in enumerate(columns):
        sheet.write_string(0, index, column.title, header)
    sums = [Decimal(0)] * len(columns)
    plans = [
        (
            index,
            column.key,
            column.value,
            cell_writer(sheet, formats, column.kind),
            column.total,
        )
        for index, column in enumerate(columns)
    ]
    row_index = 0
    for row in table.rows(document):
        row_index += 1
        for index, key, value_of, write, total in plans:
            value = value_of(row) if value_of else row.get(key)
            if value is None or value == "":
                continue
            write(row_index, index, value)
            if total:
                sums[index] += Decimal(str(value))
    last = max(row_index, 1)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, last, len(columns) - 1)
    if not table.total_row:
        return
    totals = document.get(table.totals) or {} if table.totals else {}
    total_row = row_index + 1
    for index, column in enumerate(columns):
        if index == 0 and not column.total:
            sheet.write_string(total_row, 0, "Total", formats.get("text", bold=True))
        elif column.total:
            cell_format = formats.get(column.kind, 2, bold=True)
            cached: float | int = (
                int(sums[index]) if column.kind == "int" else float(sums[index])
            )
            if row_index:
                letter = column_letter(index)
                sheet.write_formula(
                    total_row,
                    index,
                    f"=SUM({letter}2:{letter}{row_index + 1})",
                    cell_format,
                    cached,
                )
            else:
                sheet.write_number(total_row, index, 0, cell_format)
        elif column.key in totals:
            write_cell(
                sheet, formats, total_row, index, column.kind, totals[column.key], True
            )
        else:
            sheet.write_blank(total_row, index, None, formats.get("text", bold=True))


def write_info(
    workbook: xlsxwriter.Workbook,
    formats: Formats,
    report: Report,
    document: dict[str, Any],
) -> None:
    values = document.get(report.info_member) if report.info_member else document
    values = values or {}
    sheet = workbook.add_worksheet("Report")
    sheet.set_column(0, 0, 24)
    sheet.set_column(1, 1, 30)
    for index, column in enumerate(report.info):
        sheet.write_string(index, 0, column.title, formats.get("text", bold=True))
        write_cell(sheet, formats, index, 1, column.kind, column.get(values))


def render_xlsx(query: ReportQuery, document: dict[str, Any]) -> bytes:
    """Every table of the report on a sheet of its own (bold frozen header,
    autofilter, numbers and dates typed, a totals row of SUM formulas with
    their values), then the report's parameters on a "Report" sheet."""
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        output,
        {
            # Rows go to a temporary file as they are written.
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    workbook.set_properties({"created": XLSX_CREATED})
    formats = Formats(workbook)
    for table in query.report.tables:
        write_table(workbook, formats, table, document)
    if query.report.info:
        write_info(workbook, formats, query.report, document)
    workbook.close()
    return output.getvalue()
