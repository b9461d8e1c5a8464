"""The review queue's decisions (PROTOCOL §7), pure: who may move a task where,
what a decision needs and leads to, who goes out to the field, who learns
the outcome, and the opaque keyset cursors of the queue and the audit log.

States: ``open`` → ``claimed`` → ``resolved``, or → ``pending_approval`` →
``resolved``; ``claimed`` → ``open`` on release; ``pending_approval`` →
``open`` when the supervisor does not approve.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Literal, Mapping, Sequence

import msgspec

from sync.consumption import register_advance
from sync.ledger import UserView

STATUSES = ("open", "claimed", "pending_approval", "resolved")
DECISIONS = ("confirm", "dismiss", "reread", "inspect", "escalate")
# Decisions that send someone to the meter; the task is resolved as they go out.
FOLLOW_UPS = ("reread", "inspect")
TEAM_SIZE = 2
# The follow-up's reason travels to the tablet in a column of this size.
REASON_MAX_LENGTH = 500
INSPECTION_KINDS = ("theft_check", "routine", "census")
# 退补电量: a signed energy correction, + billed extra, − refunded.
_ADJUSTMENT = re.compile(r"^[+-]?\d{1,12}(\.\d{1,4})?$")


class Refusal(Exception):
    """A request the task's state or the decision's content does not allow; ``code`` is the API's."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class TaskState:
    status: str
    claimed_by: str | None
    decided_by: str | None = None


def check_claim(task: TaskState, user_id: str) -> bool:
    """Whether claiming changes anything: False when the caller already holds the task."""
    if task.status == "claimed":
        if task.claimed_by == user_id:
            return False
        raise Refusal("already_claimed", f"{task.claimed_by} holds this task. Pick another one from the queue.")
    if task.status != "open":
        raise Refusal("invalid_state", f"The task is {task.status}; only an open task can be claimed.")
    return True


def check_holder(task: TaskState, user_id: str, doing: str) -> None:
    """Release and resolve are for the reviewer holding the claim."""
    if task.status in ("pending_approval", "resolved"):
        raise Refusal("invalid_state", f"The task is {task.status}; it can no longer be {doing}.")
    if task.status != "claimed" or task.claimed_by != user_id:
        holder = f"{task.claimed_by} holds it" if task.claimed_by else "nobody holds it"
        raise Refusal("not_claimed_by_you", f"Only the reviewer holding the claim may do this ({holder}). Claim it first.")


def check_approver(task: TaskState, user_id: str) -> None:
    if task.status != "pending_approval":
        raise Refusal("invalid_state", f"The task is {task.status}; only a task pending approval can be approved.")
    if task.decided_by == user_id:
        raise Refusal("self_approval", "You made this decision; another supervisor approves it.")


def status_after_approval(approved: bool) -> str:
    """Approved: resolved. Not approved: open again, for a new decision."""
    return "resolved" if approved else "open"


@dataclass(frozen=True)
class Decision:
    decision: str
    note: str | None
    adjustment_kwh: str | None
    team: tuple[str, ...] | None

    @property
    def status(self) -> str:
        """Escalations and energy corrections wait for a supervisor; the rest resolve at once."""
        if self.decision == "escalate" or self.adjustment_kwh is not None:
            return "pending_approval"
        return "resolved"

    @property
    def follow_up(self) -> str | None:
        return self.decision if self.decision in FOLLOW_UPS else None


def judge_decision(decision: str, note: str | None, adjustment_kwh: str | None, team: Sequence[str] | None) -> Decision:
    """The decision as given, or a ``Refusal('invalid_decision')`` saying what to change.

    Whether a named team is made of active inspectors is ``team_problem``'s
    question: it needs the users.
    """
    if decision not in DECISIONS:
        raise _invalid(f"Unknown decision {decision!r}; use one of {', '.join(DECISIONS)}.", "$.decision")
    if adjustment_kwh is not None:
        if not _ADJUSTMENT.match(adjustment_kwh):
            raise _invalid(f"adjustment_kwh {adjustment_kwh!r} must be a decimal string such as \"-120.5\".",
                           "$.adjustment_kwh")
        if decision in FOLLOW_UPS:
            raise _invalid("An energy correction is decided after the re-read or inspection, not with it. "
                           "Send the adjustment without a follow-up, or the follow-up without adjustment.",
                           "$.adjustment_kwh")
    if team is not None and decision != "inspect":
        raise _invalid("A team is named only for an inspect decision.", "$.team")
    if decision in FOLLOW_UPS and note is not None and len(note) > REASON_MAX_LENGTH:
        raise _invalid(f"The note becomes the field team's reason: at most {REASON_MAX_LENGTH} characters.", "$.note")
    return Decision(decision, note, adjustment_kwh, tuple(team) if team is not None else None)


