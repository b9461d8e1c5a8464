"""The codes and their labels."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

import field_schemas.anomalies as anomalies
from field_schemas.anomalies import (
    ANOMALY_CODES,
    ANOMALY_LABELS,
    FLAG_LABELS,
    REJECTION_LABELS,
    AnomalyCode,
    RejectionCode,
    RuleFlagCode,
    anomaly_flag_code,
)

# DOMAIN_RULES.md, anomaly codes: the 16 codes and their Chinese labels.
DOMAIN_RULES_ANOMALIES = {
    "meter_burnt": "电能表烧坏", "meter_stopped": "停转", "meter_creeping": "空转", "register_stuck": "卡字",
    "seal_broken": "封印损坏", "meter_stolen": "电能表被窃", "meter_moved": "表位挪动",
    "consumption_spike": "用电量突增", "consumption_drop": "用电量突减", "long_term_zero": "长期不用电",
    "unauthorized_use": "违章用电", "suspected_theft": "窃电嫌疑", "wiring_tampered": "接线改动",
    "unmetered_load": "无表用电", "obsolete_meter": "淘汰表计", "meter_box_damaged": "表箱损坏",
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_sixteen_anomaly_codes_carry_the_regulations_chinese_labels():
    assert {code: zh for code, (zh, _) in ANOMALY_LABELS.items()} == DOMAIN_RULES_ANOMALIES
    assert set(get_args(AnomalyCode)) == set(ANOMALY_CODES) == set(DOMAIN_RULES_ANOMALIES)


def test_every_label_is_chinese_first_then_english():
    for labels in (ANOMALY_LABELS, FLAG_LABELS, REJECTION_LABELS):
        for code, (zh, en) in labels.items():
            assert CJK.search(zh), code
            assert en and en.isascii() and not CJK.search(en), code


def test_every_rule_flag_code_and_every_anomaly_flag_has_labels():
    expected = set(get_args(RuleFlagCode)) | {f"anomaly:{code}" for code in ANOMALY_CODES}
    assert set(FLAG_LABELS) == expected


def test_anomaly_flag_label_names_the_anomaly():
    zh, en = FLAG_LABELS[anomaly_flag_code("register_stuck")]
    assert "卡字" in zh and "Register stuck" in en


def test_every_rejection_code_has_labels():
    assert set(REJECTION_LABELS) == set(get_args(RejectionCode))


def test_reported_seal_broken_stays_apart_from_the_derived_flag():
    assert anomaly_flag_code("seal_broken") != "seal_broken"
    assert FLAG_LABELS["seal_broken"] != FLAG_LABELS[anomaly_flag_code("seal_broken")]


def test_module_imports_nothing_from_the_project():
    tree = ast.parse(Path(anomalies.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "typing", "msgspec"}
