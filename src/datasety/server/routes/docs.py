"""The API docs: Swagger UI at ``/docs``, over ``/openapi.json``.

FastAPI's own page loads its script from a CDN and is blank without internet; this one loads
the copy that the ``fastapi-offline`` package ships, each file at its own fixed path under
``/docs/assets/`` (like the web UI, no catch-all mount). It needs no token: it holds no data,
and the API it describes still asks for one. No ReDoc page: ReDoc fetches its logo from a CDN
whatever it is told, and a docs page should not tell a third party who reads it.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs/assets"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every endpoint, its parameters and models, and "Try it out"."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{request.app.title} API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        oauth2_redirect_url=None,
        # Swagger UI would send the schema to validator.swagger.io from a non-local address.
        swagger_ui_parameters={"validatorUrl": None},
    )


def _asset_route(name: str, media_type: str) -> None:
    path = ASSETS_DIR / name

    def asset() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers=HEADERS)

    router.add_api_route(f"{ASSETS_URL}/{name}", asset, methods=["GET", "HEAD"], name=name)


for _name, _type in ASSETS.items():
    _asset_route(_name, _type)
