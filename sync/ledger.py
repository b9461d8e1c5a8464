"""The plain view of the ledger that the push rules read.

Everything here is fetched for a whole batch at once, by key sets taken from
the batch's items, so a batch costs a fixed number of queries whatever its
size: meters joined with their customers; their current seals; the last
``consumption_intervals + 1`` actual reads per register (a window query);
the count of earlier readings per meter; the meter's last few cycles; the
values stored in the assignments' cycles; the submitter's open assignments
and the assignments the items name; the users the items name; the pliers the
items name with their issue history.

Times are timezone-aware UTC; dates are station dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import Callable, Iterator, Mapping, Sequence, overload
from zoneinfo import ZoneInfo

from sync.consumption import ActualRead
from sync.thresholds import Thresholds


def primary_register(registers: Sequence[str]) -> str:
    """The register that stands for the whole meter: "total" when it has one."""
    return "total" if "total" in registers else registers[0]


@dataclass(frozen=True, slots=True)
class SealView:
    """A seal the ledger holds on a meter now (not removed)."""

    position: str
    number: str


@dataclass(frozen=True, slots=True)
class CycleRead:
    """How a meter was read in one earlier cycle.

    ``method`` is "actual" or "unable" (a cycle with no reading at all may be
    given as "missing"); ``consumption_kwh`` is the cycle's energy
    (advance × multiplier) for an actual read, None otherwise.
    """

    cycle: str
    method: str
    consumption_kwh: Decimal | None


class LazyCycles(Sequence[CycleRead]):
    """A meter's recent cycles, worked out from its readings the first time a rule asks:
    only a zero or an unable reading does, so most batches never pay for them."""

    __slots__ = ("_make", "_cycles")

    def __init__(self, make: Callable[[], tuple[CycleRead, ...]]) -> None:
        self._make = make
        self._cycles: tuple[CycleRead, ...] | None = None

    def _all(self) -> tuple[CycleRead, ...]:
        if self._cycles is None:
            self._cycles = self._make()
        return self._cycles

    @overload
    def __getitem__(self, index: int) -> CycleRead: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[CycleRead, ...]: ...
    def __getitem__(self, index: int | slice) -> CycleRead | tuple[CycleRead, ...]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[CycleRead]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, (tuple, LazyCycles)) else other)

    def __repr__(self) -> str:
        return f"LazyCycles({self._all()!r})"


@dataclass(frozen=True, slots=True)
class MeterView:
    """One meter with its customer's facts and the history the rules compare with.

    ``history`` maps a register to its actual reads, oldest first.
    ``reads_before`` counts the meter's earlier reading occasions (all its
    registers read at once count as one). ``recent_cycles`` are the meter's
    last cycles before this one, oldest first. ``stored_cycle_values`` maps
    ``(register, cycle)`` to the actual value already stored for it.
    """

    id: str
    customer_id: str | None
    route_id: str
    district_id: str
    category: str
    customer_class: str | None
    multiplier: Decimal
    dials: int
    registers: tuple[str, ...]
    installed_at: datetime | None = None
    removed_at: datetime | None = None
    temp_supply_until: date | None = None
    lat: Decimal | None = None
    lon: Decimal | None = None
    seals: tuple[SealView, ...] = ()
    history: Mapping[str, tuple[ActualRead, ...]] = field(default_factory=dict)
    reads_before: int = 0
    recent_cycles: Sequence[CycleRead] = ()
    stored_cycle_values: Mapping[tuple[str, str], str] = field(default_factory=dict)
    _last: dict[str, ActualRead | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def primary_register(self) -> str:
        return primary_register(self.registers)

    @property
    def register_range(self) -> Decimal:
        """10^dials: the first value the register cannot show."""
        return Decimal(10) ** self.dials

    def last_actual(self, register: str) -> ActualRead | None:
        try:
            return self._last[register]  # several rules ask for it, for every reading
        except KeyError:
            reads = self.history.get(register, ())
            last = self._last[register] = max(reads, key=_read_at) if reads else None
            return last


@dataclass(frozen=True, slots=True)
class AssignmentView:
    id: str
    user_id: str
    meter_id: str
    cycle: str
    task: str  # read | reread | inspect
    due_from: date
    due_until: date
    status: str  # open | closed | cancelled | moved

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    roles: frozenset[str]
    active: bool = True

    def is_active_inspector(self) -> bool:
        return self.active and "inspector" in self.roles


@dataclass(frozen=True, slots=True)
class PliersIssue:
    """One past issue of pliers to a person, ended by their return."""

    holder_id: str
    issued_at: datetime
    returned_at: datetime


@dataclass(frozen=True, slots=True)
class PliersView:
    """Seal pliers: who holds them now (since when), and who held them before."""

    id: str
    holder_id: str | None
    issued_at: datetime | None
    past: tuple[PliersIssue, ...] = ()

    def holder_at(self, at: datetime) -> str | None:
        """Who the pliers were issued to at ``at``, or None when they were in store."""
        if self.holder_id is not None and self.issued_at is not None and self.issued_at <= at:
            return self.holder_id
        for issue in self.past:
            if issue.issued_at <= at < issue.returned_at:
                return issue.holder_id
        return None


_read_at = attrgetter("read_at")


@lru_cache(maxsize=4096)  # the rules ask for an item's time several times
def _corrected(device_time: datetime, skew_s: float) -> datetime:
    if device_time.tzinfo is None:
        device_time = device_time.replace(tzinfo=timezone.utc)
    return (device_time - timedelta(seconds=skew_s)).astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class BatchContext:
    """The facts of the batch as a whole.

    ``skew_s`` is ``sent_at - server_time``: a device clock ahead of the
    server gives a positive skew, and its times are moved back by it.
    """

    now: datetime
    skew_s: float
    station_tz: str
    submitter: UserView
    thresholds: Thresholds = field(default_factory=Thresholds)

    def corrected(self, device_time: datetime) -> datetime:
        """A device time on the server's clock (UTC). The wire requires an offset;
        a naive time is taken as UTC rather than guessed."""
        return _corrected(device_time, self.skew_s)

    def station_date(self, server_time: datetime) -> date:
        """The station date on which a time of the server's clock falls."""
        return server_time.astimezone(ZoneInfo(self.station_tz)).date()


@dataclass(frozen=True, slots=True)
class BatchLedger:
    """What the ledger holds for one batch, keyed by id."""

    meters: Mapping[str, MeterView] = field(default_factory=dict)
    assignments: Mapping[str, AssignmentView] = field(default_factory=dict)
    users: Mapping[str, UserView] = field(default_factory=dict)
    pliers: Mapping[str, PliersView] = field(default_factory=dict)
    _open_meters: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_user: dict[str, set[str]] = {}
        for a in self.assignments.values():
            if a.is_open:
                by_user.setdefault(a.user_id, set()).add(a.meter_id)
        object.__setattr__(self, "_open_meters", {u: frozenset(m) for u, m in by_user.items()})

    def open_meter_ids(self, user_id: str) -> frozenset[str]:
        """The meters of the user's open assignments."""
        return self._open_meters.get(user_id, frozenset())


__all__ = [
    "AssignmentView",
    "BatchContext",
    "BatchLedger",
    "CycleRead",
    "LazyCycles",
    "MeterView",
    "PliersIssue",
    "PliersView",
    "SealView",
    "UserView",
]
