"""``fieldsync db …`` and ``fieldsync serve``."""

from __future__ import annotations

import click
import uvicorn

from server.cli.common import cli, fail, open_db, settings
from server.db import migrate
from server.services import meter_state


@cli.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply pending migrations.")
def db_upgrade() -> None:
    database = open_db(upgrade=False)
    migrate.upgrade(database)
    click.echo(f"database at revision {migrate.current_revision(database)}")


@db.command("check", help="Fail when the models and the migrations disagree.")
def db_check() -> None:
    database = open_db()
    diffs = migrate.model_differences(database)
    if diffs:
        fail("models and migrations disagree:\n" + "\n".join(map(str, diffs)))
    click.echo("models and migrations agree")


def serve_app(host: str, port: int) -> None:
    from server.app import create_app

    database = open_db()  # applies pending migrations before the first request
    with database.write() as conn:
        # Readings written straight to the database leave their meters' kept history stale.
        rebuilt = meter_state.rebuild_stale(conn)
    database.dispose()
    if rebuilt:
        click.echo(f"rebuilt the kept reading history of {rebuilt} meters")
    s = settings()
    click.echo(f"fieldsync serving on http://{host}:{port}  (database: {s.database_url})")
    uvicorn.run(create_app(s), host=host, port=port, log_level="info", timeout_graceful_shutdown=10)


@cli.command(help="Serve the API (applies pending migrations first).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    serve_app(host, port)
