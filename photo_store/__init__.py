"""Photo evidence: content-addressed storage (local folder or S3) and image checks."""

from photo_store.base import (
    ChecksumMismatch,
    PhotoNotFound,
    PhotoStore,
    UploadGap,
    contiguous_length,
    open_store,
)

__all__ = [
    "ChecksumMismatch",
    "PhotoNotFound",
    "PhotoStore",
    "UploadGap",
    "contiguous_length",
    "open_store",
]
