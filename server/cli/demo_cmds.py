"""``fieldsync demo``: a realistic station on an empty database, then served."""

from __future__ import annotations

import click

from server.cli.common import cli, fail, open_db, settings
from server.cli.db_cmds import default_workers, serve_app
from server.demo import DEMO_PASSWORD, DemoError, DemoReport, create_demo_station, logins
from server.services.cycles import CycleError

# Hosts that listen everywhere; a command to paste reaches them on loopback.
ANY_HOST = {"0.0.0.0", "::", ""}


@cli.command(help="Create a demo station (on a database without meters) and serve it.")
@click.option("--seed", default=1, show_default=True, type=int, help="the same seed makes the same station")
@click.option("--routes", default=30, show_default=True, type=click.IntRange(1, 999))
@click.option("--meters", default=5000, show_default=True, type=click.IntRange(1), help="customer meters")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def demo(seed: int, routes: int, meters: int, host: str, port: int) -> None:
    if meters < routes:
        raise click.BadParameter("give at least one meter a route", param_hint="--meters")
    db = open_db()
    try:
        report = create_demo_station(db, settings(), seed=seed, routes=routes, meters=meters, progress=True)
    except (DemoError, CycleError) as exc:
        fail(str(exc))
    click.echo(_summary(report))
    _echo_logins(logins(db), created=report.created)
    _echo_try_it("127.0.0.1" if host in ANY_HOST else host, port)
    db.dispose()
    serve_app(host, port, default_workers())


def _summary(report: DemoReport) -> str:
    if not report.created:
        return (f"The database already holds {report.meters_on_record} meters: nothing created, "
                "serving it as it is.")
    window = report.window
    return (
        f"Demo station created in {report.seconds:.1f} s: {report.districts} districts, {report.routes} routes, "
        f"{report.meters} meters ({report.districts} of them district meters), {report.readings} readings, "
        f"{report.users} users, {report.pliers} seal pliers.\n"
        f"Cycle {window.cycle} is open: {report.assignments} assignments due "
        f"{window.due_from.isoformat()} to {window.due_until.isoformat()}."
    )


def _usernames(names: list[str]) -> str:
    if len(names) <= 2:
        return ", ".join(names)
    return f"{names[0]} … {names[-1]} ({len(names)})"


def _echo_logins(rows: list[tuple[str, list[str]]], *, created: bool) -> None:
    if not rows:
        click.echo("\nNo users yet: add one with 'fieldsync users add'.")
        return
    note = "" if created else f" (the password is {DEMO_PASSWORD!r} if 'fieldsync demo' made this station)"
    click.echo(f"\nLogins{note}:")
    click.echo(f"  {'role':<11} {'usernames':<32} password")
    for role, names in rows:
        click.echo(f"  {role:<11} {_usernames(names):<32} {DEMO_PASSWORD}")


def _echo_try_it(host: str, port: int) -> None:
    base = f"http://{host}:{port}/api/v1"
    login = ('{"username":"reader01","password":"' + DEMO_PASSWORD + '","device_id":"demo-tablet-01",'
             '"app_version":"1.0.0","schema_version":1}')
    click.echo(
        "\nTry it (reader01 logs in and pulls the first page of route R01):\n"
        f"  TOKEN=$(curl -s {base}/auth/login -H 'Content-Type: application/json' -d '{login}' "
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')\n"
        f"  curl -s --compressed -H \"Authorization: Bearer $TOKEN\" '{base}/sync/pull?schema_version=1&limit=5' "
        "| python3 -m json.tool --no-ensure-ascii\n"
    )
