"""The seal pliers register (封扣钳): issue to a person, return, list, show with history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from field_schemas.common import Strict, Username

# Pliers ids are the numbers stamped on the pliers, e.g. "P-01".
PLIERS_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
PLIERS_ID_MAX_LENGTH = 64
PliersId = Annotated[str, msgspec.Meta(min_length=1, max_length=PLIERS_ID_MAX_LENGTH, pattern=PLIERS_ID_PATTERN)]

PliersAction = Literal["issued", "returned"]


class IssuePliersRequest(Strict, frozen=True):
    to: Username


class PliersState(msgspec.Struct, frozen=True):
    id: str
    holder: str | None
    holder_name: str | None
    issued_at: datetime | None


class PliersHistoryEntry(msgspec.Struct, frozen=True):
    action: PliersAction
    user: str
    at: datetime
    by: str


class PliersDetail(msgspec.Struct, frozen=True):
    id: str
    holder: str | None
    holder_name: str | None
    issued_at: datetime | None
    history: list[PliersHistoryEntry]


class PliersList(msgspec.Struct, frozen=True):
    pliers: list[PliersState]
