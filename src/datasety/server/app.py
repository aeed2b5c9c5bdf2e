"""``create_app(settings)``: the FastAPI application, its middlewares, routes and lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import import_module
from types import ModuleType

from fastapi import FastAPI

from datasety import __version__
from datasety.server.catalog.catalogs import Catalogs
from datasety.server.errors import install_error_handlers
from datasety.server.fastpath import DownloadFastPath
from datasety.server.files import leftovers
from datasety.server.files.readwrite import DatasetLocks
from datasety.server.middleware import (
    CORSErrorShapeMiddleware,
    HostCheckMiddleware,
    OriginCheckMiddleware,
    RequestSanityMiddleware,
    TokenMiddleware,
)
from datasety.server.settings import Settings
from datasety.server.store import Store

# Modules of datasety.server.routes, in the order their routes are matched. Each exposes
# `router`; one may also expose `lifespan(app)`, an async context manager entered once the
# store is open (the jobs runner starts and stops there).
ROUTE_MODULES: list[str] = ["datasets", "files", "curation", "jobs", "commands", "docs", "web"]

DESCRIPTION = """The datasety REST API (spec/server-api.txt). Every error answers
`{"error": "..."}`. With a token, every /v1 request needs `Authorization: Bearer <token>`."""


def _route_modules() -> list[ModuleType]:
    return [import_module(f"datasety.server.routes.{name}") for name in ROUTE_MODULES]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for ``settings`` (defaults when None). State opens in the lifespan."""
    settings = settings or Settings()
    modules = _route_modules()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = Store.open(settings.data_dir)
        # Temporary files of writes a killed server never finished (see leftovers.py).
        leftovers.start_sweep(app.state.store, settings.data_dir)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for module in modules:
                    hook = getattr(module, "lifespan", None)
                    if hook is not None:
                        await stack.enter_async_context(hook(app))
                yield
        finally:
            app.state.catalogs.close()
            app.state.store.close()

    app = FastAPI(
        title="datasety",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs is served offline by routes/docs.py (FastAPI's pages load from a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.catalogs = Catalogs(settings.data_dir / "thumbs", settings.data_dir / "listings")
    app.state.locks = DatasetLocks()
    install_error_handlers(app)
    for module in modules:
        app.include_router(module.router)

    # Added innermost first: the Host check runs before anything else, then size/URL sanity,
    # then the Origin check (cross-site writes), then CORS (so preflights are answered
    # without a token), then the token, then plain downloads skip FastAPI's routing.
    app.add_middleware(DownloadFastPath)
    if settings.token:
        app.add_middleware(TokenMiddleware, token=settings.token)
    if settings.cors_origins:
        app.add_middleware(
            CORSErrorShapeMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Range", "If-None-Match"],
            expose_headers=["ETag", "Content-Range", "Content-Length"],
        )
    app.add_middleware(OriginCheckMiddleware, allowed=frozenset(settings.cors_origins))
    app.add_middleware(RequestSanityMiddleware, max_body=settings.max_upload_bytes)
    allowed = settings.host_names()
    if allowed is not None:
        app.add_middleware(HostCheckMiddleware, allowed=allowed)
    return app
