"""``fieldsync cycle …`` and ``fieldsync assignments …``."""

from __future__ import annotations

from datetime import date

import click

from server.cli.common import cli, fail, open_db
from server.services import cycles


def _date(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-12-01") from None


@cli.group(help="Reading cycles (YYYY-MM).")
def cycle() -> None:
    pass


@cycle.command("open", help="Assign every active meter of ROUTE to a reader for CYCLE.")
@click.argument("cycle_id", metavar="CYCLE")
@click.option("--route", required=True)
@click.option("--reader", required=True)
@click.option("--from", "due_from", required=True, callback=_date, help="first day, inclusive (station time)")
@click.option("--until", "due_until", required=True, callback=_date, help="last day, inclusive (station time)")
def cycle_open(cycle_id: str, route: str, reader: str, due_from: date, due_until: date) -> None:
    try:
        result = cycles.open_cycle(open_db(), cycle_id, route, reader, due_from, due_until)
    except cycles.CycleError as exc:
        fail(str(exc))
    click.echo(f"{cycle_id} route {route}: {result.created} new assignment(s) for {reader}, "
               f"{result.already_assigned} already assigned")


@cycle.command("close", help="Close CYCLE: its open assignments leave the tablets.")
@click.argument("cycle_id", metavar="CYCLE")
def cycle_close(cycle_id: str) -> None:
    try:
        n = cycles.close_cycle(open_db(), cycle_id)
    except cycles.CycleError as exc:
        fail(str(exc))
    click.echo(f"{cycle_id} closed; {n} open assignment(s) closed")


@cli.group(help="Read assignments.")
def assignments() -> None:
    pass


@assignments.command("move", help="Give a route's open assignments of a cycle to another reader.")
@click.option("--route", required=True)
@click.option("--cycle", "cycle_id", required=True)
@click.option("--to", "to_user", required=True)
def assignments_move(route: str, cycle_id: str, to_user: str) -> None:
    try:
        n = cycles.move_route(open_db(), route, cycle_id, to_user)
    except cycles.CycleError as exc:
        fail(str(exc))
    click.echo(f"{n} assignment(s) of route {route} in {cycle_id} moved to {to_user}")
