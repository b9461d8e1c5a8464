"""Who may do what on the review, audit and inspection-order routes: every role against every route.

Allowed means the role gets past the door (the answer may still be a 404,
409 or 422 about the request itself); refused means 403 ``forbidden``.
"""

from __future__ import annotations

import pytest

from tests.push_helpers import batch
from tests.review_helpers import TASKS, Staff, error_code, insert_task, make_station

USER_OF_ROLE = {"reader": "reader01", "inspector": "inspector01", "reviewer": "reviewer01",
                "supervisor": "super01", "admin": "admin01"}
QUEUE_ROLES = {"reviewer", "supervisor", "admin"}
OFFICE_ROLES = {"supervisor", "admin"}
TASK = f"{TASKS}/rt-direct"

# (name, method, path, body, roles allowed)
ROUTES = [
    ("list the queue", "GET", TASKS, None, QUEUE_ROLES),
    ("show a task", "GET", TASK, None, QUEUE_ROLES),
    ("claim", "POST", f"{TASK}/claim", None, QUEUE_ROLES),
    ("release", "POST", f"{TASK}/release", None, QUEUE_ROLES),
    ("resolve", "POST", f"{TASK}/resolve", {"decision": "dismiss"}, QUEUE_ROLES),
    ("approve", "POST", f"{TASK}/approve", {"approved": True}, {"supervisor"}),
    ("order an inspection", "POST", "/api/v1/inspection-orders",
     {"meter_id": "m-r-01-0000", "kind": "routine"}, OFFICE_ROLES),
    ("read the audit log", "GET", "/api/v1/audit", None, OFFICE_ROLES),
    ("push field items", "POST", "/api/v1/sync/push", "batch", {"reader", "inspector"}),
]


@pytest.mark.parametrize("role", sorted(USER_OF_ROLE))
@pytest.mark.parametrize("name, method, path, body, allowed", ROUTES, ids=[r[0] for r in ROUTES])
def test_each_role_on_each_route(client, db, role, name, method, path, body, allowed):
    make_station(db)
    insert_task(db)
    staff = Staff(client)
    user = USER_OF_ROLE[role]
    if body == "batch":
        body = batch([], device_id=f"tab-{user}")
    res = client.request(method, path, json=body, headers=staff[user])
    if role in allowed:
        assert res.status_code not in (401, 403), f"{role} may {name}: {res.status_code} {res.text}"
    else:
        assert (res.status_code, error_code(res)) == (403, "forbidden"), f"{role} may not {name}"
