"""The web UI: ``GET /`` and the static files of ``datasety/server/web/`` (no build step).

Only the files that ship in that folder are served, each at ``/<name>``; this is a route per
file name, not a catch-all mount, so it can never answer for ``/v1/...``, ``/docs`` or
``/openapi.json``, and an unknown ``/v1`` path still gets ``{"error": "Endpoint not found"}``
for every method. The UI speaks only the public ``/v1`` API; it needs no token to load, and
asks for one when the API answers 401.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException

from datasety.server import thumbnails

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# Everything the page loads comes from this server (the UI must work with no internet); blob:
# is how media is shown when a token is needed, since <img> cannot send a header.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
        "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate on every load, so a server upgrade never runs a stale mix of modules.
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def shipped_files(web_dir: Path = WEB_DIR) -> dict[str, Path]:
    """The servable files by URL name: the web folder's files with a known media type."""
    if not web_dir.is_dir():
        return {}
    return {
        path.name: path
        for path in sorted(web_dir.iterdir())
        if path.is_file() and path.suffix in MEDIA_TYPES
    }


FILES = shipped_files()


def _serve(name: str) -> FileResponse:
    path = FILES.get(name)
    if path is None:
        raise HTTPException(status_code=404)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    """The single page of the UI (a gallery's thumbnails follow: their decoders load now)."""
    thumbnails.warm_up()
    return _serve("index.html")


def _asset_route(name: str) -> None:
    def asset() -> FileResponse:
        return _serve(name)

    router.add_api_route(f"/{name}", asset, methods=["GET", "HEAD"], name=f"web:{name}")


# One fixed path per shipped file: a `/{name}` pattern would also match `/v1` and answer
# 405 instead of the spec's 404 for other methods there.
for _name in FILES:
    _asset_route(_name)
