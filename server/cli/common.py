"""The root command group and what every command shares."""

from __future__ import annotations

import click

from server.db import migrate
from server.db.engine import Database
from server.settings import Settings


@click.group(help="fieldsync: the field sync server of a supply station.")
@click.pass_context
def cli(ctx: click.Context) -> None:
    ctx.ensure_object(dict)


def settings() -> Settings:
    return Settings.from_env()


def open_db(upgrade: bool = True) -> Database:
    """The configured database, migrated to the latest schema (commands never run on an old one)."""
    db = Database(settings().database_url)
    if upgrade and migrate.pending(db):
        migrate.upgrade(db)
    return db


def fail(message: str) -> None:
    raise click.ClickException(message)
