"""The seal pliers register over the API, for supervisors and admins."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from litestar import Request, get, post
from litestar.params import Parameter

from field_schemas.pliers import (
    PLIERS_ID_MAX_LENGTH,
    PLIERS_ID_PATTERN,
    IssuePliersRequest,
    PliersDetail,
    PliersList,
    PliersState,
)
from server.context import context, principal
from server.http.body import read_json
from server.http.openapi import documented
from server.services import pliers as register

KEEPERS = ("supervisor", "admin")
ISSUE_BODY_LIMIT = 4 * 1024
PliersIdParam = Annotated[
    str, Parameter(description="The number on the pliers", max_length=PLIERS_ID_MAX_LENGTH, pattern=PLIERS_ID_PATTERN)
]


@post("/api/v1/pliers/{pliers_id:str}/issue", status_code=200, tags=["pliers"], summary="Issue seal pliers to an inspector")
@documented(request=IssuePliersRequest, errors=[
    "invalid_request", "unknown_field", "forbidden", "not_found", "invalid_state", "body_too_large",
])
async def issue(request: Request, pliers_id: PliersIdParam) -> PliersState:
    who = await principal(request, *KEEPERS)
    req = await read_json(request, IssuePliersRequest, ISSUE_BODY_LIMIT)
    return await anyio.to_thread.run_sync(register.issue_pliers, context(request).db, pliers_id, req.to, who.user_id)


@post("/api/v1/pliers/{pliers_id:str}/return", status_code=200, tags=["pliers"], summary="Take seal pliers back")
@documented(errors=["invalid_request", "forbidden", "not_found", "invalid_state"])
async def return_(request: Request, pliers_id: PliersIdParam) -> PliersState:
    who = await principal(request, *KEEPERS)
    return await anyio.to_thread.run_sync(register.return_pliers, context(request).db, pliers_id, who.user_id)


@get("/api/v1/pliers", tags=["pliers"], summary="Every pliers in the register, with its holder")
@documented(errors=["forbidden"])
async def list_all(request: Request) -> PliersList:
    await principal(request, *KEEPERS)
    return PliersList(pliers=await anyio.to_thread.run_sync(register.list_pliers, context(request).db))


@get("/api/v1/pliers/{pliers_id:str}", tags=["pliers"], summary="Pliers' holder and history")
@documented(errors=["invalid_request", "forbidden", "not_found"])
async def show(request: Request, pliers_id: PliersIdParam) -> PliersDetail:
    await principal(request, *KEEPERS)
    return await anyio.to_thread.run_sync(register.show_pliers, context(request).db, pliers_id)


ROUTES = [issue, return_, list_all, show]
