"""Push the outbox in batches (PROTOCOL §5).

A batch is built once from the oldest pending items and keeps its
``batch_id`` and items until the server has answered for it. When an answer
is lost (no answer, a timeout, a 5xx) the tablet first asks for the batch's
receipt and sends the batch again only when the receipt is 404: the batch
never committed. Rejected items are kept aside with their errors and never
sent again unchanged; they do not hold back the rest of the queue.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

import msgspec

from field_schemas import push as wire
from sync.client.api import OutcomeUnknown, ServerRefused
from sync.client.outbox import Batch, Outbox
from sync.client.session import Session, SyncStopped

MAX_BATCH_ITEMS = 500
ITEM_PATH = re.compile(r"^\$\.items\[(\d+)\]")
TOO_LARGE = {"batch_too_large", "body_too_large"}


def push_outbox(session: Session, outbox: Outbox, device_id: str, batch_size: int = MAX_BATCH_ITEMS) -> None:
    """Every pending item, batch after batch; a batch left unanswered by an earlier run goes first."""
    size = max(1, min(batch_size, MAX_BATCH_ITEMS))
    while True:
        batch = outbox.open_batch() or outbox.new_batch(size)
        if batch is None:
            return
        if not batch.items:  # an empty leftover: nothing to send
            outbox.dissolve(batch)
            continue
        try:
            answer = settle(session, outbox, batch, device_id)
        except ServerRefused as exc:
            size = _refused_whole(session, outbox, batch, exc, size)
            continue
        outbox.apply_answer(batch, answer)
        session.report.batches += 1
        for result in answer.results:
            session.report.count_result(result.status)
            if result.status == "rejected":
                session.report.errors.append(_rejection_line(result))


def settle(session: Session, outbox: Outbox, batch: Batch, device_id: str) -> wire.PushResponse:
    """The server's answer for ``batch``: sent, or learnt from its receipt after a lost answer."""
    answer_lost = batch.attempts > 0  # sent by an earlier run that never saw the answer
    attempt = 0
    while True:
        if answer_lost:
            receipt = session.retrying(lambda: session.api.receipt(batch.batch_id))
            if receipt is not None:
                session.report.receipts_used += 1
                return receipt
            session.report.resends += 1
        outbox.note_attempt(batch.batch_id)
        body = encode_batch(batch, device_id, session.api.schema_version)
        began = time.perf_counter()
        try:
            answer = session.call(lambda: session.api.push(body))
            session.report.batch_latencies_s.append(time.perf_counter() - began)
            return answer
        except OutcomeUnknown as exc:
            answer_lost = True
            session.wait(attempt, None, exc)
        except ServerRefused as exc:
            if not exc.retry_later:
                raise
            # The same batch is being processed by another request: its receipt will tell.
            answer_lost = exc.code == "batch_in_progress"
            session.wait(attempt, exc.retry_after_s, exc)
        attempt += 1


def encode_batch(batch: Batch, device_id: str, schema_version: int) -> bytes:
    """The batch as sent; ``sent_at`` is the device clock at the moment of sending."""
    return msgspec.json.encode(wire.PushRequest(
        batch_id=batch.batch_id, device_id=device_id, schema_version=schema_version,
        sent_at=datetime.now().astimezone(), items=[stored.item() for stored in batch.items],
    ))


def _refused_whole(session: Session, outbox: Outbox, batch: Batch, exc: ServerRefused, size: int) -> int:
    """The server refused the whole batch and stored nothing. Set aside the item it names, or
    split the batch when it was too large; returns the batch size to use from now on."""
    error = {"code": exc.code, "message": exc.message, "field": exc.field}
    if exc.code in TOO_LARGE and len(batch.items) > 1:
        outbox.dissolve(batch)
        return max(1, len(batch.items) // 2)
    named = ITEM_PATH.match(exc.field or "")
    if exc.code in TOO_LARGE:
        culprit = batch.items[0]
    elif named and int(named.group(1)) < len(batch.items):
        culprit = batch.items[int(named.group(1))]
    else:
        raise SyncStopped(f"the server refused the batch as a whole ({exc.code}: {exc.message})") from exc
    outbox.dissolve(batch, {culprit.op_id: error})
    session.report.count_result("rejected")
    session.report.errors.append(f"{culprit.op_id} set aside: {exc.code}: {exc.message}")
    return size


def _rejection_line(result: wire.ItemResult) -> str:
    codes = ", ".join(e.code for e in result.errors) or "no code"
    return f"{result.op_id} rejected: {codes}"
