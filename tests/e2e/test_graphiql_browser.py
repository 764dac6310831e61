"""GraphiQL in a real browser: the gateway's GET /graphql page is under 1 MB, works offline,
runs a query through a subgraph, and has its docs panel and explorer."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Response, Route, async_playwright, expect

from kindred.devstack.stack import Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUERY = "query Plans { plans { plan entitlements } }"
# Everything the browser downloads for the page (HTML, script, stylesheet), uncompressed.
MAX_PAGE_BYTES = 1_000_000
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


async def test_graphiql_is_light_offline_and_has_its_docs_and_explorer(
    stack: Stack, tmp_path: Path
) -> None:
    assert shutil.which(CHROMIUM), "Debian's chromium is missing: run `make system-packages`"
    outside: list[str] = []
    page_errors: list[str] = []
    downloads: dict[str, tuple[int, int]] = {}  # url -> (bytes uncompressed, bytes as served)

    async def only_local(route: Route) -> None:
        # The page must work offline: anything but the gateway itself is refused and noted.
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    async def measure(response: Response) -> None:
        if response.request.method == "GET" and response.request.resource_type != "fetch":
            sizes = await response.request.sizes()
            downloads[response.url] = (len(await response.body()), sizes["responseBodySize"])

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a new, empty user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        try:
            await browser.route("**/*", only_local)
            page = await browser.new_page()
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on("response", measure)

            await page.goto(stack.graphql_url, wait_until="networkidle")
            editor = page.locator(".graphiql-query-editor .CodeMirror").first
            await editor.wait_for(timeout=30_000)
            # CodeMirror's own API: typing would race its bracket auto-closing.
            await editor.evaluate("(node, query) => node.CodeMirror.setValue(query)", QUERY)
            # GraphiQL has read the new document once its tab bears the operation's name.
            await expect(page.locator(".graphiql-tab-active")).to_contain_text("Plans")
            await page.locator(".graphiql-execute-button").click()

            # A subgraph's answer (subscription's plans), through the gateway.
            response = page.locator(".graphiql-response")
            await expect(response).to_contain_text('"SEE_WHO_LIKED_YOU"', timeout=15_000)
            await expect(response).not_to_contain_text('"errors"')

            # The docs panel: the schema GraphiQL introspected, with its descriptions.
            await page.locator('[aria-label="Show Documentation Explorer"]').click()
            docs = page.locator(".graphiql-doc-explorer")
            await expect(docs).to_contain_text("Query", timeout=15_000)
            await docs.get_by_text("Query", exact=True).first.click()
            await expect(docs).to_contain_text("queueLength", timeout=15_000)
            await expect(docs).to_contain_text("How many members are waiting in the queue.")

            # The explorer lists the root fields to tick.
            await page.locator('[aria-label="Show GraphiQL Explorer"]').click()
            explorer = page.locator(".graphiql-explorer-root")
            await expect(explorer).to_contain_text("queueLength", timeout=15_000)
            await expect(explorer).to_contain_text("plans")
        finally:
            await browser.close()

    assert not outside, f"GraphiQL reached outside the gateway (it must work offline): {outside}"
    assert not page_errors, f"the GraphiQL page threw: {page_errors}"
    assert {urlsplit(url).path for url in downloads} >= {
        "/graphql",
        "/graphiql/graphiql.js",
        "/graphiql/graphiql.css",
    }, downloads
    total = sum(plain for plain, _ in downloads.values())
    served = sum(encoded for _, encoded in downloads.values())
    print(f"GraphiQL page: {total} bytes uncompressed, {served} as served ({len(downloads)} files)")
    assert total <= MAX_PAGE_BYTES, f"the GraphiQL page is {total} bytes: {downloads}"
