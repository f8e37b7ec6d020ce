"""The front end's tests need MapLibre from npm (``package.json``, installed by ``make test``).

:func:`docs_screenshot` keeps the documentation's pictures (``docs/img/``) current: the browser
tests call it once a page shows what the picture is for.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO

MAPLIBRE_DIST = REPO / "node_modules" / "maplibre-gl" / "dist"
DOCS_IMG = REPO / "docs" / "img"
DOCS_VIEWPORT = {"width": 1024, "height": 640}
DOCS_IMG_MAX_BYTES = 300_000
# Rendering differs by a few pixels from run to run: a picture is rewritten only when more than
# this share of its pixels changed, so that `make test` does not dirty the work tree for nothing.
DOCS_IMG_CHANGED = 0.002

_REDRAW = """() => new Promise((resolve) => {
    const map = window.gridtwinMap;
    map.once("idle", resolve);
    map.resize();
    map.triggerRepaint();
})"""


# The share of pixels that differ between two PNGs (1 when their sizes differ), decoded in the
# page itself so that the tests need no image library.
_CHANGED = """async ([a, b]) => {
    const decode = async (b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const bitmap = await createImageBitmap(new Blob([bytes], {type: "image/png"}));
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const context = canvas.getContext("2d");
        context.drawImage(bitmap, 0, 0);
        return context.getImageData(0, 0, bitmap.width, bitmap.height);
    };
    const [x, y] = [await decode(a), await decode(b)];
    if (x.width !== y.width || x.height !== y.height) return 1;
    let changed = 0;
    for (let i = 0; i < x.data.length; i += 4) {
        if (Math.abs(x.data[i] - y.data[i]) + Math.abs(x.data[i + 1] - y.data[i + 1])
            + Math.abs(x.data[i + 2] - y.data[i + 2]) > 24) changed++;
    }
    return changed / (x.width * x.height);
}"""


@pytest.fixture(scope="package", autouse=True)
def maplibre_installed():
    assert MAPLIBRE_DIST.joinpath("maplibre-gl.mjs").exists(), "run `npm ci` (package.json)"


def docs_screenshot(page, name: str, frame: Callable[[], None] | None = None) -> Path:
    """Save what the map page shows as ``docs/img/<name>.png``, 1024×640 px, for the docs.

    The page is resized to that viewport and the map redrawn (its centre kept; ``frame()``, when
    given, then sets the view), and resized back afterwards, so the test goes on as before. The
    file is rewritten only when the picture changed (:data:`DOCS_IMG_CHANGED`).
    """
    before = page.viewport_size
    page.set_viewport_size(DOCS_VIEWPORT)
    page.evaluate(_REDRAW)
    if frame is not None:
        frame()
    png = page.screenshot()
    page.set_viewport_size(before)
    page.evaluate(_REDRAW)
    assert len(png) < DOCS_IMG_MAX_BYTES, f"{name}.png: {len(png)} bytes; keep the docs' pictures small"
    path = DOCS_IMG / f"{name}.png"
    if path.exists():
        encoded = [base64.b64encode(data).decode() for data in (path.read_bytes(), png)]
        if page.evaluate(_CHANGED, encoded) <= DOCS_IMG_CHANGED:
            return path  # the same picture: keep the file as it is
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
