"""The schema comes from the Alembic migrations, and they match the models."""

import pytest
from sqlalchemy import insert, text, update

from server.clock import utcnow
from server.db import migrate
from server.db.tables import audit_log


def test_models_and_migrations_agree(db):
    assert migrate.model_differences(db) == []
    assert migrate.current_revision(db) == migrate.head_revision()


def test_audit_log_is_append_only(db):
    with db.write() as conn:
        conn.execute(insert(audit_log).values(at=utcnow(), actor="admin", action="x", entity="device", entity_id="t1"))
    for stmt in (update(audit_log).values(actor="mallory"), audit_log.delete()):
        with pytest.raises(Exception, match="append-only"):
            with db.write() as conn:
                conn.execute(stmt)
    with db.read() as conn:
        assert conn.execute(text("SELECT actor FROM audit_log")).scalars().all() == ["admin"]
