"""/docs works without the internet: every asset it loads is served by the app itself."""
import re
from urllib.parse import urlparse

from test_pages import browser, served  # noqa: F401 (fixtures)


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)\s*=\s*"([^"]+)"', html)


def test_the_docs_page_references_nothing_on_another_host_and_needs_no_key(sqlite_app):
    anonymous = sqlite_app.test_client()
    anonymous.environ_base.pop("HTTP_AUTHORIZATION")
    page = anonymous.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    refs = _references(html)
    assert {"/docs/assets/swagger-ui.css", "/docs/assets/swagger-ui-bundle.js",
            "/docs/assets/swagger-ui-standalone-preset.js"} <= set(refs)
    assert not [r for r in refs if urlparse(r).netloc or r.startswith("//")], refs
    assert "cdn." not in html and re.search(r'"validatorUrl":\s*null', html)  # the answers' JSON is compact
    for ref in refs:
        with anonymous.get(ref) as asset:
            assert asset.status_code == 200, ref
            assert len(asset.data) > 1000, ref
    assert anonymous.get("/docs/assets/../../wsgi.py").status_code == 404


def test_in_headless_chromium_the_docs_render_the_contract_loading_only_from_the_app(served, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{served}/docs")
    wait = WebDriverWait(browser, 60)
    title = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title")))
    assert "Separation Guard" in title.text
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/v1/checks" in paths and "/v1/cases/{case_id}/events" in paths
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href])")
    hosts = {urlparse(url).netloc for url in loaded if not url.startswith("data:")}
    assert hosts == {urlparse(served).netloc}, loaded
