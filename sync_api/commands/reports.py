"""``flask --app sync_api reports <report> [options]``: the finance reports
as files, the same bytes the API serves.

    flask --app sync_api reports evaluation 12 --format xlsx
    flask --app sync_api reports business-status --month 2025-06 -o june.xlsx

One command per report of the catalog (``REPORTS`` in
``services/reports.py``), its options the parameters of the report's ERP
route, passed on as given: the ERP checks them. The ERP key is
CRM_ERP_REPORTS_KEY, as for the API; a progress bar follows the pages of
long lists.
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
    REPORTS,
    Report,
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
    report: Report,
    fmt: str,
    output: str | None,
    page_size: int | None,
    path_args: dict[str, Any],
    options: dict[str, str | None],
) -> None:
    args = {key: [value] for key, value in options.items() if value is not None}
    try:
        query = parse_query(report, args, path_args)
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
        if error.status == 400:
            # The ERP names the parameter, which is an option here.
            raise click.BadParameter(
                str(error),
                param_hint=f"'--{error.field.replace('_', '-')}'"
                if error.field
                else None,
            ) from error
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


def report_command(report: Report) -> click.Command:
    """The command of a report: its path arguments, an option per parameter
    of its ERP route, --table for a report of several tables, and the file
    options."""

    def command(
        fmt: str, output: str | None, page_size: int | None, **values: Any
    ) -> None:
        path_args = {name: values.pop(name) for name in report.path_arguments}
        write_report(report, fmt, output, page_size, path_args, values)

    # Applied innermost first: the help lists them in the reverse order.
    command = file_options(command)
    if len(report.tables) > 1:
        command = click.option(
            "--table",
            type=click.Choice([table.name for table in report.tables]),
            help="The table of a CSV file (an XLSX file holds them all).",
        )(command)
    for parameter in reversed(report.parameters):
        command = click.option(
            "--" + parameter.name.replace("_", "-"),
            parameter.name,
            help=parameter.help,
        )(command)
    for name, kind in reversed(report.path_arguments.items()):
        command = click.argument(name, type=kind)(command)
    return reports.command(report.name, help=report.summary)(command)


for _report in REPORTS.values():
    report_command(_report)
