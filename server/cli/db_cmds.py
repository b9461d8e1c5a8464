"""``fieldsync db …`` and ``fieldsync serve``."""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys

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


def serve_app(host: str, port: int, workers: int = 1) -> None:
    from server.app import create_app

    database = open_db()  # applies pending migrations before the first request
    with database.write() as conn:
        # Readings written straight to the database leave their meters' kept history stale.
        rebuilt = meter_state.rebuild_stale(conn)
    database.dispose()
    if rebuilt:
        click.echo(f"rebuilt the kept reading history of {rebuilt} meters")
    s = settings()
    click.echo(f"fieldsync serving on http://{host}:{port}  (database: {s.database_url}, {workers} process"
               f"{'es' if workers > 1 else ''})")
    options = {"host": host, "port": port, "log_level": "info", "timeout_graceful_shutdown": 10}
    if workers > 1:
        # Each worker process builds its own app (and its own database engines) from the environment.
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
        return
    app = create_app(s)
    tune_interpreter()
    uvicorn.run(app, **options)  # type: ignore[arg-type]


def worker_app() -> object:
    """The app of one worker process of ``serve --workers``."""
    from server.app import create_app

    _die_with_parent()
    app = create_app(settings())
    tune_interpreter()
    return app


def _die_with_parent() -> None:
    """Linux: a worker goes when the serving process goes, even by SIGKILL, and no orphan
    keeps answering on the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent was gone before the above took hold
        os._exit(1)


PR_SET_PDEATHSIG = 1


# A batch makes tens of thousands of objects that live until it is answered, several batches
# at once; with the default thresholds the collector walks them all over and over.
GC_THRESHOLDS = (50_000, 50, 1_000)
# The group writer gives up the interpreter lock around every statement, and then waits for it
# while a batch is judged in another thread: up to the switch interval each time (5 ms by
# default), all of it holding the database's write lock. With one thread judging alongside, a
# batch's storing took 243-278 us an item at 5 ms, 185-190 us at 1 ms.
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """Leave the objects made at start-up (modules, the app) out of every collection, and
    collect less often: a full collection then walks only what requests made since. Hand the
    interpreter lock over sooner, for the writer's sake."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


# Serving processes by default: one a core this process may run on, at most this many. One process
# judges on one core (the interpreter lock); beyond the cores more only cost memory, and on SQLite
# their writes take turns anyway.
MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """``FIELDSYNC_WORKERS`` when set, else one process a usable core (at most ``MAX_DEFAULT_WORKERS``)."""
    if os.environ.get("FIELDSYNC_WORKERS"):
        return int(os.environ["FIELDSYNC_WORKERS"])
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS))


@cli.command(help="Serve the API (applies pending migrations first).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=default_workers, show_default="one a core, at most 4",
              type=click.IntRange(1, 64), envvar="FIELDSYNC_WORKERS",
              help="Processes serving requests (FIELDSYNC_WORKERS). Batches are judged in all of them at once; "
                   "on SQLite their writes still take turns.")
def serve(host: str, port: int, workers: int) -> None:
    serve_app(host, port, workers)
