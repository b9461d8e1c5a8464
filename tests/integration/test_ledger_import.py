"""Importing the station's ledger and reading history, on every database backend."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, func, insert, select, update

from server.db.tables import audit_log, customers, districts, meters, readings, routes, seals, sync_feed, sync_state
from server.services import ledger
from sync.ledger_csv import METER_COLUMNS

DATA = Path(__file__).parent.parent / "data"
SMALL = DATA / "ledger_small.csv"
THREE_BAD_ROWS = DATA / "ledger_three_bad_rows.csv"
READINGS = DATA / "readings_small.csv"
LEDGER_TABLES = (districts, routes, customers, meters, seals)


def counts(report: ledger.ImportReport) -> tuple[int, int, int, int]:
    return report.rows, report.inserted, report.updated, report.unchanged


def snapshot(db, tables=LEDGER_TABLES) -> dict[str, list[tuple]]:
    with db.read() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t)).all()) for t in tables}


def small_lines(*replacements: tuple[str, str]) -> list[str]:
    """The small ledger's lines with some text replaced, as a stream."""
    text = SMALL.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    return text.splitlines(keepends=True)


def current_seals(db, meter_id: str) -> list[tuple]:
    with db.read() as conn:
        return conn.execute(
            select(seals.c.position, seals.c.number, seals.c.removed_at, seals.c.removal_reason)
            .where(seals.c.meter_id == meter_id).order_by(seals.c.id)
        ).all()


# -- meters --------------------------------------------------------------------------------------


def test_a_small_ledger_imports_districts_routes_customers_meters_and_seals(db, settings):
    report = ledger.import_meters(db, settings, SMALL)
    assert counts(report) == (9, 9, 0, 0) and report.errors == []
    with db.read() as conn:
        assert conn.execute(select(districts.c.id, districts.c.name).order_by(districts.c.id)).all() == [
            ("D01", "东村台区"), ("D02", "西村台区")
        ]
        assert conn.execute(select(routes.c.id, routes.c.district_id).order_by(routes.c.id)).all() == [
            ("R01", "D01"), ("R02", "D01"), ("R03", "D02")
        ]
        district_meter = conn.execute(select(meters).where(meters.c.id == "M-D01")).one()
        house = conn.execute(select(meters).where(meters.c.id == "M-0002")).one()
        site = conn.execute(select(customers).where(customers.c.id == "C004")).one()
        brickworks = conn.execute(select(customers).where(customers.c.id == "C005")).one()
        seal_count = conn.execute(select(func.count()).select_from(seals)).scalar_one()
    assert (district_meter.customer_id, district_meter.category) == (None, "district_meter")
    assert district_meter.multiplier == "30"  # "30.0" in the file
    assert house.registers == ["total", "peak", "valley"] and (house.lat, house.lon) == (None, None)
    # "2023-05-02" in the station is 16:00 UTC the day before.
    assert house.installed_at == datetime(2023, 5, 1, 16, 0, tzinfo=timezone.utc)
    assert (site.category, site.temp_supply_until) == ("temporary", date(2024, 7, 31))
    assert (brickworks.name, brickworks._mapping["class"]) == ("西村砖厂", "A")
    assert seal_count == 10


def test_each_import_leaves_one_audit_entry_with_its_counts(db, settings):
    ledger.import_meters(db, settings, SMALL)
    ledger.import_meters(db, settings, small_lines(), actor="admin")
    with db.read() as conn:
        entries = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.entity, audit_log.c.entity_id, audit_log.c.after)
            .order_by(audit_log.c.id)
        ).all()
    assert entries == [
        ("cli", "ledger.import", "ledger", "ledger_small.csv",
         {"kind": "meters", "rows": 9, "inserted": 9, "updated": 0, "unchanged": 0}),
        ("admin", "ledger.import", "ledger", "stream",
         {"kind": "meters", "rows": 9, "inserted": 0, "updated": 0, "unchanged": 9}),
    ]


def test_importing_the_same_file_again_changes_nothing(db, settings):
    ledger.import_meters(db, settings, SMALL)
    before = snapshot(db, LEDGER_TABLES + (sync_feed,))
    report = ledger.import_meters(db, settings, SMALL)
    assert counts(report) == (9, 0, 0, 9)
    assert snapshot(db, LEDGER_TABLES + (sync_feed,)) == before


def test_a_file_with_three_bad_rows_names_each_and_writes_nothing(db, settings):
    report = ledger.import_meters(db, settings, THREE_BAD_ROWS)
    assert report.errors == [
        "line 5: multiplier 'abc' is not a positive decimal",
        "line 8: category 'factory' is not one of district_meter, residential, commercial, industrial, "
        "agricultural, temporary",
        "line 9: seals 'meter_cover=S0020003' is not position:number pairs separated by ';'",
    ]
    assert counts(report) == (9, 0, 0, 0)
    assert all(rows == [] for rows in snapshot(db, LEDGER_TABLES + (audit_log,)).values())


