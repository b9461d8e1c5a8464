"""The monthly reports through the API and the command, on every database backend."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, insert, select, update

from server.clock import utcnow
from server.db.tables import (
    assignments,
    audit_log,
    customers,
    districts,
    meters,
    ops,
    readings,
    review_tasks,
    routes,
)
from server.services import reports
from server.services.cycles import open_cycle
from tests.factories import T0, add_route, add_user, login

MONTH = "2026-11"
STAFF = {"reader01": "reader", "inspector01": "inspector", "reviewer01": "reviewer",
         "super01": "supervisor", "admin01": "admin"}


@pytest.fixture
def staff(db):
    for username, role in STAFF.items():
        add_user(db, username, role)


@pytest.fixture
def reviewer(client, staff):
    return login(client, "reviewer01", "pc-review")


@pytest.fixture
def supervisor(client, staff):
    return login(client, "super01", "pc-office")


# -- building a district -----------------------------------------------------------------------------


def add_district(db, district_id: str = "d-01", *, name: str = "东岭村1号台区", target: str | None = "6.5") -> str:
    with db.write() as conn:
        conn.execute(insert(districts).values(id=district_id, name=name, loss_target_pct=target))
        conn.execute(insert(routes).values(id=f"r-{district_id}", district_id=district_id))
    return district_id


def add_meter(db, meter_id: str, district_id: str = "d-01", *, district_meter: bool = False, multiplier: str = "1",
              dials: int = 6, registers: tuple[str, ...] = ("total",), customer_class: str | None = "C") -> str:
    customer_id = None if district_meter else f"c-{meter_id}"
    with db.write() as conn:
        if customer_id:
            conn.execute(insert(customers).values(
                id=customer_id, account_no=f"acc-{meter_id}", name=f"客户 {meter_id}", address="东岭村1组",
                category="residential", **{"class": customer_class}, created_at=T0))
        conn.execute(insert(meters).values(
            id=meter_id, serial=f"S-{meter_id}", customer_id=customer_id, district_id=district_id,
            route_id=f"r-{district_id}", category="district_meter" if district_meter else "residential",
            address="东岭村1组", multiplier=multiplier, dials=dials, phases=3 if district_meter else 1,
            registers=list(registers), installed_at=T0))
    return meter_id


def add_reads(db, meter_id: str, values: dict[str, str], *, register: str = "total", method: str = "actual",
              status: str = "valid", source: str = "import") -> None:
    """One read per cycle, taken on the cycle's 25th."""
    with db.write() as conn:
        conn.execute(insert(readings), [
            {"meter_id": meter_id, "register": register, "value": value if method == "actual" else None,
             "read_at": T0.replace(year=int(cycle[:4]), month=int(cycle[5:])) + timedelta(days=24),
             "method": method, "source": source, "cycle": cycle, "status": status}
            for cycle, value in values.items()
        ])


def running_totals(monthly: dict[str, int], start: int = 1000) -> dict[str, str]:
    """Register values, one per cycle, such that each month after the first uses ``monthly[month]``."""
    months = sorted(monthly)
    values = {_month_before(months[0]): str(start)}
    for month in months:
        start += monthly[month]
        values[month] = str(start)
    return values


def _month_before(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:])
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def district_with(db, supply: dict[str, int], sales: dict[str, int], *, target: str | None = "6.5",
                  district_id: str = "d-01") -> None:
    """A district meter and one customer meter (multipliers 1) using what is given each month."""
    add_district(db, district_id, target=target)
    add_reads(db, add_meter(db, f"dm-{district_id}", district_id, district_meter=True), running_totals(supply))
    add_reads(db, add_meter(db, f"cm-{district_id}", district_id), running_totals(sales))


def line_loss(client, headers, month: str = MONTH) -> dict:
    res = client.get("/api/v1/reports/line-loss", params={"month": month}, headers=headers)
    assert res.status_code == 200, res.text
    return res.json()


def only_district(client, headers, month: str = MONTH) -> dict:
    (district,) = line_loss(client, headers, month)["districts"]
    return district


def codes(district: dict) -> list[str]:
    return [f["code"] for f in district["flags"]]


# -- line loss: the figures -----------------------------------------------------------------------


