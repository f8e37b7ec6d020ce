"""The front end's tests need MapLibre from npm (``package.json``, installed by ``make test``)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

MAPLIBRE_DIST = REPO / "node_modules" / "maplibre-gl" / "dist"


@pytest.fixture(scope="package", autouse=True)
def maplibre_installed():
    assert MAPLIBRE_DIST.joinpath("maplibre-gl.mjs").exists(), "run `npm ci` (package.json)"
