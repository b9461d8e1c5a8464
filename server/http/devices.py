"""Devices for admins and supervisors: what a tablet has delivered (the first question
after one is lost, and the server's side of a reconciliation), and revoking it."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from litestar import Request, get, post
from litestar.params import Parameter

from field_schemas.devices import DeviceInfo, DeviceItemsPage, DeviceList
from server.context import context, principal
from server.errors import ApiError
from server.http.openapi import documented
from server.services import device_items as service
from server.services import identity

OVERSEERS = ("admin", "supervisor")
DeviceIdParam = Annotated[str, Parameter(description="The tablet's device id", max_length=64,
                                         pattern=r"^[A-Za-z0-9_.:-]+$")]


@get("/api/v1/devices/{device_id:str}/items", tags=["devices"],
     summary="The items stored from a device, in the order received, page by page")
@documented(errors=["invalid_request", "invalid_cursor", "forbidden", "not_found"])
async def items(
    request: Request,
    device_id: DeviceIdParam,
    cursor: Annotated[str | None, Parameter(description="From the last page; omit for the first", max_length=512)] = None,
    limit: Annotated[int | None, Parameter(description="Items per page, default 500, clamped to 1–5,000")] = None,
) -> DeviceItemsPage:
    await principal(request, *OVERSEERS)
    return await anyio.to_thread.run_sync(service.device_items, context(request).db, device_id, cursor, limit)


def _device(db, device_id: str) -> DeviceInfo:
    found = identity.get_device(db, device_id)
    if found is None:
        raise ApiError("not_found", f"No device {device_id} has ever logged in.")
    return found


@get("/api/v1/devices", tags=["devices"], summary="Every tablet that has logged in")
@documented(errors=["forbidden"])
async def list_devices(request: Request) -> DeviceList:
    await principal(request, *OVERSEERS)
    found = await anyio.to_thread.run_sync(identity.list_devices, context(request).db)
    return DeviceList(found)


@get("/api/v1/devices/{device_id:str}", tags=["devices"], summary="What a tablet last synced, and whether it is revoked")
@documented(errors=["forbidden", "not_found"])
async def show_device(request: Request, device_id: DeviceIdParam) -> DeviceInfo:
    await principal(request, *OVERSEERS)
    return await anyio.to_thread.run_sync(_device, context(request).db, device_id)


def _change(db, device_id: str, actor: str, revoke: bool) -> DeviceInfo:
    try:
        if revoke:
            identity.revoke_device(db, device_id, actor)
        else:
            identity.restore_device(db, device_id, actor)
    except LookupError:
        raise ApiError("not_found", f"No device {device_id} has ever logged in.") from None
    return _device(db, device_id)


@post("/api/v1/devices/{device_id:str}/revoke", status_code=200, tags=["devices"],
      summary="Refuse a lost tablet's tokens now and its logins until restored (admins)")
@documented(errors=["forbidden", "not_found"])
async def revoke_device(request: Request, device_id: DeviceIdParam) -> DeviceInfo:
    who = await principal(request, "admin")
    return await anyio.to_thread.run_sync(_change, context(request).db, device_id, who.user_id, True)


@post("/api/v1/devices/{device_id:str}/restore", status_code=200, tags=["devices"],
      summary="Allow logins from a found tablet again; its old tokens stay dead (admins)")
@documented(errors=["forbidden", "not_found"])
async def restore_device(request: Request, device_id: DeviceIdParam) -> DeviceInfo:
    who = await principal(request, "admin")
    return await anyio.to_thread.run_sync(_change, context(request).db, device_id, who.user_id, False)


ROUTES = [items, list_devices, show_device, revoke_device, restore_device]