@pytest.fixture
def hand_computed(db):
    """Supply, sales and loss worked out by hand below."""
    add_district(db, target="6.5")
    # District meter, CT ratio 50: Sep 8,000 → Oct 10,000 → Nov 12,000.
    # Supply: Oct (10,000 − 8,000) × 50 = 100,000 kWh; Nov (12,000 − 10,000) × 50 = 100,000 kWh.
    add_reads(db, add_meter(db, "dm", district_meter=True, multiplier="50"),
              {"2026-09": "8000", "2026-10": "10000", "2026-11": "12000"})
    # A CT-metered shop, ratio 40: Sep 0 → Oct 1,500 → Nov 3,000.
    # Oct 1,500 × 40 = 60,000 kWh; Nov 1,500 × 40 = 60,000 kWh.
    add_reads(db, add_meter(db, "shop", multiplier="40"), {"2026-09": "0", "2026-10": "1500", "2026-11": "3000"})
    # A five-dial meter that wrapped in November: Sep 64,000 → Oct 99,000 → Nov 33,000.
    # Oct 99,000 − 64,000 = 35,000 kWh; Nov 100,000 − 99,000 + 33,000 = 34,000 kWh.
    add_reads(db, add_meter(db, "mill", dials=5), {"2026-09": "64000", "2026-10": "99000", "2026-11": "33000"})
    # Sales: Oct 60,000 + 35,000 = 95,000 → loss 5,000, rate 5.00 %.
    #        Nov 60,000 + 34,000 = 94,000 → loss 6,000, rate 6.00 %.
    # Change (6.00 − 5.00) / 5.00 = +20.00 %: at the limit, not beyond it.


def test_line_loss_of_a_hand_computed_district(client, reviewer, hand_computed):
    assert line_loss(client, reviewer) == {"month": MONTH, "districts": [{
        "district_id": "d-01", "name": "东岭村1号台区",
        "supply_kwh": "100000.0", "sales_kwh": "94000.0", "loss_kwh": "6000.0",
        "loss_rate_pct": "6.00", "last_month_rate_pct": "5.00", "change_pct": "20.00",
        "target_pct": "6.5", "imbalance_pct": None, "flags": [], "abnormal_customers": [],
    }]}


def test_a_superseded_or_unable_read_is_not_a_read(client, db, reviewer, hand_computed):
    add_reads(db, "dm", {MONTH: "99999"}, status="superseded")
    add_reads(db, "shop", {MONTH: ""}, method="unable")
    district = only_district(client, reviewer)
    assert (district["supply_kwh"], district["sales_kwh"]) == ("100000.0", "94000.0")


def test_the_latest_read_of_a_cycle_stands_for_it(client, db, reviewer, hand_computed):
    # Read again later in November: 12,100 → (12,100 − 10,000) × 50 = 105,000 kWh.
    with db.write() as conn:
        conn.execute(insert(readings).values(
            meter_id="dm", register="total", value="12100", read_at=T0.replace(month=11, day=29),
            method="actual", source="field", cycle=MONTH, status="valid"))
    assert only_district(client, reviewer)["supply_kwh"] == "105000.0"


def test_a_meter_removed_before_the_month_is_left_out(client, db, reviewer, hand_computed):
    add_meter(db, "gone")
    with db.write() as conn:
        conn.execute(update(meters).where(meters.c.id == "gone").values(removed_at=T0.replace(month=10)))
    assert "not_computable" not in codes(only_district(client, reviewer))


# -- line loss: the flags -------------------------------------------------------------------------


@pytest.mark.parametrize("sales_nov, change", [(93_500, "30.00"), (96_500, "-30.00")])
def test_a_loss_rate_moving_more_than_20_percent_either_way_is_flagged(client, db, reviewer, sales_nov, change):
    # Supply 100,000 each month; Oct sales 95,000 → 5.00 %; Nov 6.50 % or 3.50 %: ±30 % relative.
    district_with(db, supply={"2026-10": 100_000, MONTH: 100_000}, sales={"2026-10": 95_000, MONTH: sales_nov})
    district = only_district(client, reviewer)
    assert (district["last_month_rate_pct"], district["change_pct"]) == ("5.00", change)
    assert codes(district) == ["loss_change"]


def test_sales_above_supply_is_a_negative_loss(client, db, reviewer):
    district_with(db, supply={MONTH: 50_000}, sales={MONTH: 51_000})
    district = only_district(client, reviewer)
    assert (district["loss_kwh"], district["loss_rate_pct"]) == ("-1000.0", "-2.00")
    assert codes(district) == ["negative_loss"]


