"""The web rooms' pages and assets as the gateway serves them (auction/gateway/pages.py): the URL rule that lets a
page be added by adding its file, the security headers on every page, HTML 404s for pages and JSON ones for the
API, content types and revalidation, and no way out of static/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from auction.gateway.pages import Pages
from tests.gateway.conftest import Running


@pytest.fixture
async def http(gateway: Running) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(gateway.http) as session:
        yield session


def assert_secured(headers: aiohttp.typedefs.LooseHeaders, host: str) -> None:
    policy = headers["Content-Security-Policy"]  # type: ignore[index]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert f"connect-src 'self' ws://{host} wss://{host};" in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["X-Frame-Options"] == "DENY"  # type: ignore[index]
    assert headers["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
    assert headers["Referrer-Policy"] == "same-origin"  # type: ignore[index]


async def test_pages_are_html_with_the_security_headers(http: aiohttp.ClientSession, gateway: Running) -> None:
    host = gateway.http.removeprefix("http://")
    for path in ("/", "/sign-in", "/apply", "/apply/status", "/sales/123456"):
        async with http.get(path) as reply:
            assert reply.status == 200, path
            assert reply.content_type == "text/html", path
            assert_secured(reply.headers, host)
            page = await reply.text()
        assert '<script type="module"' in page and "<script>" not in page, path  # no inline script anywhere
        assert "http://" not in page.replace("http://www.w3.org", "") and "//cdn" not in page, path


async def test_an_unknown_page_is_an_html_404_and_the_api_keeps_its_json_404(http: aiohttp.ClientSession) -> None:
    for path in ("/nowhere", "/sales/1/2/3/4/5/6/7/8", "/static/nothing.css", "/sales/%3Cscript%3E"):
        async with http.get(path) as reply:
            assert reply.status == 404, path
            assert reply.content_type == "text/html", path
            assert "Page not found" in await reply.text()
            assert "Content-Security-Policy" in reply.headers
    async with http.get("/api/nowhere") as reply:
        assert reply.status == 404 and (await reply.json())["error"]["code"] == "not_found"
    async with http.post("/api/nowhere", data=b"{}") as reply:
        assert reply.status == 404 and (await reply.json())["error"]["code"] == "not_found"


async def test_assets_have_their_content_types_and_revalidate(http: aiohttp.ClientSession) -> None:
    for path, kind in (("/static/app.css", "text/css"), ("/static/js/feed.js", "text/javascript"),
                       ("/static/index.html", "text/html")):  # fmt: skip
        async with http.get(path) as reply:
            assert reply.status == 200 and reply.content_type == kind, path
            assert reply.headers["Cache-Control"] == "no-cache"
            etag = reply.headers["ETag"]
        async with http.get(path, headers={"If-None-Match": etag}) as again:
            assert again.status == 304, path


@pytest.mark.parametrize(
    "path",
    ["/static/../pages.py", "/static/%2e%2e/pages.py", "/static/js/..%2f..%2fpages.py", "/static/.hidden.css",
     "/static/js/%2e%2e/%2e%2e/http.py", "/static/..%2F..%2Fpyproject.toml", "/static//etc/passwd"],
)  # fmt: skip
async def test_nothing_outside_static_is_served(http: aiohttp.ClientSession, path: str) -> None:
    async with http.get(path) as reply:
        assert reply.status in (400, 404), path
        assert "import" not in await reply.text()


def test_the_url_rule_adds_pages_by_their_files(tmp_path: Path) -> None:
    for name in ("index.html", "a.html", "a/index.html", "b/index.html", "b/list.html", "sales/{sale}.html",
                 "sales/special.html", "x/{id}/detail.html", "404.html", "js/mod.js"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    pages = Pages(tmp_path)
    shown = {path: (pages.page_file(path) or Path("-")).relative_to(tmp_path) if pages.page_file(path) else None
             for path in ("", "a", "a/", "b", "b/list", "sales/42", "sales/special", "x/7/detail", "x/7",
                          "404", "js/mod", "sales", "b/list/more", "sales/../a")}  # fmt: skip
    assert shown == {
        "": Path("index.html"), "a": Path("a.html"), "a/": Path("a.html"), "b": Path("b/index.html"),
        "b/list": Path("b/list.html"), "sales/42": Path("sales/{sale}.html"),
        "sales/special": Path("sales/special.html"),
        "x/7/detail": Path("x/{id}/detail.html"), "x/7": None, "404": None, "js/mod": None, "sales": None,
        "b/list/more": None, "sales/../a": None,
    }  # fmt: skip
    assert pages.asset_file("js/mod.js") == (tmp_path / "js/mod.js").resolve()
    assert pages.asset_file("../" + tmp_path.name + "/a.html") is None
