"""Login, tokens and devices (PROTOCOL §2)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from server.auth import token_hash
from server.cli import cli
from server.clock import utcnow
from server.db.tables import audit_log, tokens
from server.services import identity
from tests.factories import PASSWORD, add_user, login

PULL = "/api/v1/sync/pull?schema_version=1"


def body(username="reader01", password=PASSWORD, device="tab-1", schema=1):
    return {"username": username, "password": password, "device_id": device, "app_version": "2.3.1",
            "schema_version": schema}


@pytest.fixture
def reader(db):
    return add_user(db, "reader01", "reader", name="李伟")


def test_login_answers_token_user_and_schema(client, reader):
    res = client.post("/api/v1/auth/login", json=body())
    assert res.status_code == 200
    data = res.json()
    assert data["user"] == {"id": "reader01", "name": "李伟", "roles": ["reader"]}
    assert data["schema"] == {"min": 1, "current": 1}
    assert len(data["token"]) >= 43  # 256 bits, base64url
    assert data["expires_at"] > data["server_time"]


def test_only_the_hash_of_a_token_is_stored(client, db, reader):
    token = client.post("/api/v1/auth/login", json=body()).json()["token"]
    with db.read() as conn:
        stored = conn.execute(select(tokens.c.token_hash, tokens.c.device_id, tokens.c.app_version)).one()
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM tokens")) for v in row)
    assert stored == (token_hash(token), "tab-1", "2.3.1")
    assert token not in dump


def test_wrong_user_and_wrong_password_look_the_same(client, reader):
    a = client.post("/api/v1/auth/login", json=body(password="nope"))
    b = client.post("/api/v1/auth/login", json=body(username="nobody"))
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    assert a.json()["error"]["code"] == "invalid_credentials"


def test_failures_lock_the_username_even_for_the_right_password(client, reader):
    for _ in range(5):
        assert client.post("/api/v1/auth/login", json=body(password="nope")).status_code == 401
    locked = client.post("/api/v1/auth/login", json=body())
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "rate_limited"
    assert 14 * 60 < int(locked.headers["retry-after"]) <= 15 * 60
    # Another username on the same tablet is not affected.
    add_user(client.app.state.ctx.db, "reader02", "reader")
    assert client.post("/api/v1/auth/login", json=body(username="reader02")).status_code == 200


def test_the_lock_lifts_after_its_time(client, db, reader):
    from server.db.tables import login_throttle

    for _ in range(5):
        client.post("/api/v1/auth/login", json=body(password="nope"))
    with db.write() as conn:
        conn.execute(update(login_throttle).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert client.post("/api/v1/auth/login", json=body()).status_code == 200


def test_a_revoked_device_is_refused_at_once_and_cannot_log_in(client, db, reader):
    headers = login(client, "reader01", "tab-1")
    assert client.get(PULL, headers=headers).status_code == 200
    assert identity.revoke_device(db, "tab-1", actor="admin") == 1
    res = client.get(PULL, headers=headers)
    assert (res.status_code, res.json()["error"]["code"]) == (401, "token_revoked")
    res = client.post("/api/v1/auth/login", json=body())
    assert (res.status_code, res.json()["error"]["code"]) == (403, "device_revoked")
    identity.restore_device(db, "tab-1", actor="admin")
    # Restored: logins work again, but the old token stays dead.
    assert client.get(PULL, headers=headers).json()["error"]["code"] == "token_revoked"
    assert client.get(PULL, headers=login(client, "reader01", "tab-1")).status_code == 200
    with db.read() as conn:
        actions = conn.execute(select(audit_log.c.action).where(audit_log.c.entity == "device")).scalars().all()
    assert {"device.revoke", "device.restore", "login"} <= set(actions)


def test_an_expired_token_says_so(client, db, reader):
    headers = login(client, "reader01")
    with db.write() as conn:
        conn.execute(update(tokens).values(expires_at=utcnow() - timedelta(seconds=1)))
    res = client.get(PULL, headers=headers)
    assert (res.status_code, res.json()["error"]["code"]) == (401, "token_expired")


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic abc", "Bearer " + "x" * 500])
def test_missing_or_unknown_tokens_are_401(client, reader, header):
    res = client.get(PULL, headers={"Authorization": header} if header else {})
    assert (res.status_code, res.json()["error"]["code"]) == (401, "unauthenticated")


def test_login_with_an_old_schema_works_for_upload_only_mode(client, reader):
    assert client.post("/api/v1/auth/login", json=body(schema=0)).status_code == 200


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"username": ""}, "invalid_request", "$.username"),
    ({"extra": 1}, "unknown_field", "$.extra"),
    ({"schema_version": "1"}, "invalid_request", "$.schema_version"),
    ({"device_id": "tab 1; drop"}, "invalid_request", "$.device_id"),
])
def test_bad_login_bodies_say_which_field(client, reader, change, code, field):
    res = client.post("/api/v1/auth/login", json=body() | change)
    assert (res.status_code, res.json()["error"]["code"], res.json()["error"]["field"]) == (400, code, field)


def test_devices_cli_shows_what_a_lost_tablet_last_did(client, db, settings, reader, monkeypatch):
    monkeypatch.setenv("FIELDSYNC_DATABASE_URL", settings.database_url)
    client.get(PULL, headers=login(client, "reader01", "tab-17"))
    runner = CliRunner()
    shown = runner.invoke(cli, ["devices", "show", "tab-17"])
    assert shown.exit_code == 0, shown.output
    assert "reader01" in shown.output and "last pull" in shown.output
    assert "tab-17" in runner.invoke(cli, ["devices", "list"]).output
    revoked = runner.invoke(cli, ["devices", "revoke", "tab-17"])
    assert revoked.exit_code == 0 and "1 token(s)" in revoked.output
    assert runner.invoke(cli, ["devices", "show", "tab-404"]).exit_code != 0


def test_users_cli_adds_a_user_who_can_log_in(client, settings, monkeypatch):
    monkeypatch.setenv("FIELDSYNC_DATABASE_URL", settings.database_url)
    res = CliRunner().invoke(cli, ["users", "add", "inspector07", "--name", "王芳", "--role", "inspector",
                                   "--role", "reader", "--password", "s3cret"])
    assert res.exit_code == 0, res.output
    ok = client.post("/api/v1/auth/login", json=body(username="inspector07", password="s3cret"))
    assert ok.json()["user"]["roles"] == ["inspector", "reader"]


def test_openapi_documents_every_route_with_bodies_and_errors(client):
    doc = client.get("/schema/openapi.json").json()
    paths = doc["paths"]
    assert "requestBody" in paths["/api/v1/auth/login"]["post"]
    assert "requestBody" in paths["/api/v1/sync/push"]["post"]
    assert {"200", "400", "401", "410", "426"} <= set(paths["/api/v1/sync/pull"]["get"]["responses"])
    assert paths["/api/v1/sync/pull"]["get"]["security"] == [{"BearerToken": []}]
    schemas = doc["components"]["schemas"]
    assert {"PushRequest", "PullResponse", "ErrorBody", "LoginRequest"} <= set(schemas)


def test_an_admin_revokes_and_restores_a_tablet_over_the_api(client, db, reader):
    add_user(db, "admin", "admin")
    add_user(db, "supervisor01", "supervisor")
    tablet = login(client, "reader01", "tab-lost")
    admin = login(client, "admin", "pc-office")
    shown = client.get("/api/v1/devices/tab-lost", headers=login(client, "supervisor01", "pc-2"))
    assert shown.json()["last_user_id"] == "reader01" and shown.json()["revoked_at"] is None
    assert client.post("/api/v1/devices/tab-lost/revoke", headers=login(client, "supervisor01", "pc-2")).status_code == 403
    assert client.post("/api/v1/devices/tab-lost/revoke", headers=tablet).status_code == 403
    res = client.post("/api/v1/devices/tab-lost/revoke", headers=admin)
    assert res.status_code == 200 and res.json()["revoked_at"] is not None and res.json()["active_tokens"] == 0
    assert client.get(PULL, headers=tablet).json()["error"]["code"] == "token_revoked"
    assert client.post("/api/v1/devices/tab-lost/restore", headers=admin).json()["revoked_at"] is None
    assert client.get(PULL, headers=tablet).json()["error"]["code"] == "token_revoked"
    assert client.post("/api/v1/devices/tab-nowhere/revoke", headers=admin).status_code == 404
    listed = client.get("/api/v1/devices", headers=admin).json()["devices"]
    assert {"tab-lost", "pc-office", "pc-2"} <= {d["id"] for d in listed}
    assert client.get("/api/v1/devices", headers=login(client, "reader01", "tab-new")).status_code == 403