def test_a_bad_row_keeps_the_good_rows_of_its_file_from_changing_the_ledger(db, settings):
    ledger.import_meters(db, settings, SMALL)
    before = snapshot(db)
    report = ledger.import_meters(db, settings, small_lines(("东村1号", "东村10号"), ("SN100007,1,6,", "SN100007,1,0,")))
    assert report.errors == ["line 10: dials '0' is not a whole number from 1 to 12"]
    assert snapshot(db) == before


def test_a_dry_run_says_what_would_change_and_writes_nothing(db, settings):
    report = ledger.import_meters(db, settings, SMALL, dry_run=True)
    assert counts(report) == (9, 9, 0, 0)
    assert all(rows == [] for rows in snapshot(db, LEDGER_TABLES + (audit_log,)).values())
    ledger.import_meters(db, settings, SMALL)
    before = snapshot(db, LEDGER_TABLES + (audit_log,))
    report = ledger.import_meters(db, settings, small_lines(("R02,C003", "R01,C003")), dry_run=True)
    assert counts(report) == (9, 0, 1, 8)
    assert snapshot(db, LEDGER_TABLES + (audit_log,)) == before


def test_a_meter_moving_to_another_route_and_a_renamed_customer_are_updated(db, settings):
    ledger.import_meters(db, settings, SMALL)
    report = ledger.import_meters(db, settings, small_lines(("R02,C003", "R01,C003"), ("王芳", "王芳芳")))
    assert counts(report) == (9, 0, 2, 7)
    with db.read() as conn:
        assert conn.execute(select(meters.c.route_id).where(meters.c.id == "M-0003")).scalar_one() == "R01"
        assert conn.execute(select(customers.c.name).where(customers.c.id == "C006")).scalar_one() == "王芳芳"


def test_a_route_on_record_cannot_move_to_another_district(db, settings):
    ledger.import_meters(db, settings, SMALL)
    report = ledger.import_meters(db, settings, small_lines(("D02,西村台区,R03", "D01,东村台区,R03")))
    assert report.errors == [
        "line 7: route R03 is in district D02 on record, not D01; a route does not change district"
    ]


def test_a_changed_seal_replaces_the_old_one_and_keeps_its_history(db, settings):
    ledger.import_meters(db, settings, SMALL)
    report = ledger.import_meters(db, settings, small_lines(("terminal_cover:S0012346", "terminal_cover:S0099999")))
    assert counts(report) == (9, 0, 1, 8)
    (cover, old_terminal, new_terminal) = current_seals(db, "M-0001")
    assert cover == ("meter_cover", "S0012345", None, None)
    assert old_terminal[:2] == ("terminal_cover", "S0012346") and old_terminal.removal_reason == "ledger_import"
    assert old_terminal.removed_at is not None
    assert new_terminal == ("terminal_cover", "S0099999", None, None)
    assert counts(ledger.import_meters(db, settings, small_lines(("S0012346", "S0099999")))) == (9, 0, 0, 9)


