"""Pull the tablet's work into the outbox's local tables (PROTOCOL §4).

Pages are applied in ``seq`` order together with their cursor, so a tablet
that stops between pages pulls on from where it was. A cursor the server
cannot parse (400 ``invalid_cursor``) or serve (410 ``cursor_expired``) is
dropped and the work pulled again in full, replacing the local copy; the
outbox is never touched by a pull. On 426 ``schema_too_old`` the tablet stops
pulling and keeps uploading (upload-only mode).
"""

from __future__ import annotations

from sync.client.api import ServerRefused
from sync.client.outbox import Outbox
from sync.client.session import Session, SyncStopped

PAGE_LIMIT = 500
# More pages than any route holds: a server that never says has_more = false is a fault.
MAX_PAGES = 100_000
START_AGAIN = {"invalid_cursor", "cursor_expired"}


def pull_work(session: Session, outbox: Outbox, limit: int = PAGE_LIMIT) -> None:
    if outbox.get("upload_only") == "1":
        return
    started_again = False
    for _ in range(MAX_PAGES):
        cursor = outbox.cursor()
        try:
            page = session.retrying(lambda: session.api.pull(cursor, limit))
        except ServerRefused as exc:
            if exc.code in START_AGAIN and not started_again:
                outbox.forget_cursor()
                started_again = True
                continue
            if exc.code == "schema_too_old":
                outbox.put("upload_only", "1")
                session.report.errors.append("schema_too_old: pulling stopped, uploads go on; update the app")
                return
            raise
        outbox.apply_page(page)
        session.report.pulled_changes += len(page.changes)
        if not page.has_more:
            return
    raise SyncStopped(f"the pull did not end after {MAX_PAGES} pages")
