"""report.html in a real headless Chromium (Debian's, through playwright's Python API):
no console error, every image decoded, a screenshot kept as the test's artifact.
Installed by .ci/setup-chromium.sh; skipped only where Chromium cannot be found."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/lib/chromium/chromium")


def _chromium() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no Chromium here: run `bash .ci/setup-chromium.sh` (apt-get install chromium)")
    return found


def test_report_page_opens_offline_with_every_image_loaded(serving_report, tmp_path):  # type: ignore[no-untyped-def]
    executable = _chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright missing: run `bash .ci/setup-chromium.sh`"
    )
    errors: list[str] = []
    requests: list[str] = []
    shot = tmp_path / "report.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(serving_report.html.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth, e.alt])"
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"screenshot: {shot}")
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []  # offline
    drawn = [d for d in serving_report.drawn if d.figure is not None]
    assert len(images) == len(drawn)
    assert all(complete and width > 0 for complete, width, _ in images), images
    assert shot.stat().st_size > 10_000
