"""One sync run's way of calling the server: log in again when the token has expired,
stop on the codes that say stop, wait and try again on the ones that say later."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

from sync.client.api import Api, OutcomeUnknown, ServerRefused
from sync.client.report import SyncReport
from sync.client.retry import Backoff, GaveUp

T = TypeVar("T")

# The run cannot go on; the outbox is kept for a later run (PROTOCOL §1, §2, §3).
STOP_CODES = {"token_revoked", "device_revoked", "forbidden", "device_mismatch", "schema_too_new",
              "invalid_credentials"}
LOG_IN_AGAIN = {"token_expired", "unauthenticated"}


class SyncStopped(Exception):
    """The run stopped early; nothing in the outbox is lost."""


@dataclass
class Session:
    api: Api
    backoff: Backoff
    report: SyncReport
    relogin: Callable[[], None] | None = None

    def call(self, request: Callable[[], T]) -> T:
        """``request`` once more after logging in again if the token expired; stop codes stop the run."""
        try:
            return request()
        except ServerRefused as exc:
            if exc.code in LOG_IN_AGAIN and self.relogin is not None:
                self.relogin()
                return self._stop_on_refusal(request)
            self._raise_stop(exc)
            raise

    def _stop_on_refusal(self, request: Callable[[], T]) -> T:
        try:
            return request()
        except ServerRefused as exc:
            self._raise_stop(exc)
            if exc.code in LOG_IN_AGAIN:
                raise SyncStopped(f"{exc.code}: {exc.message}") from exc
            raise

    @staticmethod
    def _raise_stop(exc: ServerRefused) -> None:
        if exc.code in STOP_CODES:
            raise SyncStopped(f"{exc.code}: {exc.message}") from exc

    def retrying(self, request: Callable[[], T]) -> T:
        """An idempotent request (a read, a receipt, a HEAD) until it is answered."""
        attempt = 0
        while True:
            try:
                return self.call(request)
            except OutcomeUnknown as exc:
                self.wait(attempt, None, exc)
            except ServerRefused as exc:
                if not exc.retry_later:
                    raise
                self.wait(attempt, exc.retry_after_s, exc)
            attempt += 1

    def wait(self, attempt: int, retry_after_s: float | None, why: Exception) -> None:
        try:
            self.backoff.wait(attempt, retry_after_s)
        except GaveUp as exc:
            raise SyncStopped(f"no answer after {attempt + 1} tries: {why}") from exc
        self.report.retries += 1
