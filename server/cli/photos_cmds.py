"""``fieldsync photos …``."""

from __future__ import annotations

from datetime import timedelta

import click

from photo_store.base import open_store
from server.cli.common import cli, open_db, settings
from server.services import photos

@cli.group("photos", help="Photo evidence.")
def photos_group() -> None:
    pass


@photos_group.command("gc", help="Discard expired uploads and delete old photos that no item names.")
@click.option("--orphan-days", default=None, type=click.IntRange(min=1),
              help="delete a photo no item names once it is this many days old "
                   "(default: FIELDSYNC_ORPHAN_PHOTO_DAYS, 30)")
def photos_gc(orphan_days: int | None) -> None:
    s = settings()
    orphan_days = orphan_days or s.orphan_photo_days
    collected = photos.collect_garbage(open_db(), open_store(s.photo_store), s, timedelta(days=orphan_days), "cli")
    click.echo(f"{collected.uploads} expired upload(s) discarded, {len(collected.photos)} orphan photo(s) deleted, "
               f"{collected.temp_files} stale temporary file(s) removed")
    for sha256 in collected.photos:
        click.echo(f"deleted {sha256}")
