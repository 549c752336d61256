"""The documentation site, opened in headless Chromium: what a reader sees, not just the HTML.

The site is built once (``mkdocs build --strict``; CI builds it in a step of its own first) and
served on a local port. Each check saves a screenshot under build/docs-screenshots/.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs import _site

pytest.importorskip("mkdocs", reason="the docs extra is not installed")

WAIT_S = 20


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    with _site.serve(_site.built_site()) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    driver = _site.chromium(tmp_path_factory.mktemp("chromium-profile"))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: object, condition: object, what: str) -> object:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(condition)
    except TimeoutException:
        _screenshot(driver, "FAILED-" + re.sub(r"\W+", "-", what))
        raise AssertionError(f"timed out after {WAIT_S} s waiting for {what} on {driver.current_url}") from None


def _screenshot(driver: object, name: str) -> Path:
    _site.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = _site.SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def test_index_loads(browser: object, site_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site_url)
    heading = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "article h1"), "the index's heading")
    assert heading.text.strip() == "gdtransforms"
    assert "gdtransforms" in browser.title
    nav = browser.find_element(By.CSS_SELECTOR, "nav.md-nav--primary").get_attribute("textContent")
    for entry in ("Getting started", "API reference", "Notebooks", "Benchmarks", "Differences from optax"):
        assert entry in nav
    _screenshot(browser, "1-index")


def test_search_finds_adamw(browser: object, site_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site_url)
    box = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "input.md-search__input"), "the search box")
    # the search index loads in a web worker: results appear once it is ready, hence the wait below
    _wait(browser, lambda d: box.is_enabled() and box.is_displayed(), "the search box to be usable")
    box.click()
    box.send_keys("adamw")

    target = site_url + "api/optimizers/adamw/"
    seen: list[str] = []

    def adamw_first(driver: object) -> bool:
        # read the hrefs in one script: the list re-renders as each typed letter is searched
        links = driver.execute_script(
            "return Array.from(document.querySelectorAll('.md-search-result__item a')).map(a => a.href);"
        )
        seen[:] = [re.split(r"[?#]", link)[0] for link in links if link]
        return bool(seen) and seen[0] == target  # its own page first (search boost)

    try:
        _wait(browser, adamw_first, "the adamw page as the first search result")
    except AssertionError as err:
        raise AssertionError(f"{err}; results: {seen[:8]}") from None
    _screenshot(browser, "2-search-adamw")


def test_scale_by_adam_shows_its_formula(browser: object, site_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site_url + "api/transforms/scale_by_adam/")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".arithmatex .katex-display .katex-html"), "KaTeX output")
    blocks = browser.find_elements(By.CSS_SELECTOR, ".arithmatex")
    assert len(blocks) >= 5  # the display block and the inline symbols of Args
    unrendered = [b.get_attribute("textContent")[:80] for b in blocks if not b.find_elements(By.CSS_SELECTOR, ".katex")]
    assert not unrendered, f"math left as TeX: {unrendered}"
    assert not browser.find_elements(By.CSS_SELECTOR, ".katex-error")
    display = browser.find_element(By.CSS_SELECTOR, ".katex-display .katex-html")
    assert display.size["width"] > 200 and display.size["height"] > 20  # laid out, fonts loaded
    tex = browser.find_element(By.CSS_SELECTOR, ".katex-display annotation").get_attribute("textContent")
    assert r"\frac{\hat V_t}{\sqrt{\hat S_t + \epsilon_{root}} + \epsilon}" in tex
    visible = browser.find_element(By.CSS_SELECTOR, "article").text
    assert "\\frac" not in visible and "\\beta" not in visible and "$$" not in visible
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", display)
    time.sleep(0.5)  # let the header's title transition finish before the screenshot
    _screenshot(browser, "3-scale_by_adam")


def test_notebook_page_shows_its_plots(browser: object, site_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site_url + "notebooks/03_momentum_to_adam/")

    def loaded_images(driver: object) -> list[dict[str, int]] | bool:
        sizes = driver.execute_script(
            "return Array.from(document.querySelectorAll('.jupyter-wrapper img'))"
            ".map(i => ({w: i.naturalWidth, h: i.naturalHeight, complete: i.complete}));"
        )
        return sizes if sizes and all(s["complete"] for s in sizes) else False

    sizes = _wait(browser, loaded_images, "the notebook's plots")
    assert all(s["w"] > 100 and s["h"] > 100 for s in sizes), sizes
    # the notebook's own markdown math renders too
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".jupyter-wrapper .katex"), "KaTeX in the notebook")
    first = browser.find_element(By.CSS_SELECTOR, ".jupyter-wrapper img")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", first)
    time.sleep(0.5)
    _screenshot(browser, "4-notebook-03")


def test_every_formula_of_the_site_renders(browser: object, site_url: str) -> None:
    """All math of all pages through KaTeX with throwOnError: a formula KaTeX cannot typeset fails here."""
    formulas: dict[str, str] = {}
    pattern = re.compile(r'<(?:span|div) class="arithmatex">(.*?)</(?:span|div)>', re.S)
    for page in sorted(_site.SITE.rglob("*.html")):
        for match in pattern.finditer(page.read_text(encoding="utf-8")):
            tex = html.unescape(match.group(1)).strip()
            formulas.setdefault(tex, str(page.relative_to(_site.SITE)))
    assert len(formulas) > 100
    browser.get(site_url + "api/transforms/scale_by_adam/")
    _wait(browser, lambda d: d.execute_script("return typeof katex !== 'undefined'"), "KaTeX")
    errors = browser.execute_script(
        """
        const out = [];
        for (const [tex, page] of JSON.parse(arguments[0])) {
          const display = tex.startsWith('\\\\[');
          const body = tex.slice(2, -2);
          try { katex.renderToString(body, {displayMode: display, throwOnError: true}); }
          catch (e) { out.push(page + ': ' + tex.slice(0, 120) + ' -> ' + e.message); }
        }
        return out;
        """,
        json.dumps(list(formulas.items())),
    )
    assert not errors, "\n".join(errors)
