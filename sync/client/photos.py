"""Upload the outbox's photos (PROTOCOL §6), resumably.

For each photo not yet known to be held: ``HEAD`` first (it may be there
already), then a resumable upload (``POST /photos/uploads``, then ``PATCH``
chunks with ``Upload-Offset``). After a failure the upload resumes from the
offset the server reports, never from the tablet's guess. A server without
the resumable routes gets the whole photo in one ``PUT``. A photo the server
refuses for its content is kept aside as failed: sending it again would not help.
"""

from __future__ import annotations

from sync.client.api import OutcomeUnknown, ServerRefused, UploadProgress
from sync.client.outbox import Outbox, StoredPhoto
from sync.client.session import Session

CHUNK_BYTES = 256 * 1024
# The photo itself is refused: resending the same bytes gets the same answer.
REFUSED_CONTENT = {"checksum_mismatch", "unsupported_image", "corrupt_image", "image_too_large"}
NO_RESUMABLE_ROUTE = {404, 405}


class PhotoUploader:
    def __init__(self, session: Session, outbox: Outbox, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.session = session
        self.outbox = outbox
        self.chunk_bytes = max(1, chunk_bytes)
        self.resumable: bool | None = None  # learnt from the server on the first upload

    def upload_pending(self) -> None:
        for photo in self.outbox.photos("pending"):
            self.upload(photo)

    def upload(self, photo: StoredPhoto) -> None:
        api = self.session.api
        if self.session.retrying(lambda: api.photo_held(photo.sha256)):
            self._done(photo, already_held=True)
            return
        data = self.outbox.photo_bytes(photo.sha256)
        try:
            if self.resumable is not False and self._resumable(photo, data):
                return
            self._put(photo, data)
        except ServerRefused as exc:
            if exc.code not in REFUSED_CONTENT:
                raise
            self.outbox.set_photo(photo.sha256, state="failed", error=f"{exc.code}: {exc.message}",
                                  clear_upload=True)
            self.session.report.photos_failed += 1
            self.session.report.errors.append(f"photo {photo.sha256[:12]} refused: {exc.code}")

    def _resumable(self, photo: StoredPhoto, data: bytes) -> bool:
        """Upload in chunks; False when the server has no resumable route."""
        api, session = self.session.api, self.session
        upload_id = photo.upload_id
        offset = session.retrying(lambda: api.upload_offset(upload_id)) if upload_id else None
        attempt = 0
        while True:
            if offset is None:  # no upload yet, or the server no longer knows it
                try:
                    upload_id, offset = session.retrying(lambda: api.start_upload(photo.sha256, len(data)))
                except ServerRefused as exc:
                    if exc.status in NO_RESUMABLE_ROUTE:
                        self.resumable = False
                        return False
                    raise
                self.resumable = True
                self.outbox.set_photo(photo.sha256, upload_id=upload_id)
            chunk = data[offset:offset + self.chunk_bytes]
            try:
                progress: UploadProgress = session.call(lambda: api.send_chunk(upload_id, offset, chunk))
            except OutcomeUnknown as exc:
                session.wait(attempt, None, exc)
                attempt += 1
                if session.retrying(lambda: api.photo_held(photo.sha256)):  # the last chunk's answer was lost
                    break
                offset = session.retrying(lambda: api.upload_offset(upload_id))
                continue
            except ServerRefused as exc:
                if exc.code == "offset_mismatch" and "upload-offset" in exc.headers:
                    offset = int(exc.headers["upload-offset"])  # the server's offset, not ours
                elif exc.code == "not_found":
                    offset = None
                elif not exc.retry_later:
                    raise
                session.wait(attempt, exc.retry_after_s, exc)
                attempt += 1
                continue
            if progress.photo is not None:
                break
            if progress.offset < len(data):
                offset, attempt = progress.offset, 0
                continue
            # All sent, yet no photo in the answer: held, or start again.
            if session.retrying(lambda: api.photo_held(photo.sha256)):
                break
            session.wait(attempt, None, RuntimeError("upload complete but the photo is not held"))
            offset, attempt = None, attempt + 1
        self._done(photo)
        return True

    def _put(self, photo: StoredPhoto, data: bytes) -> None:
        api, session = self.session.api, self.session
        attempt = 0
        while True:
            try:
                session.call(lambda: api.put_photo(photo.sha256, data))
                break
            except OutcomeUnknown as exc:
                session.wait(attempt, None, exc)
                attempt += 1
                if session.retrying(lambda: api.photo_held(photo.sha256)):
                    break
            except ServerRefused as exc:
                if not exc.retry_later:
                    raise
                session.wait(attempt, exc.retry_after_s, exc)
                attempt += 1
        self._done(photo)

    def _done(self, photo: StoredPhoto, already_held: bool = False) -> None:
        self.outbox.set_photo(photo.sha256, state="uploaded", clear_upload=True)
        if already_held:
            self.session.report.photos_already_held += 1
        else:
            self.session.report.photos_uploaded += 1
