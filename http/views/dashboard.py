"""The browser dashboard: `GET /` is the page, `GET /static/<name>` its scripts and styles (http/static/).

The files ship inside the package (package-data), are read once at start-up and are served from memory, so
there is no build step, no CDN and no path from a URL to the file system (only names found at start-up are
served). The page holds no data: it asks the API with the token the user pasted (sessionStorage only).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from usagestream.http.errors import http_error

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}")
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# Same origin only: scripts and styles from /static, fetch and the websocket to this host (CSP3 'self' covers
# ws:/wss: of the same host), no inline script.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every regular file directly in `directory`, by name (a missing directory serves nothing)."""
    assets: dict[str, Asset] = {}
    if not directory.is_dir():
        return assets
    for path in sorted(directory.iterdir()):
        if not path.is_file() or not _NAME.fullmatch(path.name):
            continue
        body = path.read_bytes()
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        assets[path.name] = Asset(body, kind, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return assets


def _serve(request: web.Request, asset: Asset) -> web.StreamResponse:
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers={**_HEADERS, "ETag": asset.etag})
    charset = "utf-8" if asset.content_type.startswith("text/") else None
    response = web.Response(body=asset.body, content_type=asset.content_type, charset=charset, headers=_HEADERS)
    response.headers["ETag"] = asset.etag
    return response


def setup(app: web.Application) -> None:
    """Register `/`, `/static/{name}` and `/static/vendor/{name}` (the files are read now, once)."""
    assets = load_assets()

    async def index(request: web.Request) -> web.StreamResponse:
        asset = assets.get("index.html")
        if asset is None:
            raise http_error(404, "The dashboard is not installed")
        return _serve(request, asset)

    async def static(request: web.Request) -> web.StreamResponse:
        asset = assets.get(request.match_info.get("name", ""))
        if asset is None:
            raise http_error(404, "Not Found")
        return _serve(request, asset)

    vendor = load_assets(STATIC_DIR / "vendor")  # third-party modules, pinned: http/static/vendor/README.md

    async def vendored(request: web.Request) -> web.StreamResponse:
        asset = vendor.get(request.match_info.get("name", ""))
        if asset is None:
            raise http_error(404, "Not Found")
        return _serve(request, asset)

    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/static/vendor/{name}", vendored)