def test_a_rate_above_the_target_is_flagged(client, db, reviewer):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_300}, target="6.5")  # 7.00 %
    assert codes(only_district(client, reviewer)) == ["above_target"]


def test_a_rate_on_the_target_is_not_above_it(client, db, reviewer):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_350}, target="6.5")  # 6.50 %
    assert codes(only_district(client, reviewer)) == []


def test_a_district_without_a_target_is_never_above_it(client, db, reviewer):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 8_000}, target=None)  # 20.00 %
    district = only_district(client, reviewer)
    assert (district["target_pct"], codes(district)) == (None, [])


def test_a_target_missed_three_months_running_is_flagged(client, db, reviewer):
    # 7.00 %, 7.10 %, 7.20 % against a target of 6.5 %: three months above it.
    district_with(db, supply={"2026-09": 10_000, "2026-10": 10_000, MONTH: 10_000},
                  sales={"2026-09": 9_300, "2026-10": 9_290, MONTH: 9_280})
    assert codes(only_district(client, reviewer)) == ["above_target", "target_missed_3_months"]


def test_two_months_above_the_target_are_not_three(client, db, reviewer):
    # 6.00 %, 7.10 %, 7.20 %: September met the target.
    district_with(db, supply={"2026-09": 10_000, "2026-10": 10_000, MONTH: 10_000},
                  sales={"2026-09": 9_400, "2026-10": 9_290, MONTH: 9_280})
    assert codes(only_district(client, reviewer)) == ["above_target"]


def test_three_phase_imbalance_above_20_percent_is_flagged(client, db, reviewer, hand_computed):
    # (100 − 70) / 100 = 30 %.
    for phase, amps in {"ia": "100", "ib": "80", "ic": "70"}.items():
        add_reads(db, "dm", {MONTH: amps}, register=phase)
    district = only_district(client, reviewer)
    assert (district["imbalance_pct"], codes(district)) == ("30.00", ["imbalance"])


def test_three_phase_imbalance_within_20_percent_is_reported_not_flagged(client, db, reviewer, hand_computed):
    # Last month's 100 / 40 / 40 is not this month's; this month (90 − 76.5) / 90 = 15 %.
    for phase, (october, november) in {"ia": ("100", "90"), "ib": ("40", "80"), "ic": ("40", "76.5")}.items():
        add_reads(db, "dm", {"2026-10": october, MONTH: november}, register=phase)
    district = only_district(client, reviewer)
    assert (district["imbalance_pct"], codes(district)) == ("15.00", [])


def test_customers_whose_use_moved_more_than_20_percent_are_listed(client, db, reviewer):
    add_district(db)
    add_reads(db, add_meter(db, "dm", district_meter=True), running_totals({"2026-10": 1000, MONTH: 1000}))
    add_reads(db, add_meter(db, "steady"), running_totals({"2026-10": 100, MONTH: 110}))  # +10 %
    add_reads(db, add_meter(db, "halved"), running_totals({"2026-10": 200, MONTH: 100}))  # −50 %
    add_reads(db, add_meter(db, "doubled"), running_totals({"2026-10": 100, MONTH: 300}))  # +200 %
    add_reads(db, add_meter(db, "woke-up"), running_totals({"2026-10": 0, MONTH: 50}))  # from nothing
    listed = only_district(client, reviewer)["abnormal_customers"]
    assert [(c["meter_id"], c["consumption_kwh"], c["last_month_kwh"], c["change_pct"]) for c in listed] == [
        ("woke-up", "50.0", "0.0", None),
        ("doubled", "300.0", "100.0", "200.00"),
        ("halved", "100.0", "200.0", "-50.00"),
    ]
    assert listed[1]["customer_id"] == "c-doubled" and listed[1]["account_no"] == "acc-doubled"


# -- line loss: not computable ----------------------------------------------------------------------


def test_no_district_meter_read_this_month_makes_the_loss_not_computable(client, db, reviewer, hand_computed):
    with db.write() as conn:
        conn.execute(update(readings).where(readings.c.meter_id == "dm", readings.c.cycle == MONTH)
                     .values(method="unable", value=None))
    district = only_district(client, reviewer)
    assert [district[k] for k in ("supply_kwh", "sales_kwh", "loss_kwh", "loss_rate_pct", "change_pct")] == [None] * 5
    assert district["last_month_rate_pct"] == "5.00"
    assert codes(district) == ["not_computable"]
    assert "district meter has no actual read in 2026-10 or 2026-11" in district["flags"][0]["message"]


