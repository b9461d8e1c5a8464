"""The Litestar application: ``create_app(settings)``."""

from __future__ import annotations

import logging

from litestar import Litestar, get
from litestar.config.compression import CompressionConfig
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig

from photo_store.base import PhotoStore, open_store
from server.context import AppContext
from server.db.engine import Database
from server.errors import EXCEPTION_HANDLERS
from server.http import audit as audit_routes
from server.http import auth as auth_routes
from server.http import devices as device_routes
from server.http import photos as photo_routes
from server.http import pliers as pliers_routes
from server.http import review as review_routes
from server.http import reports as report_routes
from server.http import sync as sync_routes
from server.http.openapi import openapi_document
from server.settings import Settings


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(
    settings: Settings | None = None, db: Database | None = None, store: PhotoStore | None = None
) -> Litestar:
    settings = settings or Settings.from_env()
    db = db or Database(settings.database_url)
    ctx = AppContext(settings=settings, db=db, store=store or open_store(settings.photo_store))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def _on_startup(app: Litestar) -> None:
        app.state.ctx = ctx

    def _on_shutdown(_: Litestar) -> None:
        db.dispose()

    return Litestar(
        route_handlers=[healthz, openapi_document, *auth_routes.ROUTES, *sync_routes.ROUTES, *pliers_routes.ROUTES,
                        *report_routes.ROUTES, *review_routes.ROUTES, *audit_routes.ROUTES,
                        *photo_routes.ROUTES,
                        *device_routes.ROUTES],
        on_startup=[_on_startup],
        on_shutdown=[_on_shutdown],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=1024, gzip_compress_level=6,
            # Photos are already compressed; gzip would only cost CPU and drop Content-Length.
            exclude_opt_key="skip_compression",
        ),
        openapi_config=OpenAPIConfig(
            title="fieldsync",
            version="1",
            description="Field sync protocol v1: tablets download routes and upload readings and evidence.",
            path="/schema/litestar",
            render_plugins=[],
        ),
        request_max_body_size=None,
        # Errors are answered in the protocol's shape; unexpected ones are logged by handle_unexpected.
        logging_config=LoggingConfig(log_exceptions="never"),
    )
