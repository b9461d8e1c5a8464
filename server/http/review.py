"""The review queue (PROTOCOL §7) and inspection orders made by the office."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from litestar import Request, get, post
from litestar.params import Parameter

from field_schemas.review import (
    ApproveRequest,
    InspectionOrder,
    InspectionOrderRequest,
    ResolveRequest,
    TaskDetail,
    TaskPage,
    TaskView,
)
from server.context import context, principal
from server.http.body import read_json
from server.http.openapi import documented
from server.services import inspections, review, review_detail

REVIEWERS = ("reviewer", "supervisor", "admin")
APPROVERS = ("supervisor",)
ORDER_MAKERS = ("supervisor", "admin")
BODY_LIMIT = 16 * 1024
TaskId = Annotated[str, Parameter(description="The review task's id", max_length=64)]
TASK = "/api/v1/review/tasks/{task_id:str}"


@get("/api/v1/review/tasks", tags=["review"], summary="The review queue, by priority then age")
@documented(errors=["invalid_request", "invalid_cursor", "forbidden"])
async def list_tasks(
    request: Request,
    status: Annotated[str, Parameter(description="open, claimed, pending_approval or resolved", max_length=32)] = "open",
    kind: Annotated[str | None, Parameter(description="reading, seal, anomaly, theft, inspection, district", max_length=32)] = None,
    district_id: Annotated[str | None, Parameter(max_length=64)] = None,
    cursor: Annotated[str | None, Parameter(description="From the last page", max_length=512)] = None,
    limit: Annotated[int | None, Parameter(description="Tasks per page, default 50, clamped to 1–200")] = None,
) -> TaskPage:
    await principal(request, *REVIEWERS)
    return await anyio.to_thread.run_sync(
        review_detail.list_tasks, context(request).db, status, kind, district_id, cursor, limit)


@get(TASK, tags=["review"], summary="A task in full: items, meter, customer, readings, seals, history")
@documented(errors=["forbidden", "not_found"])
async def show_task(request: Request, task_id: TaskId) -> TaskDetail:
    await principal(request, *REVIEWERS)
    return await anyio.to_thread.run_sync(review_detail.task_detail, context(request).db, task_id)


@post(TASK + "/claim", status_code=200, tags=["review"], summary="Take a task; nobody else can hold it")
@documented(errors=["forbidden", "not_found", "already_claimed", "invalid_state"])
async def claim(request: Request, task_id: TaskId) -> TaskView:
    who = await principal(request, *REVIEWERS)
    return await anyio.to_thread.run_sync(review.claim, context(request).db, task_id, who)


@post(TASK + "/release", status_code=200, tags=["review"], summary="Give a claimed task back to the queue")
@documented(errors=["forbidden", "not_found", "not_claimed_by_you", "invalid_state"])
async def release(request: Request, task_id: TaskId) -> TaskView:
    who = await principal(request, *REVIEWERS)
    return await anyio.to_thread.run_sync(review.release, context(request).db, task_id, who)


@post(TASK + "/resolve", status_code=200, tags=["review"], summary="Decide a claimed task")
@documented(request=ResolveRequest, errors=[
    "invalid_request", "unknown_field", "forbidden", "not_found", "not_claimed_by_you", "invalid_state",
    "invalid_decision", "body_too_large",
])
async def resolve(request: Request, task_id: TaskId) -> TaskView:
    ctx = context(request)
    who = await principal(request, *REVIEWERS)
    req = await read_json(request, ResolveRequest, BODY_LIMIT)
    return await anyio.to_thread.run_sync(review.resolve, ctx.db, ctx.settings, task_id, who, req)


@post(TASK + "/approve", status_code=200, tags=["review"], summary="Approve or send back another's decision")
@documented(request=ApproveRequest, errors=[
    "invalid_request", "unknown_field", "forbidden", "not_found", "self_approval", "invalid_state", "body_too_large",
])
async def approve(request: Request, task_id: TaskId) -> TaskView:
    who = await principal(request, *APPROVERS)
    req = await read_json(request, ApproveRequest, BODY_LIMIT)
    return await anyio.to_thread.run_sync(review.approve, context(request).db, task_id, who, req)


@post("/api/v1/inspection-orders", status_code=201, tags=["inspections"], summary="Send inspectors to a meter")
@documented(request=InspectionOrderRequest, errors=[
    "invalid_request", "unknown_field", "forbidden", "body_too_large",
])
async def order_inspection(request: Request) -> InspectionOrder:
    ctx = context(request)
    who = await principal(request, *ORDER_MAKERS)
    req = await read_json(request, InspectionOrderRequest, BODY_LIMIT)
    return await anyio.to_thread.run_sync(inspections.create_order, ctx.db, ctx.settings, req, who.user_id)


ROUTES = [list_tasks, show_task, claim, release, resolve, approve, order_inspection]
