"""GraphiQL in a real browser: the gateway's GET /graphql page runs a query, offline."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Route, async_playwright, expect

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
QUERY = "{ __schema { queryType { name } } }"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


async def test_graphiql_runs_a_query_without_reaching_the_internet(
    stack: Stack, tmp_path: Path
) -> None:
    assert shutil.which(CHROMIUM), "Debian's chromium is missing: run `make system-packages`"
    outside: list[str] = []
    page_errors: list[str] = []

    async def only_local(route: Route) -> None:
        # The page must work offline: anything but the gateway itself is refused and noted.
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

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

            await page.goto(stack.graphql_url)
            editor = page.locator(".graphiql-query-editor .monaco-editor").first
            await editor.wait_for(timeout=30_000)
            await editor.click()
            # Select all and delete first: typing `{` over a selection would wrap it in braces.
            await page.keyboard.press("ControlOrMeta+A")
            await page.keyboard.press("Delete")
            await page.keyboard.insert_text(QUERY)
            await expect(page.locator(".graphiql-query-editor .view-lines")).to_have_text(QUERY)

            await page.locator(".graphiql-execute-button").click()

            response = page.locator(".graphiql-response")
            await expect(response).to_contain_text('"name": "Query"', timeout=15_000)
            await expect(response).not_to_contain_text('"errors"')

            # The docs panel shows the schema GraphiQL introspected (its own, full query).
            await page.locator('[aria-label="Show Documentation Explorer"]').click()
            docs = page.locator(".graphiql-doc-explorer")
            await expect(docs).to_contain_text("Query", timeout=15_000)
            await docs.get_by_text("Query", exact=True).first.click()
            await expect(docs).to_contain_text("queueLength", timeout=15_000)
        finally:
            await browser.close()

    assert not outside, f"GraphiQL reached outside the gateway (it must work offline): {outside}"
    assert not page_errors, f"the GraphiQL page threw: {page_errors}"
