"""The report in a real browser: headless Chromium lays the page out and takes a screenshot,
and every figure must be drawn there — present, decoded, and its pixels those of its PNG.

Without Chromium the test is skipped, except under CI (``CI=true``), where it fails: CI
installs Debian's ``chromium`` package (.ci/run).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from _browser import find_chromium, layout, screenshot
from PIL import Image, ImageChops, ImageStat

from stepstones.report import compute, figure_ids, load_run


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed: CI must install it (.ci/run)")
        pytest.skip("needs chromium (apt-get install chromium); CI installs it")
    return path


def _blank_share(region: Image.Image) -> float:
    """Share of pixels that are (almost) white."""
    grey = region.convert("L")
    hist = grey.histogram()
    return sum(hist[245:]) / max(1, grey.width * grey.height)


def test_every_figure_is_drawn_in_chromium(
    browser: str, varied: tuple[Path, Path], tmp_path: Path
) -> None:
    run, page = varied
    ids = figure_ids(compute(load_run(run)))
    probe = layout(browser, page, tmp_path)
    boxes = {f["id"]: f for f in probe["figures"]}
    assert list(boxes) == ids
    # The page has no script of its own; the hostile teacher reply arrived as text.
    assert probe["scripts"] == 1
    assert "&lt;script&gt;alert(" in probe["dom"]
    shot = Image.open(screenshot(browser, page, probe["height"], tmp_path / "shot.png"))
    shot = shot.convert("RGB")
    assert shot.size == (probe["width"], probe["height"])
    for fig_id, box in boxes.items():
        assert box["complete"] and box["natural"] > 0, f"{fig_id} did not decode"
        assert box["width"] > 300 and box["height"] > 150, f"{fig_id} is laid out too small"
        left, top = round(box["x"]), round(box["y"])
        right, bottom = left + round(box["width"]), top + round(box["height"])
        assert bottom <= shot.height, f"{fig_id} lies below the screenshot"
        region = shot.crop((left, top, right, bottom))
        assert _blank_share(region) < 0.97, f"{fig_id} is blank in the screenshot"
        assert len(region.getcolors(1 << 20) or ()) > 20, f"{fig_id} has too few colours"
        # The pixels there are the figure's own (its PNG file, scaled as the page shows it).
        own = Image.open(page.parent / f"{fig_id}.png").convert("RGB").resize(region.size)
        diff = ImageStat.Stat(ImageChops.difference(region, own)).mean
        assert max(diff) < 12, f"{fig_id}: the screenshot differs from its PNG ({diff})"
    # The regions of the figures do not overlap.
    spans = sorted((b["y"], b["y"] + b["height"]) for b in boxes.values())
    assert all(a[1] <= b[0] + 1 for a, b in itertools.pairwise(spans))
