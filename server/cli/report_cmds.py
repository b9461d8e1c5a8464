"""``fieldsync report …``: the monthly reports as CSV on stdout (UTF-8, a header row)."""

from __future__ import annotations

import csv
import io
from typing import Callable, Iterable, Sequence, TypeVar

import click

from field_schemas.reports import AbnormalCustomer, RouteReadRate
from server.cli.common import cli, open_db, settings
from server.errors import ApiError
from server.services import reports

T = TypeVar("T")
CLI_ACTOR = "cli"
DISTRICT_COLUMNS = ("district_id", "name", "supply_kwh", "sales_kwh", "loss_kwh", "loss_rate_pct",
                    "last_month_rate_pct", "change_pct", "target_pct", "imbalance_pct", "flags")
OVERDUE_COLUMNS = ("class", "days", "customer_id", "account_no", "name", "address", "last_inspected_at", "days_overdue")


def _refused(action: Callable[[], T]) -> T:
    try:
        return action()
    except ApiError as exc:
        raise click.ClickException(exc.message) from None


def _echo_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    # Bytes, so that Chinese names come out as UTF-8 whatever the terminal's locale.
    click.echo(out.getvalue().encode("utf-8"), nl=False)


@cli.group(help="Monthly reports, as CSV on stdout.")
def report() -> None:
    pass


@report.command("line-loss", help="Line loss per district for MONTH (线损), one row per district.")
@click.option("--month", required=True, help="like 2026-11")
@click.option("--open-tasks", is_flag=True, help="Also open a review task for each flagged district (once per month).")
@click.option("--abnormal-customers", is_flag=True,
              help="List the customers whose consumption moved too much instead of the districts.")
def report_line_loss(month: str, open_tasks: bool, abnormal_customers: bool) -> None:
    db = open_db()
    result = _refused(lambda: reports.line_loss(db, settings(), month))
    if abnormal_customers:
        _echo_csv(("district_id", *AbnormalCustomer.__struct_fields__), (
            (d.district_id, *(getattr(a, f) for f in AbnormalCustomer.__struct_fields__))
            for d in result.districts for a in d.abnormal_customers
        ))
    else:
        _echo_csv(DISTRICT_COLUMNS, (
            (*(getattr(d, c) for c in DISTRICT_COLUMNS[:-1]), ";".join(f.code for f in d.flags))
            for d in result.districts
        ))
    if open_tasks:
        tasks = reports.open_district_tasks(db, result, CLI_ACTOR).tasks
        counts = {action: sum(1 for t in tasks if t.action == action) for action in ("opened", "updated", "unchanged")}
        click.echo(f"district review tasks for {month}: " + ", ".join(f"{n} {a}" for a, n in counts.items()), err=True)


@report.command("read-rate", help="Actual-read rate per route and reader for CYCLE.")
@click.option("--cycle", "cycle_id", required=True, help="like 2026-11")
def report_read_rate(cycle_id: str) -> None:
    result = _refused(lambda: reports.read_rate(open_db(), cycle_id))
    columns = RouteReadRate.__struct_fields__
    _echo_csv(columns, (tuple(getattr(r, c) for c in columns) for r in result.routes))


@report.command("inspections-due", help="Customers overdue for inspection (A weekly, B monthly, C quarterly).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many customers per class.")
def report_inspections_due(limit: int | None) -> None:
    result = reports.inspections_due(open_db(), settings(), limit)
    _echo_csv(OVERDUE_COLUMNS, (
        (c.customer_class, c.days, o.customer_id, o.account_no, o.name, o.address,
         o.last_inspected_at.isoformat() if o.last_inspected_at else None, o.days_overdue)
        for c in result.classes for o in c.overdue
    ))
