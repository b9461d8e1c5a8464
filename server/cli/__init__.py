"""The ``fieldsync`` command. Each group lives in its own module of this package."""

from __future__ import annotations

import click

from server.cli.common import cli
from server.cli import cycle_cmds, db_cmds, demo_cmds, inspections_cmds, ledger_cmds, photos_cmds, pliers_cmds, report_cmds, schema_cmds, users_cmds  # noqa: F401  (registers commands)
from server.cli import simulate_cmds  # noqa: F401  (registers the command)


def main() -> None:
    cli(prog_name="fieldsync")


__all__ = ["cli", "main", "click"]
