"""``fieldsync simulate``: tablets through a shift and the end-of-shift rush, then reconciled."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from server.cli.common import cli, fail


@cli.command(help="Simulate N tablets' shift against a demo station ('fieldsync demo'), sync them all at once, "
                  "and reconcile every outbox against what the server stored. Exits 1 when they disagree.")
@click.option("--server", required=True, help="the station's URL, e.g. http://127.0.0.1:8000")
@click.option("--tablets", required=True, type=click.IntRange(1, 999), help="reader tablets (reader01 …)")
@click.option("--readings-per-tablet", default=40, show_default=True, type=click.IntRange(1))
@click.option("--photos-per-tablet", default=2, show_default=True, type=click.IntRange(0))
@click.option("--anomaly-rate", default=0.05, show_default=True, type=click.FloatRange(0, 1),
              help="share of readings that are odd: reverse, spike, unable to read, broken seal, anomaly")
@click.option("--flaky", default=0.0, show_default=True, type=click.FloatRange(0, 0.9),
              help="share of requests that fail: dropped before sending, answer lost, photo chunk cut")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--password", default="demo", show_default=True, help="the readers' and inspectors' password")
@click.option("--admin-password", default="demo", show_default=True, help="admin's password, to reconcile")
@click.option("--inspection-teams", default=2, show_default=True, type=click.IntRange(0, 2),
              help="inspector pairs doing theft checks (inspector01+02, inspector03+04)")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 500))
@click.option("--chunk-kib", default=256, show_default=True, type=click.IntRange(1), help="photo upload chunk")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="keep the tablets' outboxes here (default: a temporary directory, removed)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="also write the figures to this file")
@click.option("--quiet", is_flag=True, help="no progress bar")
def simulate(server: str, tablets: int, readings_per_tablet: int, photos_per_tablet: int, anomaly_rate: float,
             flaky: float, seed: int, password: str, admin_password: str, inspection_teams: int, batch_size: int,
             chunk_kib: int, workdir: Path | None, json_path: Path | None, quiet: bool) -> None:
    from server.simulate.run import Options, SimulationError, run_simulation
    from server.simulate.summary import figures, summary_text

    options = Options(
        server=server.rstrip("/"), tablets=tablets, readings_per_tablet=readings_per_tablet,
        photos_per_tablet=photos_per_tablet, anomaly_rate=anomaly_rate, flaky=flaky, seed=seed, password=password,
        admin_password=admin_password, inspection_teams=inspection_teams, batch_size=batch_size,
        chunk_bytes=chunk_kib * 1024, workdir=workdir, progress=not quiet,
    )
    try:
        result = run_simulation(options)
    except SimulationError as exc:
        fail(str(exc))
    click.echo(summary_text(result))
    if json_path is not None:
        json_path.write_text(json.dumps(figures(result), indent=2) + "\n", encoding="utf-8")
    if not result.ok:
        sys.exit(1)
