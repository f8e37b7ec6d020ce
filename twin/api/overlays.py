"""``GET /api/v1/overlays/``: price map overlays of one market run at one instant.

Query parameters: ``market`` (name), ``run`` (day-ahead|real-time|forward|computed), ``at`` (ISO
8601 with an offset), ``kind`` (points|voronoi|surface), and for surfaces ``method`` (idw|linear,
default idw), ``size`` (pixels along the longer side, default 1024), ``format``:

* points, voronoi: GeoJSON FeatureCollection with a ``stats`` colour-scale block (``format=json``);
* surface, ``format=json`` (default): the overlay's metadata — ``coordinates`` (the four lon/lat
  corners a MapLibre ``image`` source takes), ``bounds``, ``stats`` and the ``png_url`` and
  ``tif_url`` to fetch;
* surface, ``format=png``: RGBA PNG in EPSG:3857, transparent outside the nodes' coverage
  (``vmin``/``vmax`` fix the colour domain; corners in the ``X-Overlay-Coordinates`` header);
* surface, ``format=tif``: the float32 GeoTIFF (EPSG:3857, nodata NaN).

Overlays are built on the first request and cached until their prices change. Points, Voronoi
cells and surfaces up to ``SYNC_MAX_SIZE`` pixels are built synchronously (well under a second
for a few hundred nodes); a larger surface that is not cached yet answers ``202`` with the
``twin.build_price_overlay`` job to poll, then the same request answers ``200``.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from twin.api.serializers import JobSerializer
from twin.jobs import submit_job
from twin.models import Job, OverlayKind, PriceOverlay
from twin.services import overlays

SYNC_MAX_SIZE = 1024
FORMATS = ("json", "png", "tif")


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """``format`` is this endpoint's own parameter (png/tif/json), not DRF's renderer switch."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _bad(message: str, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"message": message}, status=code)


def _float(params, name: str) -> float | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise overlays.OverlayError(f"{name}: {value!r} is not a number") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise overlays.OverlayError(f"{name}: must be a finite number")
    return number


PARAMETERS = [
    OpenApiParameter("market", str, required=True, description="market name, e.g. CAISO"),
    OpenApiParameter("run", str, required=True, enum=["day-ahead", "real-time", "forward",
                                                      "computed"]),
    OpenApiParameter("at", OpenApiTypes.DATETIME, required=True,
                     description="instant with a UTC offset; the interval containing it is drawn"),
    OpenApiParameter("kind", str, required=True, enum=list(OverlayKind.values)),
    OpenApiParameter("format", str, enum=list(FORMATS),
                     description="surface only: json (metadata), png or tif"),
    OpenApiParameter("method", str, enum=["idw", "linear"], description="surface only"),
    OpenApiParameter("size", int, description="surface only: pixels along the longer side"),
    OpenApiParameter("vmin", float, description="png only: value drawn in the lowest colour"),
    OpenApiParameter("vmax", float, description="png only: value drawn in the highest colour"),
]


