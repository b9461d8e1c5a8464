"""The reference tablet client: record offline into the outbox, then sync when there is a network.

    outbox = Outbox("tablet.db")
    tablet = TabletClient(outbox, httpx.Client(base_url=URL, timeout=30), device_id="tab-17")
    tablet.login("reader01", "demo")
    tablet.pull()                        # the route, into outbox.pulled("meter") …
    tablet.record(items.reading(...))    # kept at once, with its op_id
    report = tablet.sync()               # push, photos, pull; a SyncReport

The HTTP client is injected, so tests and the simulator give it a transport
that loses requests and answers.
"""

from __future__ import annotations

import msgspec
import httpx

from field_schemas import push as wire
from field_schemas.auth import LoginResponse
from sync.client.api import Api, OutcomeUnknown, ServerRefused
from sync.client.outbox import Outbox
from sync.client.photos import CHUNK_BYTES, PhotoUploader
from sync.client.pulling import PAGE_LIMIT, pull_work
from sync.client.pushing import MAX_BATCH_ITEMS, push_outbox
from sync.client.report import SyncReport
from sync.client.retry import Backoff, GaveUp
from sync.client.session import Session, SyncStopped

_validate_item = msgspec.json.Decoder(wire.Item)


class TabletClient:
    def __init__(self, outbox: Outbox, http: httpx.Client, *, device_id: str, backoff: Backoff | None = None,
                 batch_size: int = MAX_BATCH_ITEMS, chunk_bytes: int = CHUNK_BYTES, pull_limit: int = PAGE_LIMIT,
                 app_version: str = "fieldsync-reference-client/1") -> None:
        bound = outbox.get("device_id")
        if bound is not None and bound != device_id:
            raise ValueError(f"this outbox belongs to device {bound}, not {device_id}")
        if bound is None:
            outbox.put("device_id", device_id)
        self.outbox = outbox
        self.device_id = device_id
        self.api = Api(http, app_version=app_version, token=outbox.get("token"))
        self.backoff = backoff or Backoff()
        self.batch_size = batch_size
        self.chunk_bytes = chunk_bytes
        self.pull_limit = pull_limit
        self._credentials: tuple[str, str] | None = None

    # -- recording, offline ------------------------------------------------------------------

    def record(self, item: wire.Item) -> str:
        """Keep the item at once; refuses (ValueError) what the server's schema would refuse."""
        try:
            _validate_item.decode(msgspec.json.encode(item))
        except msgspec.ValidationError as exc:
            raise ValueError(f"this item breaks the protocol's schema: {exc}") from exc
        return self.outbox.record(item)

    def record_photo(self, data: bytes) -> str:
        """Keep the photo's original bytes; the returned SHA-256 goes in the items' ``photo_ids``."""
        return self.outbox.record_photo(data)

    # -- the network -------------------------------------------------------------------------

    def login(self, username: str, password: str) -> LoginResponse:
        """Log in, trying again while there is no answer; a refusal (wrong password, throttled,
        revoked device) is the user's to act on and is raised as it is."""
        attempt = 0
        while True:
            try:
                answer = self.api.login(username, password, self.device_id)
                break
            except OutcomeUnknown:
                self.backoff.wait(attempt)
                attempt += 1
        self._credentials = (username, password)
        self.outbox.put("token", answer.token)
        self.outbox.put("username", username)
        return answer

    def _relogin(self) -> None:
        if self._credentials is None:
            raise SyncStopped("the token has expired; log in again")
        self.login(*self._credentials)

    def _session(self, report: SyncReport) -> Session:
        return Session(self.api, self.backoff, report, relogin=self._relogin)

    def push(self, report: SyncReport | None = None) -> SyncReport:
        """Items, then photos."""
        report = report or SyncReport()
        session = self._session(report)
        self._guarded(report, lambda: push_outbox(session, self.outbox, self.device_id, self.batch_size))
        if report.ok:
            uploader = PhotoUploader(session, self.outbox, self.chunk_bytes)
            self._guarded(report, uploader.upload_pending)
        return report

    def pull(self, report: SyncReport | None = None) -> SyncReport:
        report = report or SyncReport()
        session = self._session(report)
        self._guarded(report, lambda: pull_work(session, self.outbox, self.pull_limit))
        return report

    def sync(self) -> SyncReport:
        """A whole sync: push items, upload photos, then pull (new work, outcomes of reviews)."""
        report = self.push()
        if report.ok:
            self.pull(report)
        return report

    @staticmethod
    def _guarded(report: SyncReport, step) -> None:  # noqa: ANN001
        try:
            step()
        except (SyncStopped, ServerRefused, GaveUp) as exc:  # a refusal no rule covers also ends the run
            report.stopped = str(exc)
            report.errors.append(str(exc))
