"""The reference tablet client: an offline outbox in SQLite, batched pushes that survive
lost answers, resumable photo uploads, pulls of the route (docs/client.md).

Unlike the rest of ``sync`` this package does I/O: it is the tablet's side of
the protocol, used by tests, the simulator and tablet developers as the
executable reference.
"""

from sync.client.api import Api, OutcomeUnknown, ServerRefused
from sync.client.client import TabletClient
from sync.client.outbox import Outbox, StoredItem, StoredPhoto
from sync.client.report import SyncReport
from sync.client.retry import Backoff, GaveUp
from sync.client.session import SyncStopped

__all__ = [
    "Api", "Backoff", "GaveUp", "Outbox", "OutcomeUnknown", "ServerRefused", "StoredItem", "StoredPhoto",
    "SyncReport", "SyncStopped", "TabletClient",
]
