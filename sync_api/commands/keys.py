"""``flask --app sync_api keys create|list|revoke``."""

import click
from flask.cli import AppGroup

from sync_api.extensions import db
from sync_api.services.keys import SCOPES, KeyRefused, create_key, list_keys, revoke_key

keys = AppGroup("keys", help="Make, list and revoke API keys.")


@keys.command("create")
@click.option("--name", required=True, help="Who or what uses the key.")
@click.option(
    "--scope",
    "scopes",
    required=True,
    multiple=True,
    type=click.Choice(SCOPES),
    help="A scope of the key; repeat for several.",
)
@click.option("--source", help="Bind the key to this source only.")
def create(name: str, scopes: tuple[str, ...], source: str | None) -> None:
    """Make a key and print it as the last line (shown only once)."""
    try:
        new = create_key(db.session, name, list(scopes), source)
    except KeyRefused as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"Key {new.key.prefix} for {new.key.name}, scopes {new.key.scopes}"
        + (f", source {new.key.source}" if new.key.source else "")
        + ". Keep it now, it is not stored:",
        err=True,
    )
    click.echo(new.token)


@keys.command("list")
def list_() -> None:
    """List keys (prefix, name, scopes, source, created, revoked)."""
    for key in list_keys(db.session):
        click.echo(
            "\t".join(
                [
                    key.prefix,
                    key.name,
                    key.scopes,
                    key.source or "-",
                    key.created_at.isoformat(timespec="seconds"),
                    "revoked " + key.revoked_at.isoformat(timespec="seconds")
                    if key.revoked_at
                    else "active",
                ]
            )
        )


@keys.command("revoke")
@click.argument("prefix")
def revoke(prefix: str) -> None:
    """Revoke the key with this prefix; it stops working at once."""
    try:
        key = revoke_key(db.session, prefix)
    except KeyRefused as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Key {key.prefix} ({key.name}) revoked.")