def test_no_district_meter_read_last_month_makes_both_months_not_computable(client, db, reviewer, hand_computed):
    with db.write() as conn:
        conn.execute(update(readings).where(readings.c.meter_id == "dm", readings.c.cycle == "2026-10")
                     .values(status="superseded"))
    district = only_district(client, reviewer)
    assert (district["loss_rate_pct"], district["last_month_rate_pct"]) == (None, None)
    assert codes(district) == ["not_computable"]


def test_a_district_without_a_district_meter_is_not_computable(client, db, reviewer):
    add_district(db)
    add_reads(db, add_meter(db, "lonely"), running_totals({MONTH: 100}))
    district = only_district(client, reviewer)
    assert (district["supply_kwh"], codes(district)) == (None, ["not_computable"])


def fifty_customers(db, missing_now: int) -> None:
    """50 customer meters using 100 kWh each; ``missing_now`` of them not read this month."""
    add_district(db, target=None)
    add_reads(db, add_meter(db, "dm", district_meter=True), running_totals({MONTH: 5_500}))
    for i in range(50):
        values = running_totals({MONTH: 100})
        if i < missing_now:
            del values[MONTH]
        add_reads(db, add_meter(db, f"cm-{i:02d}"), values)


def test_two_percent_of_customer_reads_missing_is_still_computable(client, db, reviewer):
    fifty_customers(db, missing_now=1)  # 1 of 50 = 2 %: sales 49 × 100 = 4,900 of 5,500 → 10.91 %
    district = only_district(client, reviewer)
    assert (district["sales_kwh"], district["loss_rate_pct"], codes(district)) == ("4900.0", "10.91", [])


def test_more_than_two_percent_of_customer_reads_missing_is_not_computable(client, db, reviewer):
    fifty_customers(db, missing_now=2)  # 2 of 50 = 4 %
    district = only_district(client, reviewer)
    assert (district["supply_kwh"], district["sales_kwh"], district["loss_rate_pct"]) == ("5500.0", None, None)
    assert codes(district) == ["not_computable"]
    assert district["flags"][0]["message"].startswith("2 of 50 customer meters (4.00 %)")


def test_districts_are_reported_each_on_its_own(client, db, reviewer):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_400}, district_id="d-01")
    district_with(db, supply={MONTH: 20_000}, sales={MONTH: 19_000}, district_id="d-02")
    rates = {d["district_id"]: d["loss_rate_pct"] for d in line_loss(client, reviewer)["districts"]}
    assert rates == {"d-01": "6.00", "d-02": "5.00"}


def test_the_line_loss_report_costs_the_same_queries_whatever_the_station_size(db, settings):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_400}, district_id="d-01")
    small = count_queries(db, lambda: reports.line_loss(db, settings, MONTH))
    for n in range(2, 6):
        district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_400}, district_id=f"d-{n:02d}")
        add_reads(db, add_meter(db, f"extra-{n}", f"d-{n:02d}"), running_totals({MONTH: 10}))
    large = count_queries(db, lambda: reports.line_loss(db, settings, MONTH))
    assert large == small == 3  # districts, meters, reads


def count_queries(db, action) -> int:
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE")):
            statements.append(statement)

    # On PostgreSQL the reader is the writer with other options: its statements reach the writer's listeners.
    engines = [db.reader, db.writer] if db.is_sqlite else [db.writer]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    return len(statements)


# -- district review tasks ------------------------------------------------------------------------------


def district_tasks(db) -> list:
    with db.read() as conn:
        return conn.execute(select(review_tasks).where(review_tasks.c.kind == "district")
                            .order_by(review_tasks.c.created_at)).all()


def task_audit(db) -> list[tuple]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.entity)
            .where(audit_log.c.entity == "review_task").order_by(audit_log.c.id))]


def open_tasks(client, headers, month: str = MONTH):
    return client.post(f"/api/v1/reports/line-loss/{month}/tasks", headers=headers)


