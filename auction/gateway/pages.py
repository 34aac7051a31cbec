"""The web rooms: static pages and their assets, served from auction/gateway/static/ with no build step.

Pages are plain HTML files whose scripts are ES modules of our own, also in static/; nothing is loaded from
another site. Which file a URL shows is a rule on the files' names, so a page is added by adding its file,
without touching this module:

    URL              file under static/
    /                index.html
    /a               a.html, else a/index.html
    /a/b             a/b.html, else a/b/index.html (and so on, up to MAX_SEGMENTS deep)
    /a/42            a/{name}.html: a file or folder named in braces matches any one segment; the page reads
                     it from location.pathname (static/sales/{sale}.html is the bidder's room of any sale)
    /static/<path>   the file itself (CSS, JS modules, images), by its suffix's content type

A literal name wins over a braced one, the leftmost segment first. The pages are found once, when the app is
built (a new page needs a restart; an edited one does not: files are read again when they change). Anything
else outside /api, /static, /ws and /metrics is the HTML 404 page; those four keep their own answers (JSON).

Every response carries the same security headers: a Content-Security-Policy that allows scripts, styles,
images and fonts from this site only and no inline script at all, connections to this site and its
websocket, and no framing; nosniff; and a referrer policy that keeps paths (sale ids) to this site.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from auction.httpkit import HTML, Reply, Route

STATIC_ROOT = Path(__file__).with_name("static")
MAX_SEGMENTS = 6  # deeper page URLs are not ours: 404 without looking
MAX_PATH_CHARS = 512
NOT_FOUND_PAGE = "404.html"
# Served as assets but never as pages: the shared modules and stylesheet, and each page's own scripts.
PAGE_SUFFIX = ".html"

# The router's pattern for pages: everything but the paths whose 404 is JSON (the API) or their own.
PAGE_PATTERN = "/{page:(?!api/|api$|static/|ws$|metrics$).*}"
ASSET_PATTERN = "/static/{path:.+}"

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}

_SEGMENT = re.compile(r"^[A-Za-z0-9_~-][A-Za-z0-9_.~-]{0,127}$")  # a URL segment a page may be found by
_ASSET_SEGMENT = re.compile(r"^[A-Za-z0-9_{}-][A-Za-z0-9_.{}-]{0,127}$")  # no dotfiles, no "..", no slashes
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$")
_WILDCARD = None

Pattern = tuple[str | None, ...]  # a page's URL segments; None matches any one segment


def security_headers(host: str) -> dict[str, str]:
    """The headers every page and asset carries. `host` (the request's Host) names the websocket's origin for
    browsers whose 'self' does not cover ws:/wss: yet; a Host that is not a plain host[:port] is left out."""
    sockets = f" ws://{host} wss://{host}" if _HOST.match(host) else ""
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
        f"connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def page_pattern(relative: Path) -> Pattern | None:
    """The URL pattern of a page file (a path relative to static/), or None if it is not a page."""
    if relative.suffix != PAGE_SUFFIX or relative.name == NOT_FOUND_PAGE:
        return None
    parts = [*relative.parent.parts, relative.stem]
    if parts[-1] == "index":
        parts.pop()
    return tuple(_WILDCARD if re.fullmatch(r"\{\w+\}", part) else part for part in parts)


def find_pages(root: Path) -> dict[Pattern, Path]:
    """Every page under `root`, by its pattern. `a.html` and `a/index.html` both claim /a: the first wins."""
    pages: dict[Pattern, Path] = {}
    for path in sorted(root.rglob(f"*{PAGE_SUFFIX}"), key=lambda path: (len(path.parts), path)):
        pattern = page_pattern(path.relative_to(root))
        if pattern is not None and not any(part.startswith(".") for part in path.relative_to(root).parts):
            pages.setdefault(pattern, path)
    return pages


def _specificity(pattern: Pattern) -> tuple[bool, ...]:
    """Sorts literal segments before wildcards, the leftmost first."""
    return tuple(part is _WILDCARD for part in pattern)


def match_page(pages: dict[Pattern, Path], segments: list[str]) -> Path | None:
    """The page a URL's segments show: the most literal pattern that matches them."""
    candidates = [
        pattern
        for pattern in pages
        if len(pattern) == len(segments)
        and all(part is _WILDCARD or part == segment for part, segment in zip(pattern, segments, strict=True))
    ]
    return pages[min(candidates, key=_specificity)] if candidates else None


@dataclass(frozen=True)
class _Cached:
    mtime_ns: int
    size: int
    body: bytes
    etag: str


class Pages:
    """The page and asset routes, over the files of `root`."""

    def __init__(self, root: Path = STATIC_ROOT) -> None:
        self.root = root.resolve()
        self.pages = find_pages(self.root)
        self._cache: dict[Path, _Cached] = {}

    # ---- handlers -------------------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        found = self.page_file(request.match_info["page"])
        if found is None:
            return self._not_found(request)
        return self._file(request, found)

    async def asset(self, request: web.Request) -> web.Response:
        found = self.asset_file(request.match_info["path"])
        if found is None:
            return self._not_found(request)
        return self._file(request, found)

    # ---- finding files -------------------------------------------------------------------------------------

    def page_file(self, path: str) -> Path | None:
        if len(path) > MAX_PATH_CHARS:
            return None
        segments = [segment for segment in path.split("/") if segment]
        if len(segments) > MAX_SEGMENTS or not all(_SEGMENT.match(segment) for segment in segments):
            return None
        return match_page(self.pages, segments)

    def asset_file(self, path: str) -> Path | None:
        """The file at `path` under static/, only if every segment is a plain name and it stays inside."""
        segments = path.split("/")
        if len(path) > MAX_PATH_CHARS or len(segments) > MAX_SEGMENTS + 1:
            return None
        if not all(_ASSET_SEGMENT.match(segment) and ".." not in segment for segment in segments):
            return None
        candidate = self.root.joinpath(*segments).resolve()
        if not candidate.is_relative_to(self.root) or candidate.suffix not in CONTENT_TYPES:
            return None
        return candidate if candidate.is_file() else None

    # ---- answers ---------------------------------------------------------------------------------------------

    def _file(self, request: web.Request, path: Path, status: int = 200) -> web.Response:
        cached = self._read(path)
        headers = {**security_headers(request.host), "Cache-Control": "no-cache", "ETag": cached.etag}
        if status == 200 and cached.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = CONTENT_TYPES[path.suffix]
        return web.Response(status=status, body=cached.body, headers=headers)

    def _not_found(self, request: web.Request) -> web.Response:
        page = self.root / NOT_FOUND_PAGE
        if page.is_file():
            return self._file(request, page, status=404)
        headers = {**security_headers(request.host), "Content-Type": CONTENT_TYPES[PAGE_SUFFIX]}
        return web.Response(status=404, body=b"<!doctype html><title>Not found</title><h1>Not found</h1>",
                            headers=headers)  # fmt: skip

    def _read(self, path: Path) -> _Cached:
        """The file's bytes, read again only when it changed (so an edited page shows without a restart)."""
        stat = path.stat()
        cached = self._cache.get(path)
        if cached is None or (cached.mtime_ns, cached.size) != (stat.st_mtime_ns, stat.st_size):
            body = path.read_bytes()
            cached = _Cached(stat.st_mtime_ns, stat.st_size, body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
            self._cache[path] = cached
        return cached

    # ---- the table ------------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        missing = Reply("No such page: the HTML 404 page", media=HTML)
        return [
            Route("GET", ASSET_PATTERN, self.asset, "A stylesheet, script module or image of the web rooms",
                  {200: Reply("The file, by its suffix's content type", media="application/octet-stream"),
                   304: Reply("Unchanged since the ETag given", media=None), 404: missing},
                  text_params=("path",), tags=("pages",)),
            Route("GET", PAGE_PATTERN, self.page,
                  "A page of the web rooms (`/`, `/sign-in`, `/apply`, `/sales/{sale}`, `/console/...`, ...)",
                  {200: Reply("The page", media=HTML), 304: Reply("Unchanged since the ETag given", media=None),
                   404: missing},
                  text_params=("page",), tags=("pages",)),
        ]  # fmt: skip
