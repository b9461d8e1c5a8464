"""``fieldsync inspections …``: inspection orders made by the office."""

from __future__ import annotations

from datetime import date

import click
import msgspec

from field_schemas.review import InspectionOrderRequest
from server.cli.common import cli, fail, open_db, settings
from server.errors import ApiError
from server.services import inspections as service


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-12-01") from None


def _team(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    return [u.strip() for u in value.split(",") if u.strip()] if value else None


@cli.group(help="Inspection orders.")
def inspections() -> None:
    pass


@inspections.command("order", help="Send a team of inspectors to METER; it is on their next pull.")
@click.argument("meter_id", metavar="METER")
@click.option("--kind", type=click.Choice(["theft_check", "routine", "census"]), default="theft_check",
              show_default=True)
@click.option("--team", callback=_team, help="inspectors, comma separated; default: the two with the fewest open orders")
@click.option("--due", "due_until", callback=_date, help="last day, inclusive (station time)")
@click.option("--reason", help="what the team is told")
def order(meter_id: str, kind: str, team: list[str] | None, due_until: date | None, reason: str | None) -> None:
    try:
        # Converted, not constructed, so the wire's limits (reason length, usernames) apply here too.
        req = msgspec.convert({"meter_id": meter_id, "kind": kind, "team": team, "due_until": due_until,
                               "reason": reason}, InspectionOrderRequest)
        made = service.create_order(open_db(), settings(), req, "cli")
    except msgspec.ValidationError as exc:
        fail(str(exc))
    except ApiError as exc:
        fail(exc.message)
    due = f", due {made.due_until}" if made.due_until else ""
    click.echo(f"{made.id}: {made.kind} of {made.meter_id} for {', '.join(made.team)}{due}")
