"""Vector tile endpoint: ``GET /tiles/{layer}/{z}/{x}/{y}.mvt`` (include these url patterns at
``tiles/``). The layers, zoom rules, versions and encoders live in :mod:`twin.services.tiles`.

Answers:

* **200** ``application/vnd.mapbox-vector-tile`` with ``ETag`` and ``Cache-Control: private,
  max-age=60`` (``public`` for a layer registered as public). A tile with no features is an
  **empty 200 body**: a protobuf message with no fields is a valid MVT with no layers, which
  MapLibre GL (and every other client) draws as an empty tile, and which keeps the
  ETag/304 round trip uniform. (PostGIS's ``ST_AsMVT`` over no rows returns the same empty
  bytes.)
* **304** when ``If-None-Match`` holds the tile's current ETag (a hash of its bytes); with the
  tile in the cache that costs one cheap version query.
* **400** JSON ``{"message": …}`` for z > 22 or x/y ≥ 2^z; **404** for an unknown layer (JSON)
  and for a z/x/y that is not a non-negative integer (no URL matches).
* **401** (JSON, ``WWW-Authenticate: Token``) for an anonymous request: token or session
  authentication, as the REST API. Every twin layer needs it; only a layer registered with
  ``public=True`` (e.g. a basemap) is served to anonymous users, with ``Cache-Control: public``.
"""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.urls import path
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from twin.services import tiles

CACHE_MAX_AGE_S = 60


class TileLayerPermission(BasePermission):
    """Authenticated users read every layer; anonymous users only layers marked public.

    An unknown layer passes here so that the view can answer 404.
    """

    def has_permission(self, request, view) -> bool:
        layer = tiles.LAYERS.get(view.kwargs.get("layer", ""))
        if layer is None or layer.public:
            return True
        return bool(request.user and request.user.is_authenticated)


class AnyAccept(BaseContentNegotiation):
    """Tiles don't negotiate: whatever the Accept header (MapLibre sends ``*/*``, others the
    MVT type), errors are JSON and tiles are MVT."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return None


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


def _matches(if_none_match: str, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    weak = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == weak for tag in parse_etags(if_none_match))


class TileView(APIView):
    """One tile of one layer (see the module docstring for the answers)."""

    permission_classes = [TileLayerPermission]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAccept
    schema = None  # binary tiles: not part of the OpenAPI schema

    def get(self, request, layer: str, z: int, x: int, y: int):
        try:
            tile = tiles.fetch_tile(layer, z, x, y)
        except tiles.UnknownLayer as exc:
            return _error(404, str(exc.args[0]))
        except tiles.TileOutOfRange as exc:
            return _error(400, str(exc))
        public = tiles.LAYERS[layer].public
        headers = {"ETag": tile.etag,
                   "Cache-Control": f"{'public' if public else 'private'}, max-age={CACHE_MAX_AGE_S}"}
        if _matches(request.headers.get("If-None-Match", ""), tile.etag):
            response = HttpResponseNotModified(headers=headers)
        else:
            response = HttpResponse(tile.data, content_type=tiles.CONTENT_TYPE, headers=headers)
        if not public:
            patch_vary_headers(response, ["Authorization", "Cookie"])
        return response


tile_view = TileView.as_view()

urlpatterns = [
    path("<slug:layer>/<int:z>/<int:x>/<int:y>.mvt", tile_view, name="tile"),
]
