"""The field map page: an HTML shell, its configuration as JSON and an import map.

The front end is a client of the REST API and the vector tiles: this module imports no models.
What the browser needs to know (tile URL template, API addresses, the basemap style, the initial
bounds, who is signed in) is put into the page with ``json_script``; the JavaScript modules are
plain ES modules (no bundler) tied together by an import map that points every module at its
``{% static %}`` URL, so that hashed file names (``ManifestStaticFilesStorage``) reach the
modules' relative imports too.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse, reverse_lazy
from django.utils.safestring import mark_safe

JS_ROOT = Path(__file__).resolve().parent / "static" / "frontend" / "js"
MAPLIBRE = "vendor/maplibre-gl/maplibre-gl.mjs"
MAPLIBRE_WORKER = "vendor/maplibre-gl/maplibre-gl-worker.mjs"
MAPLIBRE_CSS = "vendor/maplibre-gl/maplibre-gl.css"
# Where the map opens until the regions API answers: Liechtenstein, the demo region.
DEFAULT_BOUNDS = (9.47, 47.05, 9.64, 47.27)
TILE_URL_FALLBACK = "/tiles/{layer}/{z}/{x}/{y}.mvt"
HISTORY_MODELS = ("substation", "line", "support", "charger")
# Front-end text must not close the <script> element it sits in.
_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def _reverse_or(name: str, default: str | None = None, **kwargs) -> str | None:
    try:
        return reverse(name, **kwargs)
    except NoReverseMatch:
        return default


def tile_url_template() -> str:
    """``/tiles/{layer}/{z}/{x}/{y}.mvt``, read from the URL configuration."""
    url = _reverse_or("tile", kwargs={"layer": "layer-placeholder", "z": 0, "x": 0, "y": 0})
    if not url or not url.endswith("/layer-placeholder/0/0/0.mvt"):
        return TILE_URL_FALLBACK
    return url.removesuffix("/layer-placeholder/0/0/0.mvt") + "/{layer}/{z}/{x}/{y}.mvt"


def history_urls() -> dict[str, str]:
    """Admin change-history URL templates per asset model (``{id}`` to fill in)."""
    urls = {}
    for model in HISTORY_MODELS:
        url = _reverse_or(f"admin:twin_{model}_history", args=[0])
        if url and "/0/" in url:
            urls[model] = url.replace("/0/", "/{id}/", 1)
    return urls


def map_config(request) -> dict:
    """Everything the map's JavaScript needs to start, as plain JSON."""
    user = request.user
    return {
        "tileUrl": tile_url_template(),
        "apiRoot": _reverse_or("api-root", "/api/v1/"),
        "apiUrls": {kind: _reverse_or(f"{kind}-list") for kind in
                    ("substation", "line", "support", "charger", "job", "region")},
        "basemapStyleUrl": getattr(settings, "MAP_BASEMAP_STYLE_URL", "") or "",
        "bounds": list(DEFAULT_BOUNDS),
        "workerUrl": static(MAPLIBRE_WORKER),
        "historyUrls": history_urls() if user.is_staff else {},
        "adminUrl": _reverse_or("admin:index") if user.is_staff else None,
        "loginUrl": reverse("frontend:login"),
        "csrfToken": get_token(request),
        "user": {"username": user.get_username(), "isStaff": user.is_staff},
        "attribution": '<a href="https://www.openstreetmap.org/copyright" target="_blank" '
                       'rel="noopener">© OpenStreetMap contributors</a>',
    }


@lru_cache(maxsize=1)
def _module_paths() -> tuple[str, ...]:
    return tuple(sorted(
        f"frontend/js/{path.relative_to(JS_ROOT).as_posix()}" for path in JS_ROOT.rglob("*.js")
    ))


def import_map() -> str:
    """The page's import map: ``maplibre-gl`` and every front-end module at its static URL.

    Keys of the form ``/static/frontend/js/x.js`` are what the modules' relative imports resolve
    to; their values are the same file under its (possibly hashed) storage name.
    """
    if settings.DEBUG:
        _module_paths.cache_clear()  # new modules appear without a restart
    imports = {"maplibre-gl": static(MAPLIBRE)}
    for name in _module_paths():
        imports[f"{settings.STATIC_URL}{name}"] = static(name)
    return mark_safe(json.dumps({"imports": imports}, indent=1).translate(_JSON_ESCAPES))


@login_required(login_url=reverse_lazy("frontend:login"))
def map_view(request):
    """``/map/``: the field crews' map (MapLibre), for signed-in users."""
    return render(request, "frontend/map.html", {
        "config": map_config(request),
        "import_map": import_map(),
        "maplibre_css": MAPLIBRE_CSS,
    })
