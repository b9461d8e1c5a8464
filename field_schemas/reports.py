"""Monthly reports (PROTOCOL §8): line loss per district, actual-read rate per route, inspections due.

Energy and rates are decimal strings (kWh to 0.1, percentages to 0.01),
``null`` when they cannot be computed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

LineLossFlagCode = Literal[
    "loss_change",
    "negative_loss",
    "above_target",
    "target_missed_3_months",
    "not_computable",
    "imbalance",
]

# (zh, en), as for the push flags: the review pages show the Chinese label first.
LINE_LOSS_FLAG_LABELS: dict[str, tuple[str, str]] = {
    "loss_change": ("线损率波动超限", "Loss rate moved too much against last month"),
    "negative_loss": ("负线损", "Negative loss: sales above supply"),
    "above_target": ("线损率超指标", "Loss rate above the district's target"),
    "target_missed_3_months": ("连续三个月未完成线损指标", "Loss target missed months running"),
    "not_computable": ("线损无法计算", "Loss cannot be computed"),
    "imbalance": ("三相不平衡超限", "Three-phase imbalance too high"),
}

CustomerClass = Literal["A", "B", "C"]
DistrictTaskAction = Literal["opened", "updated", "unchanged"]


class ReportFlag(msgspec.Struct, frozen=True):
    code: LineLossFlagCode
    message: str


class AbnormalCustomer(msgspec.Struct, frozen=True):
    """A customer meter whose month consumption moved more than the threshold against the month before.

    ``change_pct`` is null when last month's consumption was zero.
    """

    customer_id: str | None
    account_no: str | None
    name: str | None
    meter_id: str
    consumption_kwh: str
    last_month_kwh: str
    change_pct: str | None


class DistrictLineLoss(msgspec.Struct, frozen=True):
    district_id: str
    name: str
    supply_kwh: str | None
    sales_kwh: str | None
    loss_kwh: str | None
    loss_rate_pct: str | None
    last_month_rate_pct: str | None
    change_pct: str | None
    target_pct: str | None
    imbalance_pct: str | None
    flags: list[ReportFlag]
    abnormal_customers: list[AbnormalCustomer]


class LineLossReport(msgspec.Struct, frozen=True):
    month: str
    districts: list[DistrictLineLoss]


class DistrictTaskResult(msgspec.Struct, frozen=True):
    district_id: str
    task_id: str
    action: DistrictTaskAction


class DistrictTasksResponse(msgspec.Struct, frozen=True):
    month: str
    tasks: list[DistrictTaskResult]


class RouteReadRate(msgspec.Struct, frozen=True):
    route_id: str
    user_id: str
    assigned: int
    actual: int
    unable: int
    missing: int
    actual_rate_pct: str | None


class ReadRateReport(msgspec.Struct, frozen=True):
    cycle: str
    routes: list[RouteReadRate]


class OverdueCustomer(msgspec.Struct, frozen=True):
    customer_id: str
    account_no: str
    name: str
    address: str
    last_inspected_at: datetime | None
    days_overdue: int


class ClassInspectionsDue(msgspec.Struct, frozen=True, rename={"customer_class": "class"}):
    """``count`` is every overdue customer of the class; ``overdue`` the most overdue, up to the limit."""

    customer_class: CustomerClass
    days: int
    count: int
    overdue: list[OverdueCustomer]


class InspectionsDueReport(msgspec.Struct, frozen=True):
    as_of: datetime
    classes: list[ClassInspectionsDue]
