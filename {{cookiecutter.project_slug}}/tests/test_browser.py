"""The UI in a real browser: headless Chromium (Playwright) on a store the pipelines filled.

Marked ``heavy`` and ``browser``: the default ``pytest`` skips it; ``pytest -m browser`` runs it
and ``make test`` of the template runs it with REQUIRE_BROWSER=1. It needs Playwright
(``pip install playwright``) and a Chromium on PATH (``apt-get install chromium``) or in
CHROMIUM; it never downloads a browser (no ``playwright install``). Without them it is skipped
with the reason, or fails under REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from {{ cookiecutter.package_name }}.pipelines import feature, inference, training
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.ui import build_app

pytestmark = [pytest.mark.heavy, pytest.mark.browser]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# No first-run network traffic of the browser itself: the page is the only thing it loads.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 120_000  # only stops a hang; a working page renders in seconds
PROBLEMS = ("No forecast", "No hindcast", "No prediction", "No dates", "could not be read", "Invalid date")


def _missing(reason: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Return the path of a Chromium to drive (CHROMIUM, else the first one on PATH)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("Playwright is not installed: pip install playwright (no `playwright install` needed)")
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not found:
        _missing("no Chromium found: apt-get install chromium, or set CHROMIUM=/path/to/chromium")
    return str(found)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Fill a store with the three pipelines (synthetic data), serve the UI on loopback; yield its URL."""
    root: Path = tmp_path_factory.mktemp("browser") / "store"
    settings = Settings(_env_file=None, store_dir=root, data_source="synthetic")
    feature.run(settings)
    training.run(settings)
    inference.run(settings)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = build_app(settings)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_forecast_hindcast_and_a_prediction_render_without_errors(served: str, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: outside.append(r.url) if _leaves_loopback(r.url) else None)
            page.goto(served)
            _check_plots(page)
            _predict_the_second_day(page)
            text = page.inner_text("body")
        finally:
            browser.close()
    assert not errors, f"console errors: {errors}"
    assert not outside, f"the page sent requests beyond 127.0.0.1: {outside}"
    shown = [problem for problem in PROBLEMS if problem in text]
    assert not shown, f"the page shows problems: {shown}"


def _leaves_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in ("127.0.0.1", "localhost")


def _check_plots(page) -> None:
    """Wait until the forecast, hindcast and accuracy plots have drawn their data."""
    page.get_by_text("Daily mean PM2.5 in").wait_for()  # the forecast's note: its data arrived
    page.get_by_text("MAE of model").wait_for()  # the hindcast's
    plots = page.locator(".vega-embed")
    page.wait_for_function("document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= 3")
    assert plots.count() >= 3, "fewer plots than forecast, hindcast and accuracy"
    for index in range(3):
        box = plots.nth(index).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, f"plot {index} is empty"


def _predict_the_second_day(page) -> None:
    """Pick the second offered date and press Predict; wait for the prediction and its features."""
    page.get_by_label("Date (UTC)").click()
    options = page.get_by_role("option")
    options.first.wait_for()
    chosen = options.nth(1).inner_text().strip()
    options.nth(1).click()
    page.get_by_role("button", name="Predict").click()
    page.get_by_text("Predicted daily mean PM2.5 in").wait_for()
    day = page.get_by_label("Date (UTC)").input_value()
    assert day == chosen, f"the dropdown shows {day!r}, not the chosen {chosen!r}"
    page.get_by_role("grid", name="Features used").get_by_text("pm25_lag_1").wait_for()
