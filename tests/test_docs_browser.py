"""/api/docs in a real headless Chromium (Debian's chromium, driven by Playwright): Swagger UI loads
from this origin only, renders the operations of /api/openapi.json, and breaks no page rule
(no console error, no request to another origin, nothing refused by the Content-Security-Policy)."""
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from live_server import live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium missing: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True, timeout=TIMEOUT_MS)
        try:
            yield browser
        finally:
            browser.close()


def test_docs_render_the_operations(browser, tmp_path):
    with live_server() as server:
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        problems, origins = [], set()
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("request", lambda request: origins.add(
            "{0.scheme}://{0.netloc}".format(urlsplit(request.url))))
        response = page.goto(server.base_url + "/api/docs")
        assert response.status == 200
        page.wait_for_selector(".opblock-summary-path", state="attached")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api/message/customer-data/" in {path.replace("\u200b", "") for path in paths}
        assert page.locator(".opblock-tag-section").count() >= 3
        title = page.locator(".info .title").inner_text()
        assert "CustomerData API" in title
        # open one operation: its request body shows the three content types
        create = page.locator("#operations-message-createEntry")
        create.locator(".opblock-summary").click()
        content_types = create.locator(".opblock-section-request-body select").first
        content_types.wait_for()
        assert set(content_types.locator("option").all_inner_texts()) == {
            "application/json", "multipart/form-data", "application/x-www-form-urlencoded"}
        page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
        assert not problems, problems
        assert origins == {server.base_url}, origins
        page.close()
