"""The codes a push can carry back or a tablet can report, each with its labels.

Labels are ``(zh, en)``: the review pages show the Chinese label first. Codes
are stable protocol words; labels may be reworded.

- ``AnomalyCode``: what a reader or inspector reports on site (DOMAIN_RULES,
  anomaly codes; the regulations' list of faults to report).
- Flag codes: why a stored item went to review. A reported anomaly is flagged
  as ``anomaly:<code>`` (``anomaly_flag_code``), so that a reported
  ``seal_broken`` or ``long_term_zero`` stays apart from the flag of the same
  name that the server derives itself; every theft check is flagged
  ``theft_check``.
- Rejection codes: why an item was not stored.
"""

from __future__ import annotations

from typing import Literal, get_args

AnomalyCode = Literal[
    "meter_burnt",
    "meter_stopped",
    "meter_creeping",
    "register_stuck",
    "seal_broken",
    "meter_stolen",
    "meter_moved",
    "consumption_spike",
    "consumption_drop",
    "long_term_zero",
    "unauthorized_use",
    "suspected_theft",
    "wiring_tampered",
    "unmetered_load",
    "obsolete_meter",
    "meter_box_damaged",
]

ANOMALY_CODES: tuple[AnomalyCode, ...] = get_args(AnomalyCode)

ANOMALY_LABELS: dict[str, tuple[str, str]] = {
    "meter_burnt": ("电能表烧坏", "Meter burnt"),
    "meter_stopped": ("停转", "Meter stopped"),
    "meter_creeping": ("空转", "Meter creeping without load"),
    "register_stuck": ("卡字", "Register stuck"),
    "seal_broken": ("封印损坏", "Seal broken"),
    "meter_stolen": ("电能表被窃", "Meter stolen"),
    "meter_moved": ("表位挪动", "Meter moved"),
    "consumption_spike": ("用电量突增", "Sudden rise in consumption"),
    "consumption_drop": ("用电量突减", "Sudden fall in consumption"),
    "long_term_zero": ("长期不用电", "No use for a long time"),
    "unauthorized_use": ("违章用电", "Unauthorised use"),
    "suspected_theft": ("窃电嫌疑", "Suspected theft"),
    "wiring_tampered": ("接线改动", "Wiring tampered with"),
    "unmetered_load": ("无表用电", "Unmetered load"),
    "obsolete_meter": ("淘汰表计", "Obsolete meter"),
    "meter_box_damaged": ("表箱损坏", "Meter box damaged"),
}

RuleFlagCode = Literal[
    "outside_window",
    "reverse_reading",
    "rollover",
    "consumption_high",
    "consumption_low",
    "long_term_zero",
    "new_customer_read",
    "duplicate_read",
    "unable_repeat",
    "register_sum_mismatch",
    "seal_mismatch",
    "seal_broken",
    "pliers_not_issued",
    "temp_supply_expired",
    "device_clock_skew",
    "evidence_incomplete",
    "evidence_time_mismatch",
    "evidence_place_mismatch",
    "multiplier_mismatch",
    "theft_check",
]

ANOMALY_FLAG_PREFIX = "anomaly:"


def anomaly_flag_code(code: str) -> str:
    """The flag that a reported anomaly puts on its item: ``anomaly:<code>``."""
    return ANOMALY_FLAG_PREFIX + code


_RULE_FLAG_LABELS: dict[str, tuple[str, str]] = {
    "outside_window": ("超出抄表期限", "Read outside the due window"),
    "reverse_reading": ("示数倒走", "Reading below the last one"),
    "rollover": ("示数走满翻转", "Register rolled over"),
    "consumption_high": ("电量突增", "Consumption above the expected band"),
    "consumption_low": ("电量突减", "Consumption below the expected band"),
    "long_term_zero": ("长期零电量", "Zero consumption for several cycles"),
    "new_customer_read": ("新装户跟踪抄表", "One of a new meter's first readings"),
    "duplicate_read": ("本期已有不同示数", "A different value is already stored this cycle"),
    "unable_repeat": ("连续未能抄表", "Unable to read in consecutive cycles"),
    "register_sum_mismatch": ("分时示数之和与总示数不符", "Time-of-use registers do not add up to the total"),
    "seal_mismatch": ("封印号与台账不符", "Seal number differs from the ledger"),
    "seal_broken": ("封印损坏或缺失", "Seal found broken or missing"),
    "pliers_not_issued": ("封钳未登记领用", "Seal pliers not issued to the team"),
    "temp_supply_expired": ("临时用电超期", "Temporary supply past its end date"),
    "device_clock_skew": ("终端时钟偏差过大", "Device clock is off"),
    "evidence_incomplete": ("窃电取证材料不全", "Theft evidence incomplete"),
    "evidence_time_mismatch": ("照片时间与检查时间不符", "Photo time outside the inspection"),
    "evidence_place_mismatch": ("照片位置与表位不符", "Photo taken away from the meter"),
    "multiplier_mismatch": ("倍率与台账不符", "Multiplier differs from the ledger"),
    "theft_check": ("反窃电检查待审核", "Theft check to review"),
}

FLAG_LABELS: dict[str, tuple[str, str]] = {
    **_RULE_FLAG_LABELS,
    **{
        anomaly_flag_code(code): (f"现场报告：{zh}", f"Reported on site: {en}")
        for code, (zh, en) in ANOMALY_LABELS.items()
    },
}

RejectionCode = Literal[
    "not_assigned",
    "unknown_meter",
    "not_permitted",
    "unknown_register",
    "op_id_conflict",
    "invalid_value",
    "future_time",
    "unable_without_reason",
    "two_person_rule",
]

REJECTION_LABELS: dict[str, tuple[str, str]] = {
    "not_assigned": ("不在本人的抄表任务中", "Not in your open assignments"),
    "unknown_meter": ("台账中无此电能表", "Meter not in the ledger"),
    "not_permitted": ("本岗位无权提交此类数据", "Your role may not send this"),
    "unknown_register": ("电能表无此示数项", "The meter has no such register"),
    "op_id_conflict": ("操作编号已用于其他内容", "Operation id already stored with other content"),
    "invalid_value": ("示数无效", "Invalid register value"),
    "future_time": ("记录时间晚于服务器时间", "Time lies in the future"),
    "unable_without_reason": ("未抄原因缺失", "Unable to read, but no reason given"),
    "two_person_rule": ("不符合两人作业规定", "Two-person rule not met"),
}

__all__ = [
    "ANOMALY_CODES",
    "ANOMALY_FLAG_PREFIX",
    "ANOMALY_LABELS",
    "FLAG_LABELS",
    "REJECTION_LABELS",
    "AnomalyCode",
    "RejectionCode",
    "RuleFlagCode",
    "anomaly_flag_code",
]
