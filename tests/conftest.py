"""Fixtures shared by every test: a migrated database on SQLite (always) and on
PostgreSQL (when FIELDSYNC_TEST_POSTGRES_URL is set), settings, an app client.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from server.db import migrate
from server.db.engine import Database
from server.db.tables import metadata
from server.settings import Settings, normalise_database_url

PG_URL = os.environ.get("FIELDSYNC_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing():
    """Argon2 at its production cost takes a good part of a second on a busy 2-core machine;
    the tests log in hundreds of times. The same algorithm at a low cost keeps them honest."""
    from argon2 import PasswordHasher

    from server import auth

    saved = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth._hasher = saved


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "fieldsync.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str | None]:
    """A database of this test process's own (test runs may overlap), migrated once, dropped after."""
    if not PG_URL:
        yield None
        return
    base = make_url(normalise_database_url(PG_URL))
    name = f"fieldsync_test_{worker_id}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_postgres(db: Database) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name != "alembic_version")
    with db.write() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        conn.execute(text("INSERT INTO sync_state (id, last_seq, floor_seq) VALUES (1, 0, 0)"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path, sqlite_template: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        path = tmp_path / "fieldsync.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    db = Database(url)
    _truncate_postgres(db)
    db.dispose()
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def client(settings: Settings, db: Database):
    from litestar.testing import TestClient

    from server.app import create_app

    with TestClient(create_app(settings, db)) as c:
        yield c


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """The xdist worker's name, or 'main' without xdist."""
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture
def run(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """``run("ledger", "import", path)``: the ``fieldsync`` command against the test database."""
    from click.testing import CliRunner

    from server.cli import cli

    monkeypatch.setenv("FIELDSYNC_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FIELDSYNC_DATA_DIR", str(settings.data_dir))

    def invoke(*args: str, stdin: str | None = None):
        return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)

    return invoke