def test_a_flagged_district_gets_one_review_task_however_often_the_report_runs(client, db, supervisor):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_300}, district_id="d-01")  # 7.00 % > 6.5 %
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_400}, district_id="d-02")  # 6.00 %: no flag
    first = open_tasks(client, supervisor)
    assert first.status_code == 200, first.text
    (opened,) = first.json()["tasks"]
    assert (first.json()["month"], opened["district_id"], opened["action"]) == (MONTH, "d-01", "opened")

    again = open_tasks(client, supervisor).json()["tasks"]
    assert again == [{**opened, "action": "unchanged"}]
    (task,) = district_tasks(db)
    assert (task.id, task.kind, task.status, task.priority) == (opened["task_id"], "district", "open", 3)
    assert (task.meter_id, task.district_id, task.cycle) == (None, "d-01", MONTH)
    assert [f["code"] for f in task.flags] == ["above_target"]
    assert "7.00 %" in task.flags[0]["message"]
    assert task_audit(db) == [("super01", "task.create", "review_task")]


def test_new_flags_join_the_open_task(client, db, supervisor):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_300})
    (opened,) = open_tasks(client, supervisor).json()["tasks"]
    for phase, amps in {"ia": "100", "ib": "50", "ic": "60"}.items():
        add_reads(db, "dm-d-01", {MONTH: amps}, register=phase)
    assert open_tasks(client, supervisor).json()["tasks"] == [{**opened, "action": "updated"}]
    (task,) = district_tasks(db)
    assert [f["code"] for f in task.flags] == ["above_target", "imbalance"]
    assert task_audit(db) == [("super01", "task.create", "review_task"), ("super01", "task.update", "review_task")]


def test_a_resolved_task_is_not_opened_again_for_the_same_flags(client, db, supervisor):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_300})
    open_tasks(client, supervisor)
    with db.write() as conn:
        conn.execute(update(review_tasks).values(status="resolved"))
    assert open_tasks(client, supervisor).json()["tasks"][0]["action"] == "unchanged"
    for phase, amps in {"ia": "100", "ib": "50", "ic": "60"}.items():
        add_reads(db, "dm-d-01", {MONTH: amps}, register=phase)
    assert open_tasks(client, supervisor).json()["tasks"][0]["action"] == "opened"
    assert [t.status for t in district_tasks(db)] == ["resolved", "open"]


def test_the_command_opens_district_tasks_once(run, db, staff):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_300})
    first = run("report", "line-loss", "--month", MONTH, "--open-tasks")
    assert first.exit_code == 0, first.output
    assert first.stderr == f"district review tasks for {MONTH}: 1 opened, 0 updated, 0 unchanged\n"
    second = run("report", "line-loss", "--month", MONTH, "--open-tasks")
    assert second.stderr == f"district review tasks for {MONTH}: 0 opened, 0 updated, 1 unchanged\n"
    assert len(district_tasks(db)) == 1
    assert task_audit(db) == [("cli", "task.create", "review_task")]


def test_only_supervisors_and_admins_open_district_tasks(client, db, staff):
    district_with(db, supply={MONTH: 10_000}, sales={MONTH: 9_300})
    for username, status in [("reviewer01", 403), ("reader01", 403), ("admin01", 200)]:
        assert open_tasks(client, login(client, username, f"pc-{username}")).status_code == status, username
    assert len(district_tasks(db)) == 1


# -- actual-read rate -----------------------------------------------------------------------------------------


def field_read(db, meter_id: str, cycle: str, method: str = "actual", status: str = "valid") -> None:
    add_reads(db, meter_id, {cycle: "1234"}, method=method, status=status, source="field")


def test_read_rate_per_route_and_reader(client, db, reviewer):
    add_user(db, "reader02", "reader")
    first = add_route(db, "r-1", 5)
    second = add_route(db, "r-2", 2)
    open_cycle(db, MONTH, "r-1", "reader01", date(2026, 11, 1), date(2026, 11, 30))
    open_cycle(db, MONTH, "r-2", "reader02", date(2026, 11, 1), date(2026, 11, 30))
    with db.write() as conn:
        conn.execute(update(assignments).where(assignments.c.meter_id == first[4]).values(status="cancelled"))
    field_read(db, first[0], MONTH)
    field_read(db, first[1], MONTH, method="unable")
    # first[2]: only an imported reading, which is not the reader's work: missing.
    add_reads(db, first[2], {MONTH: "1234"})
    # first[3]: the reader's reading was superseded by a re-read: still read.
    field_read(db, first[3], MONTH, status="superseded")
    field_read(db, first[3], MONTH)
    field_read(db, first[4], MONTH)  # cancelled: not counted
    field_read(db, second[0], MONTH)
    field_read(db, second[1], MONTH)
    field_read(db, second[1], "2026-10")  # another cycle

    res = client.get("/api/v1/reports/read-rate", params={"cycle": MONTH}, headers=reviewer)
    assert res.status_code == 200, res.text
    assert res.json() == {"cycle": MONTH, "routes": [
        {"route_id": "r-1", "user_id": "reader01", "assigned": 4, "actual": 2, "unable": 1, "missing": 1,
         "actual_rate_pct": "50.00"},
        {"route_id": "r-2", "user_id": "reader02", "assigned": 2, "actual": 2, "unable": 0, "missing": 0,
         "actual_rate_pct": "100.00"},
    ]}


