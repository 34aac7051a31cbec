"""A browser opens what `seal_for_browser` sealed, with WebCrypto alone: Chromium's X25519, HKDF and AES-GCM.

The buyer's copy of their own bid and an officer's share of the tender's key are sealed so; a construction a
browser can't open would leave both unreadable in the rooms. Skipped, saying why, without Playwright or Chromium.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from auction.tender.sealing import new_key_pair, seal_for_browser, where_of

CHROMIUM = os.environ.get("AUCTION_CHROMIUM", "/usr/bin/chromium")

# What a room does with its own key: here the private key is imported from a JWK (a room keeps a CryptoKey it
# generated instead); the rest is the same.
OPEN_IN_THE_BROWSER = """
async ([sealed, d, x, where]) => {
  const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const raw = b64(sealed), mine = b64(x);
  const ephemeral = raw.slice(0, 32), iv = raw.slice(32, 44), body = raw.slice(44);
  const url = (bytes) =>
    btoa(String.fromCharCode(...bytes)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const privateKey = await crypto.subtle.importKey(
    "jwk", {kty: "OKP", crv: "X25519", d: url(b64(d)), x: url(mine)}, {name: "X25519"}, false, ["deriveBits"]);
  const theirs = await crypto.subtle.importKey("raw", ephemeral, {name: "X25519"}, false, []);
  const shared = await crypto.subtle.deriveBits({name: "X25519", public: theirs}, privateKey, 256);
  const hkdf = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const salt = new Uint8Array([...ephemeral, ...mine]);
  const info = new TextEncoder().encode("diamond-auction browser seal v1");
  const key = await crypto.subtle.deriveKey({name: "HKDF", hash: "SHA-256", salt, info}, hkdf,
                                            {name: "AES-GCM", length: 256}, false, ["decrypt"]);
  const plain = await crypto.subtle.decrypt(
    {name: "AES-GCM", iv, additionalData: new TextEncoder().encode(where)}, key, body);
  return JSON.parse(new TextDecoder().decode(plain));
}
"""


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    playwright_api = pytest.importorskip("playwright.async_api", reason="Playwright is not installed")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):  # noqa: ASYNC240 (one stat, before the browser)
        pytest.skip(f"no Chromium at {CHROMIUM}")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            opened = await browser.new_page()
            # WebCrypto needs a secure context: an https page, served by the test itself (nothing leaves)
            await opened.route("https://seal.test/", lambda route: route.fulfill(body="<title>seal</title>"))
            await opened.goto("https://seal.test/")
            yield opened
        finally:
            await browser.close()


async def test_chromium_opens_a_browser_seal_with_webcrypto(page: Any) -> None:
    private, public = new_key_pair()
    where = where_of(7, 3, 42, "bid-1")
    copy = '{"lot":3,"amount":7319457113,"per_carat":2927783,"salt":"5a1t"}'
    sealed = seal_for_browser(copy, public, where)
    args = [sealed, base64.b64encode(private).decode(), base64.b64encode(public).decode(), where]
    assert await page.evaluate(OPEN_IN_THE_BROWSER, args) == {
        "lot": 3, "amount": 7_319_457_113, "per_carat": 2_927_783, "salt": "5a1t",
    }  # fmt: skip
    with pytest.raises(Exception, match="OperationError"):  # moved to another place: the tag fails
        await page.evaluate(OPEN_IN_THE_BROWSER, [*args[:3], where_of(7, 3, 43, "bid-1")])
