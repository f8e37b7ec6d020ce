"""The front end's tests need MapLibre from npm (``package.json``, installed by ``make test``).

:func:`docs_screenshot` keeps the documentation's pictures (``docs/img/``) current: the browser
tests call it once a page shows what the picture is for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO

MAPLIBRE_DIST = REPO / "node_modules" / "maplibre-gl" / "dist"
DOCS_IMG = REPO / "docs" / "img"
DOCS_VIEWPORT = {"width": 1024, "height": 640}
DOCS_IMG_MAX_BYTES = 300_000

_REDRAW = """() => new Promise((resolve) => {
    const map = window.gridtwinMap;
    map.once("idle", resolve);
    map.resize();
    map.triggerRepaint();
})"""


@pytest.fixture(scope="package", autouse=True)
def maplibre_installed():
    assert MAPLIBRE_DIST.joinpath("maplibre-gl.mjs").exists(), "run `npm ci` (package.json)"


def docs_screenshot(page, name: str, frame: Callable[[], None] | None = None) -> Path:
    """Save what the map page shows as ``docs/img/<name>.png``, 1024×640 px, for the docs.

    The page is resized to that viewport and the map redrawn (its centre kept; ``frame()``, when
    given, then sets the view), and resized back afterwards, so the test goes on as before.
    """
    before = page.viewport_size
    page.set_viewport_size(DOCS_VIEWPORT)
    page.evaluate(_REDRAW)
    if frame is not None:
        frame()
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    path = DOCS_IMG / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(before)
    page.evaluate(_REDRAW)
    size = path.stat().st_size
    assert size < DOCS_IMG_MAX_BYTES, f"{path.name}: {size} bytes; keep the docs' pictures small"
    return path