def test_changes_are_resent_to_the_tablets_that_hold_them(db, settings):
    ledger.import_meters(db, settings, SMALL)
    with db.write() as conn:
        conn.execute(insert(sync_feed), [
            {"user_id": "reader1", "kind": kind, "entity_id": entity_id, "seq": seq, "op": "upsert",
             "changed_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}
            for seq, (kind, entity_id) in enumerate(
                [("meter", "M-0001"), ("customer", "C001"), ("meter", "M-0002"), ("customer", "C002"),
                 ("meter", "M-0005"), ("customer", "C005")], start=1)
        ])
        conn.execute(update(sync_state).values(last_seq=6))
    ledger.import_meters(db, settings, small_lines(("S0012346", "S0099999"), ("西村砖厂,西村工业路1号,industrial,A",
                                                                          "西村砖厂,西村工业路1号,industrial,B")))
    with db.read() as conn:
        seqs = dict(conn.execute(select(sync_feed.c.entity_id, sync_feed.c.seq)).all())
    # Seals changed on M-0001; C005's class (shown on its meters) changed; M-0002 and C002 did not.
    assert {e for e, seq in seqs.items() if seq > 6} == {"M-0001", "C005", "M-0005"}


def test_the_number_of_queries_does_not_grow_with_the_rows(db, settings):
    def statements_to_import(n: int, district: str) -> int:
        header = ",".join(METER_COLUMNS) + "\n"
        rows = [
            f"{district},台区{district},R-{district},C-{district}-{i},A-{i},户{i},村{i}号,residential,C,,"
            f"M-{district}-{i},SN-{district}-{i},1,6,1,total,,,2024-01-01,meter_cover:S-{district}-{i}\n"
            for i in range(n)
        ]
        executed: list[str] = []
        listener = lambda *args: executed.append(args[2])  # noqa: E731
        event.listen(db.writer, "before_cursor_execute", listener)
        try:
            assert ledger.import_meters(db, settings, [header, *rows]).inserted == n
        finally:
            event.remove(db.writer, "before_cursor_execute", listener)
        return len(executed)

    assert statements_to_import(20, "DA") == statements_to_import(800, "DB")


# -- readings ------------------------------------------------------------------------------------


def test_reading_history_imports_as_actual_readings_in_their_station_cycle(db, settings):
    ledger.import_meters(db, settings, SMALL)
    assert counts(ledger.import_readings(db, settings, READINGS)) == (8, 8, 0, 0)
    with db.read() as conn:
        stored = conn.execute(select(readings).where(readings.c.meter_id == "M-0005")).one()
        methods = conn.execute(select(readings.c.method, readings.c.source).distinct()).all()
    assert stored.value == "1234567.8" and stored.register == "total"
    assert stored.read_at == datetime(2024, 1, 31, 15, 30, tzinfo=timezone.utc)
    assert stored.cycle == "2024-01"
    assert methods == [("actual", "import")]


def test_reading_history_imported_twice_is_stored_once(db, settings):
    ledger.import_meters(db, settings, SMALL)
    ledger.import_readings(db, settings, READINGS)
    before = snapshot(db, (readings,))
    assert counts(ledger.import_readings(db, settings, READINGS)) == (8, 0, 0, 8)
    assert snapshot(db, (readings,)) == before


def test_a_reading_that_contradicts_the_stored_one_stops_the_whole_file(db, settings):
    ledger.import_meters(db, settings, SMALL)
    ledger.import_readings(db, settings, READINGS)
    before = snapshot(db, (readings, audit_log))
    lines = [
        "meter_id,register,read_at,value\n",
        "M-0007,total,2024-03-01,10\n",
        "M-0001,total,2024-01-05T09:15:00,4321.8\n",
        "M-0404,total,2024-03-01,10\n",
        "M-0002,flat,2024-03-01,10\n",
    ]
    report = ledger.import_readings(db, settings, lines)
    assert report.errors == [
        "line 3: meter M-0001 total at 2024-01-05T09:15:00+08:00 is 4321.7 on record, not 4321.8",
        "line 4: meter M-0404 is not in the ledger",
        "line 5: register 'flat' is not one of meter M-0002's registers (total, peak, valley)",
    ]
    assert snapshot(db, (readings, audit_log)) == before


def test_new_readings_are_resent_with_their_meter(db, settings):
    ledger.import_meters(db, settings, SMALL)
    with db.write() as conn:
        conn.execute(insert(sync_feed), [
            {"user_id": "reader1", "kind": "meter", "entity_id": m, "seq": seq, "op": "upsert",
             "changed_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}
            for seq, m in enumerate(["M-0001", "M-0007"], start=1)
        ])
        conn.execute(update(sync_state).values(last_seq=2))
    ledger.import_readings(db, settings, READINGS)
    with db.read() as conn:
        seqs = dict(conn.execute(select(sync_feed.c.entity_id, sync_feed.c.seq)).all())
    assert seqs["M-0001"] > 2 and seqs["M-0007"] == 2


# -- the command ---------------------------------------------------------------------------------


def test_the_command_imports_a_file_and_says_what_changed(run):
    result = run("ledger", "import", str(SMALL))
    assert result.exit_code == 0, result.output
    assert result.stdout == "ledger_small.csv: imported 9 rows: 9 new, 0 changed, 0 unchanged\n"
    again = run("ledger", "import", str(SMALL))
    assert again.stdout == "ledger_small.csv: imported 9 rows: 0 new, 0 changed, 9 unchanged\n"


def test_the_command_reads_a_file_from_standard_input(run):
    result = run("ledger", "import", "-", stdin=SMALL.read_text(encoding="utf-8"))
    assert result.exit_code == 0
    assert result.stdout == "stream: imported 9 rows: 9 new, 0 changed, 0 unchanged\n"


def test_the_command_lists_every_problem_and_fails(db, run):
    result = run("ledger", "import", str(THREE_BAD_ROWS))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["line 5", "line 8", "line 9", "Error"]
    assert "3 problem(s) in ledger_three_bad_rows.csv; nothing was imported" in result.stderr
    assert snapshot(db)["meters"] == []


def test_the_command_dry_run_writes_nothing(db, run):
    result = run("ledger", "import", "--dry-run", str(SMALL))
    assert result.exit_code == 0
    assert result.stdout == (
        "ledger_small.csv: dry run, nothing written; would import 9 rows: 9 new, 0 changed, 0 unchanged\n"
    )
    assert snapshot(db)["meters"] == []


def test_the_command_imports_reading_history(run):
    assert run("ledger", "import", str(SMALL)).exit_code == 0
    result = run("ledger", "import-readings", str(READINGS))
    assert result.exit_code == 0
    assert result.stdout == "readings_small.csv: imported 8 rows: 8 new, 0 changed, 0 unchanged\n"


def test_the_command_refuses_a_file_that_is_not_utf8(run, tmp_path):
    latin = tmp_path / "gbk.csv"
    latin.write_bytes(SMALL.read_text(encoding="utf-8").encode("gb18030"))
    result = run("ledger", "import", str(latin))
    assert result.exit_code == 1
    assert "line 2: not UTF-8 text; save the file as UTF-8 (in Excel: CSV UTF-8)" in result.stderr
