"""When to try again: exponential backoff with full jitter, and the server's Retry-After.

Full jitter (a random wait between 0 and ``base × 2^attempt``, capped) keeps a
station's tablets from coming back in step after an outage. A Retry-After from
the server is a floor: the tablet never comes back sooner than it was told,
and adds a little jitter of its own so that tablets told the same wait spread.
Every loop is bounded by ``max_attempts``; past it the run stops and the
outbox keeps everything for the next run.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

# A server's Retry-After beyond this is taken as this: a sync run must end.
MAX_RETRY_AFTER_S = 900.0


class GaveUp(Exception):
    """Retried as often as allowed; the work stays in the outbox for the next run."""


@dataclass
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0
    max_attempts: int = 12
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """The wait before try ``attempt + 1`` (``attempt`` counts from 0)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt, 62))
        jittered = self.rng.uniform(0, ceiling)
        if retry_after_s is None:
            return jittered
        floor = min(max(0.0, retry_after_s), MAX_RETRY_AFTER_S)
        return floor + self.rng.uniform(0, min(ceiling, self.base_s))

    def wait(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Sleep before the next try, or raise GaveUp when the tries are spent."""
        if attempt + 1 >= self.max_attempts:
            raise GaveUp(f"gave up after {attempt + 1} tries")
        seconds = self.delay(attempt, retry_after_s)
        self.sleep(seconds)
        return seconds
