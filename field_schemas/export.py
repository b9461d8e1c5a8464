"""JSON Schema files of the wire messages, for the teams that write tablet apps.

``export_files()`` is pure: it returns ``{filename: content}``, a JSON-able
dict per schema file and for ``codes.json``, and the text of the index
``README.md``. Every schema is drawn from one ``schema_components`` table, so
a definition has the same name and shape in every file; each file carries
the definitions it reaches in its own ``$defs`` and stands alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Literal

import msgspec

from field_schemas.anomalies import ANOMALY_CODES, ANOMALY_LABELS, FLAG_LABELS, REJECTION_LABELS
from field_schemas.auth import LoginRequest, LoginResponse
from field_schemas.photos import PhotoInfo, UploadCreated, UploadProgress, UploadRequest
from field_schemas.errors import ERROR_STATUS, ErrorBody
from field_schemas.pliers import IssuePliersRequest, PliersDetail, PliersList, PliersState
from field_schemas.pull import (
    AssignmentData,
    CustomerData,
    InspectionOrderData,
    MeterData,
    OutcomeData,
    PullResponse,
)
from field_schemas.push import PushRequest, PushResponse
from field_schemas.version import SCHEMA_CURRENT

DRAFT = "https://json-schema.org/draft/2020-12/schema"
REF = "#/$defs/{name}"
CODES_FILE = "codes.json"
INDEX_FILE = "README.md"

# What ``data`` holds in a pull change of each kind (an upsert; a remove has null).
PULL_DATA_BY_KIND: dict[str, type] = {
    "assignment": AssignmentData,
    "meter": MeterData,
    "customer": CustomerData,
    "inspection_order": InspectionOrderData,
    "outcome": OutcomeData,
}


@dataclass(frozen=True)
class Message:
    filename: str
    type: type
    direction: Literal["request", "response"]
    used_by: str
    # Definitions the message refers to without a typed field (pull data by kind).
    also: tuple[type, ...] = field(default=())


MESSAGES: tuple[Message, ...] = (
    Message("login-request.json", LoginRequest, "request", "`POST /api/v1/auth/login`"),
    Message("login-response.json", LoginResponse, "response", "`POST /api/v1/auth/login`"),
    Message("pull-response.json", PullResponse, "response", "`GET /api/v1/sync/pull`",
            also=tuple(PULL_DATA_BY_KIND.values())),
    Message("push-request.json", PushRequest, "request", "`POST /api/v1/sync/push`"),
    Message("push-response.json", PushResponse, "response",
            "`POST /api/v1/sync/push`, `GET /api/v1/sync/batches/{batch_id}`"),
    Message("pliers-issue-request.json", IssuePliersRequest, "request", "`POST /api/v1/pliers/{pliers_id}/issue`"),
    Message("pliers-state.json", PliersState, "response",
            "`POST /api/v1/pliers/{pliers_id}/issue`, `POST /api/v1/pliers/{pliers_id}/return`"),
    Message("pliers-list.json", PliersList, "response", "`GET /api/v1/pliers`"),
    Message("pliers-detail.json", PliersDetail, "response", "`GET /api/v1/pliers/{pliers_id}`"),
    Message("photo-info.json", PhotoInfo, "response",
            "`PUT /api/v1/photos/{sha256}`, the last `PATCH /api/v1/photos/uploads/{upload_id}`"),
    Message("photo-upload-request.json", UploadRequest, "request", "`POST /api/v1/photos/uploads`"),
    Message("photo-upload-created.json", UploadCreated, "response", "`POST /api/v1/photos/uploads`"),
    Message("photo-upload-progress.json", UploadProgress, "response", "`PATCH /api/v1/photos/uploads/{upload_id}`"),
    Message("error.json", ErrorBody, "response", "every answer with a status of 400 or more"),
)


def export_files() -> dict[str, Any]:
    roots = [m.type for m in MESSAGES] + [t for m in MESSAGES for t in m.also]
    _, components = msgspec.json.schema_components(roots, ref_template=REF)
    files: dict[str, Any] = {m.filename: message_schema(m, components) for m in MESSAGES}
    files[CODES_FILE] = codes()
    files[INDEX_FILE] = index_markdown()
    return files


def message_schema(message: Message, components: dict[str, Any]) -> dict[str, Any]:
    names = [message.type.__name__] + [t.__name__ for t in message.also]
    defs = {name: copy.deepcopy(components[name]) for name in sorted(_reachable(names, components))}
    if message.direction == "response":
        # Responses always carry every field, null or [] when empty (PROTOCOL §1).
        for schema in defs.values():
            if "properties" in schema:
                schema["required"] = list(schema["properties"])
    if "Change" in defs:
        defs["Change"]["allOf"] = _change_data_by_kind()
    return {
        "$schema": DRAFT,
        "title": message.type.__name__,
        "description": f"The {message.direction} body of {message.used_by}. Schema version {SCHEMA_CURRENT}.",
        "$ref": REF.format(name=message.type.__name__),
        "$defs": defs,
    }


def _reachable(names: list[str], components: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(components[name]))
    return seen


def _refs(node: Any) -> Iterator[str]:
    prefix = REF.format(name="")
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(prefix):
                yield value[len(prefix):]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _change_data_by_kind() -> list[dict[str, Any]]:
    return [
        {
            "if": {"properties": {"kind": {"const": kind}, "op": {"const": "upsert"}}},
            "then": {"properties": {"data": {"$ref": REF.format(name=data.__name__)}}},
        }
        for kind, data in PULL_DATA_BY_KIND.items()
    ] + [{"if": {"properties": {"op": {"const": "remove"}}}, "then": {"properties": {"data": {"type": "null"}}}}]


def _labelled(labels: dict[str, tuple[str, str]], codes_in_order: Iterable[str] | None = None) -> list[dict[str, str]]:
    return [{"code": c, "zh": labels[c][0], "en": labels[c][1]} for c in (codes_in_order or labels)]


def codes() -> dict[str, Any]:
    """Every code a tablet meets, with its labels (Chinese first) or its HTTP status."""
    return {
        "schema_version": SCHEMA_CURRENT,
        "anomaly_codes": _labelled(ANOMALY_LABELS, ANOMALY_CODES),
        "flag_codes": _labelled(FLAG_LABELS),
        "rejection_codes": _labelled(REJECTION_LABELS),
        "error_codes": [{"code": c, "status": s} for c, s in sorted(ERROR_STATUS.items(), key=lambda cs: cs[1])],
    }


def index_markdown() -> str:
    rows = [f"| `{m.filename}` | {m.direction} | {m.used_by} |" for m in MESSAGES]
    return "\n".join([
        f"# fieldsync wire schemas, schema version {SCHEMA_CURRENT}",
        "",
        f"JSON Schema ({DRAFT}) of every message between a tablet and the server.",
        "Each file stands alone: its root refers into its own `$defs`, and a definition",
        "has the same name in every file. Requests are strict: an unknown field is an error.",
        "Responses always carry every field, `null` or `[]` when empty; ignore fields you do not know.",
        "",
        "| file | direction | used by |",
        "|---|---|---|",
        *rows,
        "",
        f"`{CODES_FILE}`: the anomaly codes a tablet reports, the flag and rejection codes a push answers with",
        "(each with its Chinese and English label), and every error code with its HTTP status.",
        "",
    ])
