"""Every setting comes from the environment, in one place."""

from decimal import Decimal
from pathlib import Path

import pytest

from server.settings import Settings


def test_defaults_are_an_embedded_station_under_the_data_dir():
    s = Settings.from_env({})
    assert s.database_url == "sqlite:///data/fieldsync.db"
    assert s.photo_store == "data/photos"
    assert (s.max_body_bytes, s.max_batch_items, s.pull_default_limit, s.token_ttl_days) == (8 * 1024 * 1024, 1000, 500, 30)


def test_the_environment_overrides_settings_and_rule_thresholds():
    s = Settings.from_env({
        "FIELDSYNC_DATA_DIR": "/srv/fieldsync", "FIELDSYNC_MAX_BATCH_ITEMS": "200",
        "FIELDSYNC_RULE_CONSUMPTION_HIGH_FACTOR": "2.5", "FIELDSYNC_RULE_CLOCK_SKEW_S": "120",
        "FIELDSYNC_PHOTO_STORE": "s3://evidence/station-7",
    })
    assert s.data_dir == Path("/srv/fieldsync")
    assert s.database_url == "sqlite:////srv/fieldsync/fieldsync.db"
    assert s.max_batch_items == 200
    assert s.thresholds.consumption_high_factor == Decimal("2.5")
    assert s.thresholds.clock_skew_s == 120
    assert s.photo_store == "s3://evidence/station-7"


@pytest.mark.parametrize("url", [
    "postgresql://u@db/fs", "postgresql+asyncpg://u@db/fs", "postgres://u@db/fs", "postgresql+psycopg2://u@db/fs",
])
def test_postgresql_urls_of_any_driver_use_psycopg(url):
    assert Settings.from_env({"FIELDSYNC_DATABASE_URL": url}).database_url == "postgresql+psycopg://u@db/fs"


def test_a_bad_value_stops_the_server_with_its_name():
    with pytest.raises(SystemExit, match="FIELDSYNC_MAX_BATCH_ITEMS='many'"):
        Settings.from_env({"FIELDSYNC_MAX_BATCH_ITEMS": "many"})


def test_serve_runs_one_process_a_core_unless_told(monkeypatch):
    from server.cli import db_cmds

    monkeypatch.delenv("FIELDSYNC_WORKERS", raising=False)
    monkeypatch.setattr(db_cmds.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert db_cmds.default_workers() == 2
    monkeypatch.setattr(db_cmds.os, "sched_getaffinity", lambda _pid: set(range(32)))
    assert db_cmds.default_workers() == db_cmds.MAX_DEFAULT_WORKERS
    monkeypatch.setenv("FIELDSYNC_WORKERS", "1")
    assert db_cmds.default_workers() == 1