def test_the_read_rate_command_prints_csv(run, db, staff):
    meter_ids = add_route(db, "r-1", 3)
    open_cycle(db, MONTH, "r-1", "reader01", date(2026, 11, 1), date(2026, 11, 30))
    field_read(db, meter_ids[0], MONTH)
    result = run("report", "read-rate", "--cycle", MONTH)
    assert result.exit_code == 0, result.output
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["route_id", "user_id", "assigned", "actual", "unable", "missing", "actual_rate_pct"],
        ["r-1", "reader01", "3", "1", "0", "2", "33.33"],
    ]


# -- inspections due ---------------------------------------------------------------------------------------


def inspected(db, meter_id: str, days_ago: float, op_type: str = "inspection") -> None:
    at = utcnow() - timedelta(days=days_ago)
    with db.write() as conn:
        n = conn.execute(select(func.count()).select_from(ops)).scalar_one()
        conn.execute(insert(ops).values(
            op_id=f"op-{n}", batch_id="b-1", user_id="inspector01", device_id="tab-9", type=op_type,
            meter_id=meter_id, content_hash="0" * 64, status="accepted", flags=[], recorded_at=at,
            recorded_at_corrected=at, received_at=at, evidence="none", payload={}))


@pytest.fixture
def classed_customers(db):
    add_district(db)
    for meter_id, cls in [("a-late", "A"), ("a-fresh", "A"), ("a-two-meters", "A"), ("b-never", "B"),
                          ("c-late", "C"), ("c-sealed", "C"), ("unclassed", None), ("a-removed", "A")]:
        add_meter(db, meter_id, customer_class=cls)
    with db.write() as conn:
        conn.execute(insert(meters).values(
            id="a-two-meters-2", serial="S-2", customer_id="c-a-two-meters", district_id="d-01", route_id="r-d-01",
            category="commercial", address="东岭村1组", multiplier="1", dials=6, phases=1, registers=["total"]))
        conn.execute(update(meters).where(meters.c.id == "a-removed").values(removed_at=T0))
    inspected(db, "a-late", days_ago=10.5)  # 7 days allowed: 3 days overdue
    inspected(db, "a-late", days_ago=30)
    inspected(db, "a-fresh", days_ago=2)
    inspected(db, "a-two-meters", days_ago=40)
    inspected(db, "a-two-meters-2", days_ago=5)  # its other meter was inspected lately
    inspected(db, "c-late", days_ago=100.5)  # 92 days allowed: 8 days overdue
    inspected(db, "c-sealed", days_ago=1, op_type="seal_event")  # not an inspection: never inspected
    inspected(db, "unclassed", days_ago=400)


def test_inspections_due_by_class(client, reviewer, classed_customers):
    res = client.get("/api/v1/reports/inspections-due", headers=reviewer)
    assert res.status_code == 200, res.text
    body = res.json()
    never = (utcnow() - T0).days  # never inspected: counted from entering the ledger
    summary = [(c["class"], c["days"], c["count"], [(o["customer_id"], o["days_overdue"]) for o in c["overdue"]])
               for c in body["classes"]]
    assert summary == [
        ("A", 7, 1, [("c-a-late", 3)]),
        ("B", 31, 1, [("c-b-never", never - 31)]),
        ("C", 92, 2, [("c-c-sealed", never - 92), ("c-c-late", 8)]),
    ]
    a_late = body["classes"][0]["overdue"][0]
    assert (a_late["account_no"], a_late["name"], a_late["address"]) == ("acc-a-late", "客户 a-late", "东岭村1组")
    assert a_late["last_inspected_at"] is not None
    assert body["classes"][1]["overdue"][0]["last_inspected_at"] is None


