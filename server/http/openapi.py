"""The OpenAPI document at /schema/openapi.json.

Litestar documents paths, parameters and responses from the handlers. Request
bodies are read raw (bounded, gzip-aware, decoded once by msgspec), so their
schemas, the error answers and the bearer scheme are added here from the
``documented`` metadata of each handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import msgspec
from litestar import Litestar, Request, get

from field_schemas.errors import ERROR_STATUS, ErrorBody

REF = "#/components/schemas/{name}"


@dataclass(frozen=True)
class Doc:
    request: Any = None
    request_media_type: str = "application/json"
    errors: list[str] = field(default_factory=list)
    public: bool = False


def documented(
    *, request: Any = None, response: Any = None, errors: list[str] | None = None,
    public: bool = False, request_media_type: str = "application/json",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach what the OpenAPI document needs to say about a handler's body and errors."""

    def attach(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__fieldsync_doc__ = Doc(request, request_media_type, list(errors or []), public)  # type: ignore[attr-defined]
        return fn

    return attach


def build_openapi(app: Litestar) -> dict[str, Any]:
    schema = app.openapi_schema.to_schema()
    docs: list[tuple[str, str, Doc]] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            doc = getattr(handler.fn, "__fieldsync_doc__", None)
            if doc is None:
                continue
            for method in handler.http_methods:
                docs.append((route.path_format if hasattr(route, "path_format") else route.path, method.lower(), doc))
    bodies = [d.request for _, _, d in docs if d.request is not None and d.request_media_type == "application/json"]
    _, components = msgspec.json.schema_components([ErrorBody, *bodies], ref_template=REF)
    comp = schema.setdefault("components", {})
    comp_schemas = comp.setdefault("schemas", {})
    for name, body in components.items():
        comp_schemas.setdefault(name, body)
    comp.setdefault("securitySchemes", {})["BearerToken"] = {"type": "http", "scheme": "bearer"}
    error_ref = {"$ref": REF.format(name="ErrorBody")}
    for path, method, doc in docs:
        op = schema.get("paths", {}).get(path, {}).get(method)
        if op is None:
            continue
        if doc.request is not None:
            if doc.request_media_type == "application/json":
                body_schema = {"$ref": REF.format(name=doc.request.__name__)}
            else:
                body_schema = {"type": "string", "format": "binary"}
            op["requestBody"] = {"required": True, "content": {doc.request_media_type: {"schema": body_schema}}}
        responses = op.setdefault("responses", {})
        codes = list(doc.errors) + ([] if doc.public else ["unauthenticated", "token_revoked", "token_expired"])
        by_status: dict[int, list[str]] = {}
        for code in codes:
            by_status.setdefault(ERROR_STATUS[code], []).append(code)
        for status, names in sorted(by_status.items()):
            responses[str(status)] = {
                "description": "Error: " + ", ".join(f"`{n}`" for n in names),
                "content": {"application/json": {"schema": error_ref}},
            }
        if not doc.public:
            op["security"] = [{"BearerToken": []}]
    return schema


_encoder = msgspec.json.Encoder()


@get("/schema/openapi.json", include_in_schema=False, media_type="application/json")
async def openapi_document(request: Request) -> bytes:
    app = request.app
    cached = getattr(app.state, "openapi_bytes", None)
    if cached is None:
        cached = _encoder.encode(build_openapi(app))
        app.state.openapi_bytes = cached
    return cached