class PriceOverlayView(APIView):
    """Price map overlays (node points, Voronoi service areas, interpolated surface)."""

    queryset = PriceOverlay.objects.none()  # reads: any signed-in user
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation

    @extend_schema(parameters=PARAMETERS, responses={
        (200, "application/json"): OpenApiTypes.OBJECT, (200, "image/png"): OpenApiTypes.BINARY,
        (200, "image/tiff"): OpenApiTypes.BINARY, 202: JobSerializer,
    })
    def get(self, request):
        params = request.query_params
        kind = params.get("kind", "")
        fmt = params.get("format", "json")
        method = params.get("method", "idw")
        missing = [name for name in ("market", "run", "at", "kind") if not params.get(name)]
        if missing:
            return _bad(f"{', '.join(missing)}: required")
        if fmt not in FORMATS:
            return _bad(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
        if kind != OverlayKind.SURFACE and fmt != "json":
            return _bad(f"format: {kind} overlays are GeoJSON (format=json); png and tif are "
                        "for kind=surface")
        try:
            size = int(params.get("size", overlays.DEFAULT_SIZE))
        except ValueError:
            return _bad(f"size: {params.get('size')!r} is not an integer")
        try:
            market = overlays.resolve_market(params["market"])
            at = overlays.parse_instant(params["at"])
            overlays.check_options(run=params["run"], kind=kind, method=method, size=size)
            vmin, vmax = _float(params, "vmin"), _float(params, "vmax")
            if vmin is not None and vmax is not None and vmin > vmax:
                return _bad("vmin: must not exceed vmax")
            overlay, built = overlays.get_overlay(
                market, params["run"], at, kind=kind, method=method, size=size,
                build=kind != OverlayKind.SURFACE or size <= SYNC_MAX_SIZE)
        except overlays.NoPrices as exc:
            return _bad(str(exc), status.HTTP_404_NOT_FOUND)
        except overlays.OverlayError as exc:
            return _bad(str(exc))
        if overlay is None:
            if not request.user.has_perm("twin.add_job"):
                return _bad(f"a surface larger than {SYNC_MAX_SIZE} px that is not built yet is "
                            "built by a job, which only operators can start; ask for size="
                            f"{SYNC_MAX_SIZE} or less", status.HTTP_403_FORBIDDEN)
            parameters = {"market": market.name, "run": params["run"], "at": at.isoformat(),
                          "kind": kind, "method": method, "size": size}
            job = (Job.objects.filter(kind="twin.build_price_overlay", parameters=parameters)
                   .exclude(status__in=Job.FINISHED).order_by("-pk").first()
                   or submit_job("twin.build_price_overlay", parameters, user=request.user))
            return Response({"message": "the overlay is being built; poll the job, then repeat "
                                        "this request", "job": JobSerializer(job).data},
                            status=status.HTTP_202_ACCEPTED)
        headers = {"Cache-Control": "private, max-age=60", "X-Overlay-Built": str(built).lower()}
        if kind != OverlayKind.SURFACE:
            return Response(overlay.geojson, headers=headers)
        if fmt == "json":
            return Response(self._surface_metadata(request, overlay, method, size, built),
                            headers=headers)
        if fmt == "tif":
            with overlay.raster.open("rb") as handle:
                body = handle.read()
            name = f"{market.name}-{overlay.run}-{overlay.interval_start:%Y%m%dT%H%MZ}-{method}.tif"
            return HttpResponse(body, content_type="image/tiff", headers={
                **headers, "Content-Disposition": f'attachment; filename="{name}"'})
        try:
            png = overlays.overlay_png(overlay, vmin=vmin, vmax=vmax)
        except overlays.OverlayError as exc:
            return _bad(str(exc))
        return HttpResponse(png, content_type="image/png", headers={
            **headers, "X-Overlay-Bounds": ",".join(f"{v:.6f}" for v in overlay.bounds),
            "X-Overlay-Coordinates": json.dumps(overlay.stats.get("coordinates"))})

    @staticmethod
    def _surface_metadata(request, overlay: PriceOverlay, method: str, size: int,
                          built: bool) -> dict:
        query = {"market": overlay.market.name, "run": overlay.run,
                 "at": overlay.interval_start.isoformat(), "kind": "surface", "method": method,
                 "size": size}
        base = request.build_absolute_uri(request.path)
        return {
            "market": overlay.market.name, "run": overlay.run, "kind": overlay.kind,
            "method": method, "size": size,
            "interval_start": overlay.interval_start.isoformat(),
            "interval_end": overlay.stats.get("interval_end"),
            "crs": overlay.stats.get("crs"), "width": overlay.stats.get("width"),
            "height": overlay.stats.get("height"), "bounds": overlay.bounds,
            "coordinates": overlay.stats.get("coordinates"), "stats": overlay.stats,
            "inputs_digest": overlay.inputs_digest, "built": built,
            "png_url": f"{base}?{urlencode({**query, 'format': 'png'})}",
            "tif_url": f"{base}?{urlencode({**query, 'format': 'tif'})}",
        }
