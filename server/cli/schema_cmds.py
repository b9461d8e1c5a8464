"""``fieldsync schema export DIR``: the wire schemas as files for tablet developers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from field_schemas.export import export_files
from field_schemas.version import SCHEMA_CURRENT
from server.cli.common import cli


@cli.group(help="The wire format, as JSON Schema for tablet developers.")
def schema() -> None:
    pass


@schema.command("export", help="Write a JSON Schema per message, codes.json and an index README.md into DIR.")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
def schema_export(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    files = export_files()
    for name, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, indent=2) + "\n"
        (directory / name).write_text(text, encoding="utf-8")
    click.echo(f"{len(files)} files of schema version {SCHEMA_CURRENT} written to {directory}")
