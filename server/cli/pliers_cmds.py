"""``fieldsync pliers …``: the seal pliers register (封扣钳)."""

from __future__ import annotations

from datetime import datetime
from typing import Callable, TypeVar

import click

from field_schemas.pliers import PliersDetail, PliersState
from server.cli.common import cli, open_db
from server.errors import ApiError
from server.services import pliers as register

T = TypeVar("T")
CLI_ACTOR = "cli"


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except ApiError as exc:
        raise click.ClickException(exc.message) from None


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "-"


def _holder(state: PliersState | PliersDetail) -> str:
    if state.holder is None:
        return "in store"
    return f"{state.holder} ({state.holder_name}) since {_when(state.issued_at)}"


@cli.group(help="Seal pliers: issued to an inspector and returned, against the register.")
def pliers() -> None:
    pass


@pliers.command("issue", help="Issue PLIERS_ID to an inspector (adds unknown pliers to the register).")
@click.argument("pliers_id")
@click.option("--to", "to_user", required=True, help="the inspector's username")
def pliers_issue(pliers_id: str, to_user: str) -> None:
    state = _run(lambda: register.issue_pliers(open_db(), pliers_id, to_user, actor=CLI_ACTOR))
    click.echo(f"pliers {state.id}: {_holder(state)}")


@pliers.command("return", help="Take PLIERS_ID back from its holder.")
@click.argument("pliers_id")
def pliers_return(pliers_id: str) -> None:
    state = _run(lambda: register.return_pliers(open_db(), pliers_id, actor=CLI_ACTOR))
    click.echo(f"pliers {state.id}: {_holder(state)}")


@pliers.command("list", help="Every pliers in the register and who holds it.")
def pliers_list() -> None:
    rows = register.list_pliers(open_db())
    if not rows:
        click.echo("the pliers register is empty; 'fieldsync pliers issue' adds pliers")
    for state in rows:
        click.echo(f"{state.id:<16} {_holder(state)}")


@pliers.command("show", help="PLIERS_ID's holder and every issue and return.")
@click.argument("pliers_id")
def pliers_show(pliers_id: str) -> None:
    detail = _run(lambda: register.show_pliers(open_db(), pliers_id))
    click.echo(f"pliers {detail.id}: {_holder(detail)}")
    for entry in detail.history:
        click.echo(f"  {_when(entry.at)}  {entry.action:<8} {entry.user:<16} by {entry.by}")
