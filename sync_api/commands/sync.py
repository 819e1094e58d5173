"""``flask --app sync_api sync run [--once]``: the sync worker."""

import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from sync_api.erp import ErpClient, ErpError, complaints_client
from sync_api.extensions import db
from sync_api.services.complaints import ComplaintForwarder, ForwardSettings
from sync_api.services.sync import SyncSettings, SyncWorker

sync = AppGroup("sync", help="Send the ledger's totals to the ERP.")


def make_worker() -> SyncWorker:
    config = current_app.config
    erp = ErpClient(
        config["ERP_URL"],
        config["ERP_DATABASE"],
        config["ERP_KEY"],
        config["ERP_TIMEOUT_SECONDS"],
    )
    forwarder = ComplaintForwarder(
        db.engine, complaints_client(config), ForwardSettings.from_config(config)
    )
    return SyncWorker(
        db.engine, erp, SyncSettings.from_config(config), complaints=forwarder
    )


@sync.command("run")
@click.option("--once", is_flag=True, help="Send what is pending now and exit.")
def run(once: bool) -> None:
    """Sync pending totals into the ERP (until stopped, or --once)."""
    worker = make_worker()
    if once:
        try:
            report = worker.run_once()
        except ErpError as error:
            raise click.ClickException(
                f"The ERP did not take the totals: {error}"
            ) from error
        click.echo(
            f"{report.rows_sent} totals sent in {report.batches} batches, "
            f"{report.keys_rejected} refused by the ERP."
        )
        if report.complaints is not None:
            forwarded = report.complaints
            click.echo(
                f"{forwarded.created} complaints created, {forwarded.unmatched} "
                f"waiting for their customer, {len(forwarded.refused)} refused "
                "by the ERP."
            )
            for row in forwarded.refused:
                click.echo(
                    f"refused: complaint {row['source']}/{row['external_id']}: "
                    f"{row['error']}"
                )
        for row in report.rejected:
            click.echo(
                f"refused: {row['source']}/{row['customer']} {row['month']} "
                f"{row['currency']}: {row['error']}"
            )
        return
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo("Sync worker running; Ctrl-C stops it.", err=True)
    worker.run(stop)
