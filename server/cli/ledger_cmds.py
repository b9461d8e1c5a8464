"""``fieldsync ledger …``: import the station's meters and reading history from CSV."""

from __future__ import annotations

import io
import sys
import textwrap
from typing import Callable

import click

from server.cli.common import cli, fail, open_db, settings
from server.services import ledger as ledger_service
from sync.ledger_csv import METER_COLUMNS

FILE = click.Path(exists=True, dir_okay=False, allow_dash=True)
SAME_FILE_TWICE = "Importing a file again changes nothing; a file with any bad row changes nothing either."
DRY_RUN = click.option("--dry-run", is_flag=True, help="Check the file and say what would change; write nothing.")


@cli.group(help="The station's ledger: districts, routes, customers, meters, seals and reading history.")
def ledger() -> None:
    pass


@ledger.command(
    "import",
    help="Add or update meters, their customers, districts, routes and seals from a UTF-8 CSV file "
    f"('-' reads standard input). {SAME_FILE_TWICE}\n\n\b\nColumns:\n"
    + "\n".join(textwrap.wrap(", ".join(METER_COLUMNS), 70)),
)
@click.argument("file", type=FILE)
@DRY_RUN
def ledger_import(file: str, dry_run: bool) -> None:
    _run(ledger_service.import_meters, file, dry_run)


@ledger.command(
    "import-readings",
    help="Add reading history (actual readings) from a UTF-8 CSV file with the columns "
    f"meter_id,register,read_at,value. {SAME_FILE_TWICE} A reading stored with another value is a bad row.",
)
@click.argument("file", type=FILE)
@DRY_RUN
def ledger_import_readings(file: str, dry_run: bool) -> None:
    _run(ledger_service.import_readings, file, dry_run)


def _run(importer: Callable[..., ledger_service.ImportReport], file: str, dry_run: bool) -> None:
    source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8") if file == "-" else file
    name = ledger_service.source_name(source)
    try:
        report = importer(open_db(), settings(), source, dry_run=dry_run, progress=True)
    except UnicodeDecodeError:
        fail("standard input is not UTF-8 text; nothing was imported")
    if report.errors:
        for error in report.errors:
            click.echo(error, err=True)
        fail(f"{len(report.errors)} problem(s) in {name}; nothing was imported")
    counts = f"{report.rows} rows: {report.inserted} new, {report.updated} changed, {report.unchanged} unchanged"
    if dry_run:
        click.echo(f"{name}: dry run, nothing written; would import {counts}")
    else:
        click.echo(f"{name}: imported {counts}")
