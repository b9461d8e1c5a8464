"""What one sync run did, for the user and for the station's figures."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SyncReport:
    sent: int = 0  # items answered for, each counted once whatever the resends
    accepted: int = 0
    flagged: int = 0
    rejected: int = 0
    duplicates: int = 0
    photos_uploaded: int = 0
    photos_already_held: int = 0
    photos_failed: int = 0
    batches: int = 0
    receipts_used: int = 0  # answers learnt from a receipt after a lost answer
    resends: int = 0  # batches sent again after a receipt said 404
    retries: int = 0  # waits before trying a request again
    pulled_changes: int = 0
    errors: list[str] = field(default_factory=list)
    batch_latencies_s: list[float] = field(default_factory=list)  # first send to answer, per batch
    stopped: str | None = None  # why the run stopped early (revoked, forbidden, server gone …)

    def count_result(self, status: str) -> None:
        self.sent += 1
        if status == "accepted":
            self.accepted += 1
        elif status == "flagged":
            self.flagged += 1
        elif status == "rejected":
            self.rejected += 1
        elif status == "duplicate":
            self.duplicates += 1

    def add(self, other: "SyncReport") -> None:
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, int):
                setattr(self, name, mine + value)
            elif isinstance(value, list):
                mine.extend(value)
        if other.stopped and not self.stopped:
            self.stopped = other.stopped

    @property
    def ok(self) -> bool:
        return self.stopped is None

    def line(self) -> str:
        return (f"sent {self.sent}: {self.accepted} accepted, {self.flagged} flagged, {self.rejected} rejected, "
                f"{self.duplicates} duplicate; photos {self.photos_uploaded} uploaded; retries {self.retries}; "
                f"errors {len(self.errors)}" + (f"; stopped: {self.stopped}" if self.stopped else ""))
