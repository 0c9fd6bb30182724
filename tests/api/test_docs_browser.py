"""The API explorer in a real browser (Debian chromium via Playwright) with the network cut off.

Every request that does not go to the live controller on 127.0.0.1 is aborted and recorded, so a page that
reaches for a CDN draws nothing and fails here (the bug this guards against: Swagger UI loaded from a CDN showed a
blank page offline, ``SwaggerUIBundle is not defined``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nas_service.testing import CHROMIUM, CHROMIUM_FLAGS, LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (run scripts/ensure-chromium.sh)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("docs")).start()
    yield live
    live.stop()


def test_docs_load_offline_and_show_an_operation(server: LiveServer) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    blocked: list[str] = []
    errors: list[str] = []

    def only_the_server(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(server.url + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route("**/*", only_the_server)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/docs")  # the redirect users try first
            assert page.url == f"{server.url}/api/v1/docs"
            operation = page.locator("#operations-jobs-create_job")
            operation.wait_for(timeout=30_000)
            assert "/api/v1/jobs" in operation.inner_text()
            operation.locator(".opblock-summary").first.click()  # expands: the request body schema renders
            page.get_by_text("Try it out").first.wait_for(timeout=10_000)
            assert page.locator(".info .title").inner_text().startswith("nas-service")
        finally:
            browser.close()
    assert not blocked, f"the explorer reached outside the server: {blocked}"
    assert not errors, f"JavaScript errors on the page: {errors}"