def test_the_limit_shortens_each_list_but_not_its_count(client, reviewer, classed_customers):
    res = client.get("/api/v1/reports/inspections-due", params={"limit": 1}, headers=reviewer)
    c = res.json()["classes"][2]
    assert (c["count"], [o["customer_id"] for o in c["overdue"]]) == (2, ["c-c-sealed"])


def test_the_inspections_due_command_prints_csv(run, classed_customers):
    result = run("report", "inspections-due")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["class"], r["customer_id"], r["days_overdue"]) for r in rows][:1] == [("A", "c-a-late", "3")]
    assert [r["customer_id"] for r in rows] == ["c-a-late", "c-b-never", "c-c-sealed", "c-c-late"]
    assert rows[0]["name"] == "客户 a-late" and rows[1]["last_inspected_at"] == ""


# -- roles, parameters, CSV ---------------------------------------------------------------------------------------

REPORTS = [("/api/v1/reports/line-loss", {"month": MONTH}), ("/api/v1/reports/read-rate", {"cycle": MONTH}),
           ("/api/v1/reports/inspections-due", {})]


@pytest.mark.parametrize("path, params", REPORTS)
def test_reports_are_for_reviewers_supervisors_and_admins(client, staff, path, params):
    for username, status in [("reader01", 403), ("inspector01", 403), ("reviewer01", 200), ("super01", 200),
                             ("admin01", 200)]:
        res = client.get(path, params=params, headers=login(client, username, f"pc-{username}"))
        assert res.status_code == status, (username, res.text)
        if status == 403:
            assert res.json()["error"]["code"] == "forbidden"


def test_reports_need_a_login(client):
    assert client.get("/api/v1/reports/inspections-due").status_code == 401


@pytest.mark.parametrize("path, field, value", [
    ("/api/v1/reports/line-loss", "month", "2026-13"),
    ("/api/v1/reports/line-loss", "month", "November"),
    ("/api/v1/reports/read-rate", "cycle", "2026-1"),
])
def test_a_bad_month_is_an_invalid_request_naming_the_parameter(client, reviewer, path, field, value):
    res = client.get(path, params={field: value}, headers=reviewer)
    assert res.status_code == 400
    assert (res.json()["error"]["code"], res.json()["error"]["field"]) == ("invalid_request", field)


def test_a_missing_month_is_an_invalid_request(client, reviewer):
    res = client.get("/api/v1/reports/line-loss", headers=reviewer)
    assert (res.status_code, res.json()["error"]["code"]) == (400, "invalid_request")


def test_a_bad_month_for_district_tasks_is_an_invalid_request(client, supervisor):
    res = open_tasks(client, supervisor, month="2026-00")
    assert (res.status_code, res.json()["error"]["field"]) == (400, "month")


def test_the_line_loss_command_prints_csv_in_utf8(run, hand_computed, db):
    add_reads(db, "dm", {MONTH: "100"}, register="ia")  # one phase only: no imbalance figure
    result = run("report", "line-loss", "--month", MONTH)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode("utf-8").splitlines() == [
        "district_id,name,supply_kwh,sales_kwh,loss_kwh,loss_rate_pct,last_month_rate_pct,change_pct,"
        "target_pct,imbalance_pct,flags",
        "d-01,东岭村1号台区,100000.0,94000.0,6000.0,6.00,5.00,20.00,6.5,,",
    ]


def test_the_abnormal_customers_command_lists_them_per_district(run, db):
    district_with(db, supply={"2026-10": 1_000, MONTH: 1_000}, sales={"2026-10": 100, MONTH: 300})
    result = run("report", "line-loss", "--month", MONTH, "--abnormal-customers")
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["district_id", "customer_id", "account_no", "name", "meter_id", "consumption_kwh", "last_month_kwh",
         "change_pct"],
        ["d-01", "c-cm-d-01", "acc-cm-d-01", "客户 cm-d-01", "cm-d-01", "300.0", "100.0", "200.00"],
    ]


def test_a_bad_month_on_the_command_line_says_how_to_write_it(run):
    result = run("report", "line-loss", "--month", "11/2026")
    assert result.exit_code == 1
    assert "write it like 2026-11" in result.output
