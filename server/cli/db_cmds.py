"""``fieldsync db …`` and ``fieldsync serve``."""

from __future__ import annotations

import gc

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
    app = create_app(s)
    tune_gc()
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=10)


# A batch makes tens of thousands of objects that live until it is answered, several batches
# at once; with the default thresholds the collector walks them all over and over.
GC_THRESHOLDS = (50_000, 50, 1_000)


def tune_gc() -> None:
    """Leave the objects made at start-up (modules, the app) out of every collection, and
    collect less often: a full collection then walks only what requests made since."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@cli.command(help="Serve the API (applies pending migrations first).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    serve_app(host, port)
