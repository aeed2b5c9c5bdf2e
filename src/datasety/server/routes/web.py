"""The web UI: ``GET /`` and the static files of ``datasety/server/web/`` (no build step).

Only the files that ship in that folder are served, each at ``/<name>``; this is a route per
file name, not a catch-all mount, so it can never answer for ``/v1/...``, ``/docs`` or
``/openapi.json``, and an unknown ``/v1`` path still gets ``{"error": "Endpoint not found"}``
for every method. The UI speaks only the public ``/v1`` API; it needs no token to load, and
asks for one when the API answers 401.

The page's head lists every module ``app.js`` imports, directly or not, as
``<link rel="modulepreload">`` (computed once from the folder at start-up): the browser then
fetches the 24 modules at once instead of one level of imports after another. Every file
carries an ETag, and a revalidation that matches answers 304 with no body.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.exceptions import HTTPException

from datasety.server.files import thumbnails

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

# A static import of a sibling module: `import ... from "./x.js"`, `export ... from "./x.js"`
# or `import "./x.js"` (a JSDoc `import("./x.js")` type is not one).
STATIC_IMPORT = re.compile(r'(?:\bfrom|\bimport)\s*"\./([^"/]+\.js)"')

ENTRY_MODULE = "app.js"
ENTRY_SCRIPT = f'<script type="module" src="{ENTRY_MODULE}"></script>'


def imported_modules(entry: str = ENTRY_MODULE, files: dict[str, Path] = FILES) -> list[str]:
    """Every module ``entry`` imports, directly or not, in the order first met (not itself)."""
    found: list[str] = []
    pending = [entry]
    while pending:
        path = files.get(pending.pop(0))
        if path is None:
            continue
        for name in STATIC_IMPORT.findall(path.read_text(encoding="utf-8")):
            if name != entry and name not in found and name in files:
                found.append(name)
                pending.append(name)
    return found


def page_with_preloads(html: str, modules: list[str]) -> str:
    """``html`` with a ``modulepreload`` link per module just before the entry script."""
    links = "".join(f'<link rel="modulepreload" href="{name}">\n  ' for name in modules)
    return html.replace(ENTRY_SCRIPT, links + ENTRY_SCRIPT, 1)


def _index_page() -> bytes:
    index = FILES.get("index.html")
    if index is None:
        return b""
    return page_with_preloads(index.read_text(encoding="utf-8"), imported_modules()).encode()


INDEX_PAGE = _index_page()
INDEX_ETAG = f'"{hashlib.sha256(INDEX_PAGE).hexdigest()[:32]}"'


def _unchanged(request: Request, etag: str) -> bool:
    """Whether the browser's copy (``If-None-Match``) is the one ``etag`` names."""
    asked = request.headers.get("if-none-match", "")
    return any(tag.strip().removeprefix("W/") in (etag, "*") for tag in asked.split(","))


def _not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={**HEADERS, "ETag": etag})


def _serve(request: Request, name: str) -> Response:
    path = FILES.get(name)
    if path is None:
        raise HTTPException(status_code=404)
    response = FileResponse(
        path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS, stat_result=path.stat()
    )
    etag = response.headers["etag"]
    return _not_modified(etag) if _unchanged(request, etag) else response


@router.api_route("/", methods=["GET", "HEAD"])
def index(request: Request) -> Response:
    """The single page of the UI (a gallery's thumbnails follow: their decoders load now)."""
    thumbnails.warm_up()
    if _unchanged(request, INDEX_ETAG):
        return _not_modified(INDEX_ETAG)
    return Response(
        INDEX_PAGE, media_type=MEDIA_TYPES[".html"], headers={**HEADERS, "ETag": INDEX_ETAG}
    )


def _asset_route(name: str) -> None:
    def asset(request: Request) -> Response:
        return _serve(request, name)

    router.add_api_route(f"/{name}", asset, methods=["GET", "HEAD"], name=f"web:{name}")


# One fixed path per shipped file: a `/{name}` pattern would also match `/v1` and answer
# 405 instead of the spec's 404 for other methods there.
for _name in FILES:
    _asset_route(_name)
