"""``/api/v1/reports``: finance reads the ERP's figures as JSON, CSV or XLSX.

The ERP computes the figures and checks the report parameters
(crm_module/doc/report_routes.md). One view per report of the catalog
(``REPORTS`` in ``services/reports.py``): it takes out the API's own
parameters (the format, asked by ``?format=`` or the Accept header, and a
CSV's table), fetches the report with the others as they came and answers
it in the format asked for, with an ETag. The ERP's refusals keep their
status, message and parameter as problem+json.
"""

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request

from sync_api.auth import require_scope
from sync_api.erp import (
    ErpError,
    ErpRefused,
    ErpReportsClient,
    ReportsNotConfigured,
    reports_client,
)
from sync_api.errors import ApiError
from sync_api.services.reports import (
    FORMATS,
    MIMETYPES,
    REPORTS,
    Report,
    ReportQueryError,
    etag,
    fetch_report,
    filename,
    parse_query,
    render,
)

blueprint = Blueprint("reports", __name__, url_prefix="/api/v1/reports")

# The ERP's refusals that concern the request itself: passed on as they are.
ERP_STATUSES = {
    400: "Invalid report parameter",
    403: "Forbidden by the ERP",
    404: "Not found in the ERP",
    409: "No figures to report",
}


def report_view(report: Report) -> Callable[..., Response]:
    "The view of a report's route, for keys of the scope reports:read"

    @require_scope("reports:read")
    def view(**path_args: Any) -> Response:
        return serve(report, path_args)

    return view


for _report in REPORTS.values():
    blueprint.add_url_rule(
        _report.path,
        endpoint=_report.name.replace("-", "_"),
        view_func=report_view(_report),
        methods=["GET"],
    )


def serve(report: Report, path_args: dict[str, Any]) -> Response:
    fmt = requested_format()
    args = {key: request.args.getlist(key) for key in request.args if key != "format"}
    try:
        query = parse_query(report, args, path_args)
    except ReportQueryError as error:
        raise ApiError(
            400,
            error.message,
            title="Invalid report parameter",
            parameter=error.parameter,
        ) from error
    with erp_reports() as client:
        try:
            fetched = fetch_report(
                client,
                query,
                whole=fmt != "json",
                page_size=current_app.config["REPORTS_PAGE_SIZE"],
            )
        except ErpError as error:
            raise erp_problem(error) from error
    tag = etag(fetched, query, fmt)
    headers = {
        "ETag": tag,
        # The format can come from the Accept header.
        "Vary": "Accept",
        # Confidential figures: no shared cache; a private one revalidates.
        "Cache-Control": "private, no-cache",
    }
    if request.if_none_match.contains_weak(tag.strip('"')):
        return Response(status=304, headers=headers)
    response = Response(render(fetched, query, fmt), headers=headers)
    if fmt == "json":
        response.mimetype = MIMETYPES["json"]
    else:
        response.headers["Content-Type"] = (
            "text/csv; charset=utf-8; header=present"
            if fmt == "csv"
            else MIMETYPES["xlsx"]
        )
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{filename(fetched, query, fmt)}"'
        )
    return response


def requested_format() -> str:
    """``?format=`` first, then the Accept header; JSON when neither says."""
    given = request.args.getlist("format")
    if given:
        if len(given) > 1 or given[0] not in FORMATS:
            raise ApiError(
                400,
                f"Unknown format {given[-1]!r}: one of {', '.join(FORMATS)} "
                "is expected.",
                title="Invalid report parameter",
                parameter="format",
            )
        return given[0]
    if not request.headers.get("Accept"):
        return "json"
    best = request.accept_mimetypes.best_match([MIMETYPES[f] for f in FORMATS])
    if best is None:
        raise ApiError(
            406,
            "The Accept header names no format of the reports: "
            + ", ".join(MIMETYPES[f] for f in FORMATS)
            + " (or use ?format=json|csv|xlsx).",
        )
    return {mimetype: fmt for fmt, mimetype in MIMETYPES.items()}[best]


def erp_reports() -> ErpReportsClient:
    try:
        return reports_client(current_app.config)
    except ReportsNotConfigured as error:
        raise ApiError(503, f"Reports are not configured. {error}") from error


def erp_problem(error: ErpError) -> ApiError:
    """The problem document that tells the client why the ERP gave no
    report."""
    if isinstance(error, ErpRefused) and error.status in ERP_STATUSES:
        detail = str(error)
        if error.status == 403:
            detail = (
                "The ERP refused to give these figures to the ERP user of "
                f"the API's reports key: {detail}"
            )
        return ApiError(
            error.status,
            detail,
            title=ERP_STATUSES[error.status],
            parameter=error.field,
            erp_error=error.code,
        )
    if error.status is None:
        current_app.logger.warning("Reports: %s", error)
        return ApiError(
            503,
            f"The ERP does not answer; try again later ({error}).",
            headers={"Retry-After": "30"},
        )
    current_app.logger.error("Reports: the ERP failed: %s", error)
    if error.status == 401:
        detail = (
            "The ERP refused the API's reports key (CRM_ERP_REPORTS_KEY): "
            "it is unknown, revoked or not of the crm_reports application."
        )
    else:
        detail = f"The ERP could not give the report ({error})."
    return ApiError(502, detail, title="ERP error")
