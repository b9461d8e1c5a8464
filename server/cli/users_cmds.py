"""``fieldsync users …`` and ``fieldsync devices …``."""

from __future__ import annotations

import click

from server.auth import ROLES
from server.cli.common import cli, fail, open_db
from server.services import identity


@cli.group(help="People: readers, inspectors, reviewers, supervisors, admins.")
def users() -> None:
    pass


@users.command("add", help="Create a user, or update name, roles and password of an existing one.")
@click.argument("username")
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_add(username: str, name: str, roles: tuple[str, ...], password: str) -> None:
    try:
        identity.add_user(open_db(), username, name, list(roles), password)
    except ValueError as exc:
        fail(str(exc))
    click.echo(f"user {username} ({', '.join(roles)}) saved")


@cli.group(help="Tablets: list, show, revoke a lost one, restore a found one.")
def devices() -> None:
    pass


def _fmt(value: object) -> str:
    return "-" if value is None else getattr(value, "isoformat", lambda: str(value))()


@devices.command("list")
def devices_list() -> None:
    rows = identity.list_devices(open_db())
    if not rows:
        click.echo("no devices have logged in yet")
    for d in rows:
        state = f"REVOKED {_fmt(d.revoked_at)}" if d.revoked_at else "active"
        click.echo(f"{d.id:<24} {d.last_user_id or '-':<16} last seen {_fmt(d.last_seen_at)}  {state}")


@devices.command("show")
@click.argument("device_id")
def devices_show(device_id: str) -> None:
    d = identity.get_device(open_db(), device_id)
    if d is None:
        fail(f"no device {device_id!r} has ever logged in")
    for label, value in [
        ("device", d.id), ("last user", d.last_user_id), ("app version", d.app_version),
        ("first seen", d.first_seen_at), ("last seen", d.last_seen_at), ("last pull", d.last_pull_at),
        ("last push", d.last_push_at), ("revoked", d.revoked_at), ("live tokens", d.active_tokens),
    ]:
        click.echo(f"{label:<12} {_fmt(value)}")


@devices.command("revoke", help="Refuse the device's tokens now and its logins until restored.")
@click.argument("device_id")
def devices_revoke(device_id: str) -> None:
    try:
        n = identity.revoke_device(open_db(), device_id, actor="cli")
    except LookupError:
        fail(f"no device {device_id!r} has ever logged in")
    click.echo(f"device {device_id} revoked; {n} token(s) refused from now on")


@devices.command("restore", help="Allow logins from the device again (old tokens stay dead).")
@click.argument("device_id")
def devices_restore(device_id: str) -> None:
    try:
        identity.restore_device(open_db(), device_id, actor="cli")
    except LookupError:
        fail(f"no device {device_id!r} has ever logged in")
    click.echo(f"device {device_id} restored; it must log in again")
