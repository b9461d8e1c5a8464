"""Review (PROTOCOL §7): the queue, a task in full, decisions and approvals,
inspection orders made by the office, and the audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from field_schemas.common import Strict, Username
from field_schemas.pull import InspectionOrderData
from field_schemas.push import DecimalText, LedgerId, Note

TaskStatus = Literal["open", "claimed", "pending_approval", "resolved"]
InspectionKind = Literal["theft_check", "routine", "census"]
Team = Annotated[list[Username], msgspec.Meta(max_length=10)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]


class TaskFlag(msgspec.Struct, frozen=True):
    code: str
    message: str
    op_id: str | None


class TaskSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    status: TaskStatus
    priority: int
    meter_id: str | None
    district_id: str | None
    cycle: str | None
    flags: list[TaskFlag]
    created_at: datetime
    claimed_by: str | None


class TaskPage(msgspec.Struct, frozen=True):
    tasks: list[TaskSummary]
    cursor: str | None


class FollowUp(msgspec.Struct, frozen=True):
    """Field work a decision sent out: a re-read assignment or an inspection order."""

    kind: Literal["assignment", "inspection_order"]
    id: str
    users: list[str]
    status: str
    due_until: date | None
    reason: str | None


class TaskView(TaskSummary, frozen=True, kw_only=True):
    """A task with its decision; the answer of claim, release, resolve and approve."""

    claimed_at: datetime | None
    updated_at: datetime
    decision: str | None
    decision_note: str | None
    adjustment_kwh: str | None
    decision_team: list[str] | None
    decided_by: str | None
    decided_at: datetime | None
    approved_by: str | None
    approval_note: str | None
    resolved_at: datetime | None
    follow_ups: list[FollowUp]


class PhotoLink(msgspec.Struct, frozen=True):
    sha256: str
    held: bool
    url: str
    thumbnail_url: str


class ItemView(msgspec.Struct, frozen=True, kw_only=True):
    op_id: str
    type: str
    user_id: str
    status: str
    flags: list[TaskFlag]
    evidence: str
    recorded_at: datetime
    received_at: datetime
    review_task_id: str | None
    # The task whose re-read or inspection this item came in on.
    answers_task_id: str | None
    photos: list[PhotoLink]
    payload: Any


class MeterInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    serial: str
    customer_id: str | None
    district_id: str
    route_id: str
    category: str
    address: str
    lat: str | None
    lon: str | None
    multiplier: str
    dials: int
    phases: int
    registers: list[str]
    installed_at: datetime | None
    removed_at: datetime | None


class CustomerInfo(msgspec.Struct, frozen=True, kw_only=True, rename={"customer_class": "class"}):
    id: str
    account_no: str
    name: str
    address: str
    category: str
    customer_class: str | None
    temp_supply_until: date | None


class ReadingRow(msgspec.Struct, frozen=True, kw_only=True):
    register: str
    value: str | None
    read_at: datetime
    method: str
    unable_reason: str | None
    source: str
    cycle: str | None
    status: str
    op_id: str | None
    user_id: str | None
    consumption_kwh: str | None


class SealRow(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    position: str
    installed_at: datetime | None
    installed_by: str | None
    removed_at: datetime | None
    removed_by: str | None
    removal_reason: str | None


class HistoryEntry(msgspec.Struct, frozen=True):
    at: datetime
    actor: str
    action: str
    before: Any
    after: Any


class TaskDetail(TaskView, frozen=True, kw_only=True):
    items: list[ItemView]
    meter: MeterInfo | None
    customer: CustomerInfo | None
    register: str | None
    readings: list[ReadingRow]
    seals: list[SealRow]
    history: list[HistoryEntry]
    answers: list[ItemView]
    meter_items: list[ItemView]


class ResolveRequest(Strict, frozen=True):
    # Checked against the decisions by the server, so that a wrong one is 422 invalid_decision.
    decision: Annotated[str, msgspec.Meta(max_length=32)]
    note: Note | None = None
    adjustment_kwh: DecimalText | None = None
    team: Team | None = None


class ApproveRequest(Strict, frozen=True):
    approved: bool
    note: Note | None = None


class InspectionOrderRequest(Strict, frozen=True):
    meter_id: LedgerId
    kind: InspectionKind
    team: Team | None = None
    due_until: date | None = None
    reason: Reason | None = None


class InspectionOrder(InspectionOrderData, frozen=True):
    """The order as the team's tablets get it, and where it stands."""

    status: str


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: Any
    after: Any


class AuditPage(msgspec.Struct, frozen=True):
    entries: list[AuditEntry]
    cursor: str | None
