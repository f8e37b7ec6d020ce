"""Settings for the front end's tests: the ``frontend`` app, MapLibre's files from node_modules
and the ``/map/`` URLs, each added only when ``config/`` does not have it yet."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from tests.conftest import REPO

MAPLIBRE_DIST = REPO / "node_modules" / "maplibre-gl" / "dist"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the real headless Chromium (Playwright)")


def frontend_overrides() -> dict:
    overrides: dict = {}
    if not {"frontend", "frontend.apps.FrontendConfig"} & set(settings.INSTALLED_APPS):
        overrides["INSTALLED_APPS"] = [*settings.INSTALLED_APPS, "frontend"]
    prefixes = [d[0] for d in settings.STATICFILES_DIRS if isinstance(d, tuple | list)]
    if "vendor/maplibre-gl" not in prefixes:
        overrides["STATICFILES_DIRS"] = [*settings.STATICFILES_DIRS, ("vendor/maplibre-gl", MAPLIBRE_DIST)]
    if settings.ROOT_URLCONF == "config.urls":
        overrides["ROOT_URLCONF"] = "tests.frontend.urls"
    return overrides


@pytest.fixture(scope="package", autouse=True)
def frontend_settings():
    """The front end wired in for every test of this package (a module-scoped live server
    needs it before any function-scoped ``settings`` fixture could give it)."""
    assert MAPLIBRE_DIST.joinpath("maplibre-gl.mjs").exists(), "run `npm ci` (package.json)"
    with override_settings(**frontend_overrides()):
        yield
