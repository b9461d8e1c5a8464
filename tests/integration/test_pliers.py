"""The seal pliers register: issue and return through the command and the API, on every database backend."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update

from server.db.tables import audit_log, pliers_history, users
from server.errors import ApiError
from server.services import pliers as register
from tests.factories import add_route, add_user, login
from tests.push_helpers import batch, now_text, push, seal_event

STAFF = {
    "reader01": "reader", "inspector01": "inspector", "inspector02": "inspector",
    "reviewer01": "reviewer", "super01": "supervisor", "admin01": "admin",
}


@pytest.fixture
def staff(db):
    for username, role in STAFF.items():
        add_user(db, username, role)
    return STAFF


@pytest.fixture
def supervisor(client, staff):
    return login(client, "super01", "pc-office")


def issue(client, headers, pliers_id: str, to: str):
    return client.post(f"/api/v1/pliers/{pliers_id}/issue", json={"to": to}, headers=headers)


def give_back(client, headers, pliers_id: str):
    return client.post(f"/api/v1/pliers/{pliers_id}/return", headers=headers)


def history(db, pliers_id: str) -> list[tuple[str, str, str]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(
            select(pliers_history.c.action, pliers_history.c.user_id, pliers_history.c.by)
            .where(pliers_history.c.pliers_id == pliers_id).order_by(pliers_history.c.id)
        )]


def pliers_audit(db) -> list[tuple]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.entity_id, audit_log.c.before, audit_log.c.after)
            .where(audit_log.c.entity == "pliers").order_by(audit_log.c.id)
        )]


# -- the command ---------------------------------------------------------------------------------


def test_the_command_issues_lists_returns_and_shows_the_history(run, staff):
    issued = run("pliers", "issue", "P-01", "--to", "inspector01")
    assert issued.exit_code == 0, issued.output
    assert issued.stdout.startswith("pliers P-01: inspector01 (Inspector01) since ")
    assert run("pliers", "issue", "P-02", "--to", "inspector02").exit_code == 0

    listed = run("pliers", "list").stdout.splitlines()
    assert [line.split()[:2] for line in listed] == [["P-01", "inspector01"], ["P-02", "inspector02"]]

    returned = run("pliers", "return", "P-01")
    assert returned.exit_code == 0 and returned.stdout == "pliers P-01: in store\n"

    shown = run("pliers", "show", "P-01").stdout.splitlines()
    assert shown[0] == "pliers P-01: in store"
    assert [line.split()[1:5] for line in shown[1:]] == [
        ["issued", "inspector01", "by", "cli"], ["returned", "inspector01", "by", "cli"],
    ]


def test_the_command_refuses_with_what_to_do(run, staff):
    assert run("pliers", "list").stdout == "the pliers register is empty; 'fieldsync pliers issue' adds pliers\n"
    run("pliers", "issue", "P-01", "--to", "inspector01")

    taken = run("pliers", "issue", "P-01", "--to", "inspector02")
    assert taken.exit_code == 1
    assert "Pliers P-01 are held by inspector01. Return them first" in taken.stderr

    assert "not an inspector" in run("pliers", "issue", "P-02", "--to", "reader01").stderr
    assert "No active user nobody" in run("pliers", "issue", "P-02", "--to", "nobody").stderr
    assert run("pliers", "return", "P-01").exit_code == 0
    in_store = run("pliers", "return", "P-01")
    assert in_store.exit_code == 1 and "not issued to anyone" in in_store.stderr
    assert "No pliers P-09 in the register" in run("pliers", "show", "P-09").stderr


# -- the API -------------------------------------------------------------------------------------


def test_a_supervisor_issues_and_takes_back_pliers_and_sees_their_history(client, db, supervisor):
    res = issue(client, supervisor, "P-07", "inspector01")
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["id"], body["holder"], body["holder_name"]) == ("P-07", "inspector01", "Inspector01")
    assert body["issued_at"] is not None

    listed = client.get("/api/v1/pliers", headers=supervisor).json()["pliers"]
    assert [(p["id"], p["holder"]) for p in listed] == [("P-07", "inspector01")]

    res = give_back(client, supervisor, "P-07")
    assert res.status_code == 200
    assert res.json() == {"id": "P-07", "holder": None, "holder_name": None, "issued_at": None}

    issue(client, supervisor, "P-07", "inspector02")
    detail = client.get("/api/v1/pliers/P-07", headers=supervisor).json()
    assert detail["holder"] == "inspector02"
    assert [(h["action"], h["user"], h["by"]) for h in detail["history"]] == [
        ("issued", "inspector01", "super01"), ("returned", "inspector01", "super01"), ("issued", "inspector02", "super01"),
    ]
    assert detail["history"][0]["at"] <= detail["history"][1]["at"] <= detail["history"][2]["at"]


def test_every_issue_and_return_is_audited_with_before_and_after(client, db, supervisor):
    issue(client, supervisor, "P-07", "inspector01")
    give_back(client, supervisor, "P-07")
    entries = pliers_audit(db)
    assert [(actor, action, entity_id) for actor, action, entity_id, _, _ in entries] == [
        ("super01", "pliers.issue", "P-07"), ("super01", "pliers.return", "P-07"),
    ]
    (_, _, _, before_issue, after_issue), (_, _, _, before_return, after_return) = entries
    assert before_issue is None  # new pliers, added by this issue
    assert after_issue["holder_id"] == before_return["holder_id"] == "inspector01"
    assert after_return == {"holder_id": None, "issued_at": None}


def test_issuing_pliers_to_their_holder_again_records_nothing(client, db, supervisor):
    first = issue(client, supervisor, "P-07", "inspector01").json()
    again = issue(client, supervisor, "P-07", "inspector01")
    assert again.status_code == 200 and again.json() == first
    assert history(db, "P-07") == [("issued", "inspector01", "super01")]
    assert len(pliers_audit(db)) == 1


def error(res) -> tuple[int, str]:
    return res.status_code, res.json()["error"]["code"]


def test_pliers_held_by_someone_else_must_be_returned_first(client, db, supervisor):
    issue(client, supervisor, "P-07", "inspector01")
    res = issue(client, supervisor, "P-07", "inspector02")
    assert error(res) == (409, "invalid_state")
    assert "held by inspector01. Return them first" in res.json()["error"]["message"]
    assert client.get("/api/v1/pliers/P-07", headers=supervisor).json()["holder"] == "inspector01"
    assert history(db, "P-07") == [("issued", "inspector01", "super01")]


def test_two_keepers_issuing_the_same_new_pliers_at_once_give_them_to_one_inspector(db, staff):
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def issue_to(inspector: str) -> None:
        start.wait()
        try:
            outcomes[inspector] = register.issue_pliers(db, "P-07", inspector, actor="super01").holder or "-"
        except ApiError as exc:
            outcomes[inspector] = exc.code

    threads = [threading.Thread(target=issue_to, args=(name,)) for name in ("inspector01", "inspector02")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winner = next(name for name, outcome in outcomes.items() if outcome == name)
    assert sorted(outcomes.values()) == sorted([winner, "invalid_state"])
    assert history(db, "P-07") == [("issued", winner, "super01")]


def test_pliers_in_store_cannot_be_returned(client, db, supervisor):
    issue(client, supervisor, "P-07", "inspector01")
    give_back(client, supervisor, "P-07")
    res = give_back(client, supervisor, "P-07")
    assert error(res) == (409, "invalid_state")
    assert "not issued to anyone" in res.json()["error"]["message"]
    assert len(history(db, "P-07")) == 2


def test_pliers_go_only_to_active_inspectors(client, db, supervisor):
    with db.write() as conn:
        conn.execute(update(users).where(users.c.id == "inspector02").values(active=False))
    assert error(issue(client, supervisor, "P-07", "reader01")) == (409, "invalid_state")
    assert error(issue(client, supervisor, "P-07", "nobody")) == (404, "not_found")
    assert error(issue(client, supervisor, "P-07", "inspector02")) == (404, "not_found")
    # A refused issue does not add the pliers to the register either.
    assert client.get("/api/v1/pliers", headers=supervisor).json() == {"pliers": []}


def test_unknown_pliers_are_not_found(client, supervisor):
    assert error(client.get("/api/v1/pliers/P-404", headers=supervisor)) == (404, "not_found")
    assert error(give_back(client, supervisor, "P-404")) == (404, "not_found")


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("/api/v1/pliers/P-07/issue", {"to": "inspector01", "by": "admin01"}, 400, "unknown_field"),
    ("/api/v1/pliers/P-07/issue", {}, 400, "invalid_request"),
    ("/api/v1/pliers/P-07/issue", {"to": "x" * 65}, 400, "invalid_request"),
    ("/api/v1/pliers/P%2007/issue", {"to": "inspector01"}, 400, "invalid_request"),
    (f"/api/v1/pliers/{'P' * 65}/issue", {"to": "inspector01"}, 400, "invalid_request"),
])
def test_malformed_requests_change_nothing(client, db, supervisor, path, body, status, code):
    assert error(client.post(path, json=body, headers=supervisor)) == (status, code)
    assert pliers_audit(db) == []


@pytest.mark.parametrize("username", ["reader01", "inspector01", "reviewer01"])
def test_field_and_review_staff_may_not_touch_the_register(client, db, staff, supervisor, username):
    issue(client, supervisor, "P-01", "inspector01")
    headers = login(client, username, f"tab-{username}")
    answers = [
        issue(client, headers, "P-02", "inspector02"),
        give_back(client, headers, "P-01"),
        client.get("/api/v1/pliers", headers=headers),
        client.get("/api/v1/pliers/P-01", headers=headers),
    ]
    assert [error(res) for res in answers] == [(403, "forbidden")] * 4
    assert history(db, "P-01") == [("issued", "inspector01", "super01")]
    assert history(db, "P-02") == []


@pytest.mark.parametrize("username", ["super01", "admin01"])
def test_supervisors_and_admins_keep_the_register(client, staff, username):
    headers = login(client, username, "pc-office")
    answers = [
        issue(client, headers, "P-01", "inspector01"),
        client.get("/api/v1/pliers", headers=headers),
        client.get("/api/v1/pliers/P-01", headers=headers),
        give_back(client, headers, "P-01"),
    ]
    assert [res.status_code for res in answers] == [200] * 4


def test_the_openapi_document_describes_the_issue_body(client):
    doc = client.get("/schema/openapi.json").json()
    op = doc["paths"]["/api/v1/pliers/{pliers_id}/issue"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/IssuePliersRequest"}
    assert {"403", "404", "409"} <= set(op["responses"])


# -- what the push rule reads ----------------------------------------------------------------------


def test_a_seal_installed_with_pliers_issued_through_the_api_is_not_flagged(client, db, supervisor):
    meter = add_route(db, "r-01", 1)[0]
    inspector = login(client, "inspector01", "tab-i1")

    def install(number: str) -> set[str]:
        item = seal_event(meter, "installed", number, pliers_id="P-07", participants=["inspector01", "inspector02"],
                          recorded_at=now_text())
        result = push(client, inspector, batch([item], device_id="tab-i1")).json()["results"][0]
        return {f["code"] for f in result["flags"]}

    issue(client, supervisor, "P-07", "inspector01")
    assert "pliers_not_issued" not in install("S-NEW-1")
    give_back(client, supervisor, "P-07")
    assert "pliers_not_issued" in install("S-NEW-2")
