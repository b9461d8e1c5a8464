"""A bad mobile network, as an httpx transport: a share of requests fail.

Three faults, each a tablet meets in the field:

- ``dropped_before``: the connection drops before the request leaves; the
  server never sees it.
- ``answer_lost``: the server gets the request and does the work, and the
  answer is lost on the way back; the tablet cannot tell this from the first.
- ``chunk_cut``: a photo chunk is cut off part-way; the server gets some of
  its bytes and then a closed connection.
"""

from __future__ import annotations

import threading
from collections import Counter
from random import Random
from typing import Iterator

import httpx

FAULTS = ("dropped_before", "answer_lost")


class _CutBody(httpx.SyncByteStream):
    """Sends the first ``cut`` bytes, then the connection breaks."""

    def __init__(self, body: bytes, cut: int) -> None:
        self.body, self.cut = body, cut

    def __iter__(self) -> Iterator[bytes]:
        yield self.body[:self.cut]
        raise httpx.WriteError("simulated: the connection broke in the middle of the chunk")


class FlakyTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, share: float, rng: Random) -> None:
        self.inner = inner
        self.share = share
        self.rng = rng
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _pick(self, request: httpx.Request) -> str | None:
        with self._lock:
            if self.share <= 0 or self.rng.random() >= self.share:
                return None
            kinds = FAULTS + (("chunk_cut",) if _is_chunk(request) else ())
            kind = self.rng.choice(kinds)
            self.injected[kind] += 1
            cut = self.rng.randrange(1, max(2, len(request.content)))
        request.extensions["fieldsync_cut"] = cut
        return kind

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        kind = self._pick(request)
        if kind is None:
            return self.inner.handle_request(request)
        if kind == "dropped_before":
            raise httpx.ConnectError("simulated: the connection dropped before the request left", request=request)
        if kind == "chunk_cut":
            cut = httpx.Request(request.method, request.url, headers=request.headers,
                                stream=_CutBody(request.content, request.extensions["fieldsync_cut"]))
            response = self.inner.handle_request(cut)  # raises once the body breaks
            response.close()
            raise httpx.WriteError("simulated: the chunk was cut off", request=request)
        response = self.inner.handle_request(request)
        response.read()
        response.close()
        raise httpx.ReadError("simulated: the answer was lost on the way back", request=request)

    def close(self) -> None:
        self.inner.close()


def _is_chunk(request: httpx.Request) -> bool:
    return request.method == "PATCH" and "/photos/uploads/" in request.url.path and len(request.content) > 1
