"""``flask --app sync_api reports <report> [options]``: the finance reports
as files, the same bytes the API serves.

    flask --app sync_api reports evaluation 12 --format xlsx
    flask --app sync_api reports business-status --month 2025-06 -o june.xlsx

The ERP key is CRM_ERP_REPORTS_KEY, as for the API; a progress bar follows
the pages of long lists.
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from sync_api.erp import ErpError, ErpRefused, ReportsNotConfigured, reports_client
from sync_api.services.reports import (
    FORMATS,
    GROUP_BY,
    REPORTS,
    ReportQueryError,
    fetch_report,
    filename,
    parse_query,
    render,
)

reports = AppGroup("reports", help="Write the ERP's finance reports to files.")


class PageProgress:
    """A progress bar over the rows of a paged report, opened when the
    first page tells the total."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(
                length=max(total, 1),
                label="Fetching rows from the ERP",
                file=sys.stderr,
            )
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def file_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--output",
        "-o",
        help="File to write; '-' for standard output. "
        "Default: the report's name in the current folder.",
    )(command)
    command = click.option(
        "--page-size",
        type=click.IntRange(1, 10000),
        default=None,
        help="Rows per ERP call (default REPORTS_PAGE_SIZE).",
    )(command)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="xlsx",
        show_default=True,
    )(command)


def write_report(
    name: str,
    fmt: str,
    output: str | None,
    page_size: int | None,
    path_args: dict[str, Any] | None = None,
    **options: str | None,
) -> None:
    args = {key: [value] for key, value in options.items() if value is not None}
    try:
        query = parse_query(REPORTS[name], args, path_args)
    except ReportQueryError as error:
        raise click.UsageError(error.message) from error
    config = current_app.config
    try:
        client = reports_client(config)
    except ReportsNotConfigured as error:
        raise click.ClickException(str(error)) from error
    progress = PageProgress()
    try:
        with client:
            fetched = fetch_report(
                client,
                query,
                whole=True,
                page_size=page_size or config["REPORTS_PAGE_SIZE"],
                progress=progress,
            )
    except ErpRefused as error:
        raise click.ClickException(
            f"The ERP refused the report (HTTP {error.status}): {error}"
        ) from error
    except ErpError as error:
        raise click.ClickException(f"No report from the ERP: {error}") from error
    finally:
        progress.close()
    body = render(fetched, query, fmt)
    if output == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return
    target = Path(output or filename(fetched, query, fmt))
    target.write_bytes(body)
    click.echo(f"Wrote {target} ({len(body):,} bytes).", err=True)


@reports.command("evaluations")
@file_options
def evaluations(fmt: str, output: str | None, page_size: int | None) -> None:
    """The customer evaluations, newest first."""
    write_report("evaluations", fmt, output, page_size)


@reports.command("evaluation")
@click.argument("evaluation_id", type=int)
@file_options
def evaluation(
    evaluation_id: int, fmt: str, output: str | None, page_size: int | None
) -> None:
    """The lines of one evaluation, by rank, with totals."""
    write_report("evaluation", fmt, output, page_size, {"id": evaluation_id})


@reports.command("tiers")
@click.option("--table", type=click.Choice(["customers", "history"]))
@file_options
def tiers(
    table: str | None, fmt: str, output: str | None, page_size: int | None
) -> None:
    """The current tier of every customer and its history."""
    write_report("tiers", fmt, output, page_size, table=table)


@reports.command("business-status")
@click.option("--month", required=True, help="YYYY-MM")
@file_options
def business_status(
    month: str, fmt: str, output: str | None, page_size: int | None
) -> None:
    """The monthly business status of strategic and key customers."""
    write_report("business-status", fmt, output, page_size, month=month)


@reports.command("complaints")
@click.option("--from", "from_", help="YYYY-MM-DD")
@click.option("--to", help="YYYY-MM-DD")
@click.option("--group-by", type=click.Choice(GROUP_BY))
@file_options
def complaints(
    from_: str | None,
    to: str | None,
    group_by: str | None,
    fmt: str,
    output: str | None,
    page_size: int | None,
) -> None:
    """The complaint ledger's analysis over a date range."""
    write_report(
        "complaints",
        fmt,
        output,
        page_size,
        **{"from": from_, "to": to, "group_by": group_by},
    )


@reports.command("visits")
@click.option("--period", required=True, help="YYYY, YYYY-H1, YYYY-Q2 or YYYY-MM")
@click.option("--table", type=click.Choice(["customers", "managers"]))
@file_options
def visits(
    period: str,
    table: str | None,
    fmt: str,
    output: str | None,
    page_size: int | None,
) -> None:
    """Visit compliance by account manager and customer."""
    write_report("visits", fmt, output, page_size, period=period, table=table)
