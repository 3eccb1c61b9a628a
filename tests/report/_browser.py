"""Headless Chromium for the report's browser test: where each figure lies on the page, and a
screenshot of the page at that same layout.

The page itself has no script. To learn where its figures are, a copy of it gets one script
that, once everything has loaded, writes every figure's box and decoded size into the DOM,
which ``--dump-dom`` prints; the screenshot is then taken of the original page with the same
window width, so the boxes hold for it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

WIDTH = 1280
_PROBE = """<script>
window.addEventListener("load", () => {
  const figures = [...document.querySelectorAll("img.figure, svg.figure")].map((el) => {
    const r = el.getBoundingClientRect();
    return {id: el.id, x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height,
            natural: el.naturalWidth || 0, complete: !!el.complete};
  });
  const out = document.createElement("pre");
  out.id = "stepstones-layout";
  out.textContent = JSON.stringify(
    {height: document.documentElement.scrollHeight, width: innerWidth, figures,
     scripts: document.scripts.length});
  document.body.appendChild(out);
});
</script>"""
_LAYOUT = re.compile(r'<pre id="stepstones-layout">(.*?)</pre>', re.DOTALL)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def _run(browser: str, profile: Path, height: int, *args: str) -> str:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",  # CI runs as root; the page is a local file we wrote
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{height}",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def layout(browser: str, page: Path, work: Path) -> dict[str, Any]:
    """The page's height and every figure's box, measured by Chromium."""
    probe = work / "probe.html"
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    dom = _run(browser, work / "profile", 900, "--dump-dom", probe.as_uri())
    found = _LAYOUT.search(dom)
    assert found is not None, "the layout probe wrote nothing: the page did not finish loading"
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    data["dom"] = dom
    return data


def screenshot(browser: str, page: Path, height: int, out: Path) -> Path:
    """A screenshot of the whole page (``height`` CSS pixels at scale 1)."""
    _run(browser, out.parent / "profile", height, f"--screenshot={out}", page.as_uri())
    return out