def _invalid(message: str, field: str) -> Refusal:
    return Refusal("invalid_decision", message, field)


def team_problem(team: Sequence[str], users: Mapping[str, UserView]) -> str | None:
    """Why ``team`` cannot inspect (two or more distinct active inspectors), or None."""
    if len(set(team)) != len(team):
        return "The team names someone twice."
    if len(team) < TEAM_SIZE:
        return f"Inspections take at least {TEAM_SIZE} inspectors; the team names {len(team)}."
    unfit = [u for u in team if u not in users or not users[u].is_active_inspector()]
    if unfit:
        return f"Not active inspectors: {', '.join(unfit)}. Name active inspectors, or leave the team out."
    return None


def pick_team(open_orders: Mapping[str, int]) -> tuple[str, ...] | None:
    """The two active inspectors (the keys) with the fewest open orders, ties by username;
    None when the station has fewer than two."""
    ranked = sorted(open_orders, key=lambda user: (open_orders[user], user))
    return tuple(ranked[:TEAM_SIZE]) if len(ranked) >= TEAM_SIZE else None


def inspection_kind(task_kind: str, inspections_held: Sequence[str]) -> str:
    """A theft check, unless the task follows up a routine or census inspection without theft signs."""
    if task_kind != "theft" and inspections_held and inspections_held[-1] in INSPECTION_KINDS:
        return inspections_held[-1]
    return "theft_check"


def follow_up_reason(note: str | None, flags: Iterable[Mapping[str, Any]]) -> str:
    """What the field team is told: the reviewer's note, else the flags that raised the task."""
    if note:
        return note
    codes = list(dict.fromkeys(str(f.get("code")) for f in flags))
    return ("Review: " + ", ".join(codes))[:REASON_MAX_LENGTH] if codes else "Requested by review"


def outcome_recipients(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``(op_id, user_id)`` of a task's items → each user's op_ids, in a stable order."""
    by_user: dict[str, list[str]] = defaultdict(list)
    for op_id, user_id in items:
        by_user[user_id].append(op_id)
    return {user: sorted(ops) for user, ops in sorted(by_user.items())}


@dataclass(frozen=True)
class ReadingPoint:
    value: str | None
    method: str
    status: str


def consumption_series(points: Sequence[ReadingPoint], multiplier: Decimal, dials: int) -> list[Decimal | None]:
    """For readings oldest first: advance × multiplier since the previous valid actual read,
    None where there is no such pair. A value below the previous one counts as a wrapped
    register when the wrap is under half the register's range, and otherwise shows as the
    negative difference it is, so that a reverse reading stands out to the reviewer."""
    out: list[Decimal | None] = []
    previous: Decimal | None = None
    half_range = Decimal(10) ** dials / 2
    for p in points:
        value = Decimal(p.value) if p.method == "actual" and p.value is not None else None
        if value is None:
            out.append(None)
            continue
        if previous is None:
            out.append(None)
        else:
            advance = register_advance(previous, value, dials)
            out.append((advance if value >= previous or advance < half_range else value - previous) * multiplier)
        if p.status == "valid":
            previous = value
    return out


class InvalidPageCursor(ValueError):
    pass


@dataclass(frozen=True)
class TaskKey:
    """Where a page of the queue ended: the queue is ordered by priority, created_at, id."""

    priority: int
    created_at: datetime
    id: str


# On the wire a cursor is a tagged JSON array, so that one listing's cursor is refused by another.
_TaskCursor = tuple[Literal["t"], int, datetime, str]
_AuditCursor = tuple[Literal["a"], int]
_MAX_CURSOR = 512


def encode_task_cursor(key: TaskKey) -> str:
    return _encode(("t", key.priority, key.created_at, key.id))


def decode_task_cursor(text: str) -> TaskKey:
    _, priority, created_at, task_id = _decode(text, _TaskCursor)
    if created_at.tzinfo is None:
        raise InvalidPageCursor("not a cursor of the review queue")
    return TaskKey(priority, created_at, task_id)


def encode_audit_cursor(last_id: int) -> str:
    return _encode(("a", last_id))


def decode_audit_cursor(text: str) -> int:
    return _decode(text, _AuditCursor)[1]


def _encode(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).rstrip(b"=").decode("ascii")


def _decode(text: str, type_: Any) -> Any:
    if not text or len(text) > _MAX_CURSOR:
        raise InvalidPageCursor("empty or overlong cursor")
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), type=type_)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidPageCursor("not a cursor this server issued") from exc
