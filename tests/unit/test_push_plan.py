"""plan_batch: a batch moves its own ledger, item after item, for the items that come later."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import msgspec

from field_schemas.push import PushRequest
from sync.ledger import SealView
from sync.push import StoredOp, content_hash, plan_batch
from tests.unit.test_rules_builders import INSPECTOR, INSPECTOR_2, NOW, assignment, context, ledger, meter

_ids = itertools.count()


def item(kind: str, meter_id: str = "m-1", **fields: Any) -> dict[str, Any]:
    base = {"type": kind, "op_id": f"00000000-0000-4000-8000-{next(_ids):012d}", "meter_id": meter_id,
            "recorded_at": (NOW - timedelta(hours=1)).isoformat()}
    return {**base, **fields}


def reading(value: str, meter_id: str = "m-1", assignment_id: str = "as-1", **fields: Any) -> dict[str, Any]:
    return item("reading", meter_id, assignment_id=assignment_id, value=value, method="actual", **fields)


def request(*items: dict[str, Any]) -> PushRequest:
    return msgspec.convert({"batch_id": "00000000-0000-4000-8000-ffffffffffff", "device_id": "tab-1", "schema_version": 1,
                            "sent_at": NOW.isoformat(), "items": list(items)}, PushRequest)


def plan(req: PushRequest, submitter=None, the_ledger=None, stored=None):
    ctx = context(submitter) if submitter else context()
    task_ids = (f"rt-{n}" for n in itertools.count())
    return plan_batch(req, ctx=ctx, ledger=the_ledger or ledger(), stored=stored or {}, open_tasks={},
                      held_photos=set(), device_id="tab-1", new_task_id=lambda: next(task_ids))


def verdicts(p) -> list[tuple[str, list[str]]]:
    return [(r.status, [f.code for f in r.flags]) for r in p.results]


def test_a_second_reading_of_a_meter_is_judged_against_the_first():
    first, second = reading("1600"), reading("1550")
    assert verdicts(plan(request(first))) == [("accepted", [])]
    assert verdicts(plan(request(second))) == [("accepted", [])]  # alone, 50 kWh after 1,500 is plausible
    together = verdicts(plan(request(first, second)))
    assert together[0] == ("accepted", [])
    assert together[1][0] == "flagged" and "reverse_reading" in together[1][1]


def test_readings_of_different_meters_are_judged_as_if_alone():
    meters = tuple(meter(id=f"m-{i}") for i in range(1, 4))
    assignments = tuple(assignment(id=f"as-{i}", meter_id=f"m-{i}") for i in range(1, 4))
    the_ledger = ledger(meters=meters, assignments=assignments)
    items = [reading(v, f"m-{i}", f"as-{i}") for i, v in zip(range(1, 4), ("1600", "1400", "1750"))]
    together = plan(request(*items), the_ledger=the_ledger)
    alone = [verdicts(plan(request(i), the_ledger=the_ledger))[0] for i in items]
    assert verdicts(together) == alone
    assert [r["meter_id"] for r in together.readings] == ["m-1", "m-2", "m-3"]
    assert together.touched_meters == {"m-1", "m-2", "m-3"}


def test_a_seal_removed_earlier_in_the_batch_frees_its_position():
    sealed = meter(seals=(SealView("meter_cover", "S-100"),))
    the_ledger = ledger(meters=(sealed,))
    team = [INSPECTOR.id, INSPECTOR_2.id]
    removed = item("seal_event", action="removed", seal_number="S-100", position="meter_cover", participants=team)
    installed = item("seal_event", action="installed", seal_number="S-200", position="meter_cover",
                     participants=team)
    verified_new = item("seal_event", action="verified", seal_number="S-200", position="meter_cover")
    p = plan(request(removed, installed, verified_new), submitter=INSPECTOR, the_ledger=the_ledger)
    assert all(r.status != "rejected" for r in p.results[:2])
    assert "seal_mismatch" not in verdicts(p)[2][1]
    alone = plan(request(verified_new), submitter=INSPECTOR, the_ledger=the_ledger)
    assert "seal_mismatch" in verdicts(alone)[0][1]
    assert [r["position"] for r in p.seal_removals] == ["meter_cover", "meter_cover"]
    assert [r["number"] for r in p.seal_installs] == ["S-200"]


def test_an_op_id_twice_in_a_batch_is_stored_once():
    first = reading("1600")
    p = plan(request(first, first))
    assert [r.status for r in p.results] == ["accepted", "duplicate"]
    assert len(p.ops) == len(p.readings) == 1


def test_the_payload_is_stored_as_the_json_its_content_hash_was_taken_from():
    req = request(reading("1600", note="表箱门锁坏了"))
    [op] = plan(req).ops
    assert msgspec.json.decode(op["payload_json"]) == op["payload"] == msgspec.to_builtins(req.items[0])
    assert op["content_hash"] == content_hash(req.items[0])
    stored = {op["op_id"]: StoredOp(op["content_hash"], "accepted", [], None)}
    assert [r.status for r in plan(req, stored=stored).results] == ["duplicate"]
