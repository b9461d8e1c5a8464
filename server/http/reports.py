"""Monthly reports (PROTOCOL §8), for reviewers, supervisors and admins."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from litestar import Request, get, post
from litestar.params import Parameter

from field_schemas.reports import DistrictTasksResponse, InspectionsDueReport, LineLossReport, ReadRateReport
from server.context import context, principal
from server.http.openapi import documented
from server.services import reports

REPORT_READERS = ("reviewer", "supervisor", "admin")
TASK_OPENERS = ("supervisor", "admin")
MonthParam = Annotated[str, Parameter(description="The month, like 2026-11")]


@get("/api/v1/reports/line-loss", tags=["reports"], summary="Line loss per district for a month, with its flags")
@documented(errors=["invalid_request", "forbidden"])
async def line_loss(request: Request, month: MonthParam) -> LineLossReport:
    await principal(request, *REPORT_READERS)
    ctx = context(request)
    return await anyio.to_thread.run_sync(reports.line_loss, ctx.db, ctx.settings, month)


@post("/api/v1/reports/line-loss/{month:str}/tasks", status_code=200, tags=["reports"],
      summary="Open a review task for each district the month's line-loss report flags")
@documented(errors=["invalid_request", "forbidden"])
async def open_line_loss_tasks(request: Request, month: MonthParam) -> DistrictTasksResponse:
    who = await principal(request, *TASK_OPENERS)
    ctx = context(request)

    def compute_and_open() -> DistrictTasksResponse:
        report = reports.line_loss(ctx.db, ctx.settings, month)
        return reports.open_district_tasks(ctx.db, report, who.user_id)

    return await anyio.to_thread.run_sync(compute_and_open)


@get("/api/v1/reports/read-rate", tags=["reports"], summary="Actual-read rate per route and reader for a cycle")
@documented(errors=["invalid_request", "forbidden"])
async def read_rate(request: Request, cycle: Annotated[str, Parameter(description="The cycle, like 2026-11")]) -> ReadRateReport:
    await principal(request, *REPORT_READERS)
    return await anyio.to_thread.run_sync(reports.read_rate, context(request).db, cycle)


@get("/api/v1/reports/inspections-due", tags=["reports"], summary="Customers overdue for inspection, by class")
@documented(errors=["invalid_request", "forbidden"])
async def inspections_due(
    request: Request,
    limit: Annotated[int, Parameter(description="Customers listed per class (the count is of all)", ge=1, le=1000)] = 100,
) -> InspectionsDueReport:
    await principal(request, *REPORT_READERS)
    ctx = context(request)
    return await anyio.to_thread.run_sync(reports.inspections_due, ctx.db, ctx.settings, limit)


ROUTES = [line_loss, open_line_loss_tasks, read_rate, inspections_due]
