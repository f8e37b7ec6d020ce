"""Market data over the API: nodal prices, their intervals, price and carbon at a place, carbon.

All reads, for any signed-in user or token (crew, partners, operators); anonymous → 401.
Bad parameters → 400 with a ``message`` naming the parameter.

* ``GET prices/nodes/?market=&run=&at=`` — GeoJSON FeatureCollection of the market's located
  nodes with their price for the interval holding ``at``;
* ``GET prices/series/?node=&run=&start=&end=`` — one node's prices (and its carbon) over a
  range of at most :data:`MAX_SERIES_DAYS` days;
* ``GET prices/intervals/?market=&run=[&start=&end=]`` — the interval starts with prices;
* ``GET prices/at/?lon=&lat=&at=&market=&run=&method=nearest|interpolated`` — price and carbon
  at a location: the nearest node's, or inverse-distance interpolated inside the nodes'
  coverage (``null`` outside it);
* ``GET carbon/?zone=|market=|node=&start=&end=`` — a carbon-intensity series.

Computed prices and forward curves:

* ``GET forward-curves/?node=<id>[&months=12][&run=RUN][&start_month=YYYY-MM]``: a node's hourly
  forward curve computed from its current price history (:func:`markets.services.forward.forward_curve`,
  the same function ``build_forward_curve`` stores as run ``forward``). Any signed-in user.
* ``POST computed-prices/`` ``{"market", "network"?, "intervals"?, "start"?, "scenario"?, "ac"?}``:
  checks the input, then queues the ``markets.compute_lmps`` job and answers ``202`` with it.
  Operators only.

Price map overlays, ``GET overlays/``:

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
``markets.build_price_overlay`` job to poll, then the same request answers ``200``.

Markets and pricing nodes: ``markets/`` and ``pricing-nodes/`` (read for every signed-in user,
written by operators).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from markets import filtersets
from markets.api.serializers import (
    AtQuery,
    AtSerializer,
    CarbonQuery,
    CarbonSerializer,
    CarbonSeriesSerializer,
    ComputedPricesSerializer,
    IntervalsQuery,
    IntervalsSerializer,
    MarketSerializer,
    NodesQuery,
    PricingNodeSerializer,
    SeriesQuery,
    SeriesSerializer,
    _params,
)
from markets.models import Market, MarketRun, NodalPrice, OverlayKind, PriceOverlay, PricingNode
from markets.services import forward, opf, overlays
from markets.services.carbon import carbon_series
from markets.services.queries import intervals, node_series, price_at_location, prices_at
from markets.services.storage import PRICE_VALUES
from twin.api.pagination import ListPagination
from twin.api.serializers import JobSerializer
from twin.jobs import JobParameterError, submit_job
from twin.models import Job


def _node(node: PricingNode) -> dict:
    return {"id": node.pk, "code": node.code, "name": node.name, "kind": node.kind,
            "area": node.area, "market": node.market.name,
            "location": [node.location.x, node.location.y] if node.location else None}


def _carbon_value(row: dict | None) -> float | None:
    return row["average_g_per_kwh"] if row else None


# ---- views -------------------------------------------------------------------------------------

class PriceNodesView(APIView):
    """All located nodes of a market with their price for the interval holding ``at``
    (GeoJSON; empty ``features`` when no interval of the run holds ``at``)."""

    queryset = NodalPrice.objects.none()  # reads: any signed-in user

    @extend_schema(parameters=[NodesQuery], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        params = _params(NodesQuery, request)
        market, run, at = params["market"], params["run"], params["at"]
        features, interval = [], None
        columns = ("node_id", "node__code", "node__name", "node__kind", "node__area",
                   "node__location", "interval_start", "interval_end", *PRICE_VALUES)
        # Plain values, not model instances: a third of the time for a market's few hundred nodes.
        for row in prices_at(market, run, at).filter(node__location__isnull=False).values_list(
                *columns):
            pk, code, name, kind, area, location, start, end, *values = row
            interval = interval or (start, end)
            features.append({
                "type": "Feature", "id": pk,
                "geometry": {"type": "Point", "coordinates": [location.x, location.y]},
                "properties": {
                    "id": pk, "code": code, "name": name, "kind": kind, "area": area,
                    **dict(zip(PRICE_VALUES, values, strict=True)),
                    "interval_start": start, "interval_end": end, "currency": market.currency},
            })
        return Response({"type": "FeatureCollection", "market": market.name, "run": run,
                         "at": at, "currency": market.currency,
                         "interval_start": interval and interval[0],
                         "interval_end": interval and interval[1], "features": features})


class PriceSeriesView(APIView):
    """One node's prices over ``[start, end)`` (at most 31 days), with the carbon intensity
    that applies to it over the same range."""

    queryset = NodalPrice.objects.none()

    @extend_schema(parameters=[SeriesQuery], responses={200: SeriesSerializer})
    def get(self, request):
        params = _params(SeriesQuery, request)
        node, start, end = params["node"], params["start"], params["end"]
        carbon = [{k: row[k] for k in CarbonSerializer().fields}
                  for row in carbon_series(node, start, end)]
        return Response({"node": _node(node), "currency": node.market.currency,
                         "run": params["run"],
                         "prices": node_series(node, params["run"], start, end),
                         "carbon": carbon})


class PriceIntervalsView(APIView):
    """The interval starts for which a market run has prices (for a time slider)."""

    queryset = NodalPrice.objects.none()

    @extend_schema(parameters=[IntervalsQuery], responses={200: IntervalsSerializer})
    def get(self, request):
        params = _params(IntervalsQuery, request)
        return Response({"market": params["market"].name, "run": params["run"],
                         "intervals": intervals(params["market"], params["run"],
                                                params.get("start"), params.get("end"))})


class PriceAtView(APIView):
    """Price and carbon at a location and time: the nearest located node's price, or a price
    interpolated (inverse distance, in metres) from the nodes — only inside their convex hull."""

    queryset = NodalPrice.objects.none()

    @extend_schema(parameters=[AtQuery], responses={200: AtSerializer})
    def get(self, request):
        params = _params(AtQuery, request)
        market = params["market"]
        try:
            answer = price_at_location(market, params["run"], params["at"], params["lon"],
                                       params["lat"], method=params["method"])
        except ValueError as exc:  # fewer than three nodes, or all on one line
            return Response({"message": f"method: cannot interpolate here ({exc}); use "
                                        "method=nearest"}, status=status.HTTP_400_BAD_REQUEST)
        node = answer.pop("node")
        answer["carbon_g_per_kwh"] = _carbon_value(answer.pop("carbon"))
        return Response({**answer, "node": _node(node) if node else None,
                         "currency": market.currency})


class CarbonView(APIView):
    """A carbon-intensity series over ``[start, end)`` (at most 366 days) of a zone, of a
    market's carbon zone, or of a node (its own series, else its market's zone)."""

    queryset = NodalPrice.objects.none()

    @extend_schema(parameters=[CarbonQuery], responses={200: CarbonSeriesSerializer})
    def get(self, request):
        params = _params(CarbonQuery, request)
        subject = params.get("node") or params.get("market") or params["zone"]
        zone = (subject if isinstance(subject, str) else
                subject.carbon_zone if isinstance(subject, Market) else None)
        series = [{k: row[k] for k in (*CarbonSerializer().fields, "is_forecast", "source")}
                  for row in carbon_series(subject, params["start"], params["end"])]
        return Response({"zone": zone, "node": subject.pk if isinstance(subject, PricingNode)
                         else None, "series": series})



def _bad(message: str, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    """The API's error answer: ``{"message": …}`` with ``code`` (400 by default)."""
    return Response({"message": message}, status=code)


class ForwardCurveView(APIView):
    """The forward curve of one pricing node: month × hour-of-day shape scaled to monthly levels,
    with carbon beside price — a planning curve, not a traded one."""

    queryset = NodalPrice.objects.none()  # reads: any signed-in user

    @extend_schema(
        parameters=[
            OpenApiParameter("node", int, required=True, description="pricing node id"),
            OpenApiParameter("months", int, description=f"1–{forward.MAX_MONTHS}, default 12"),
            OpenApiParameter("run", str, enum=[MarketRun.DAY_AHEAD, MarketRun.REAL_TIME,
                                               MarketRun.COMPUTED],
                             description="history to use (default: day-ahead, else real-time, "
                                         "else computed)"),
            OpenApiParameter("start_month", str, description="first month YYYY-MM "
                                                             "(default: after the history)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        params = request.query_params
        node_id = params.get("node", "")
        if not node_id.isdigit():
            return _bad("node: give a pricing node id (a whole number)")
        node = PricingNode.objects.select_related("market").filter(pk=int(node_id)).first()
        if node is None:
            return _bad(f"node: no pricing node with id {node_id}")
        months = params.get("months", "12")
        if not months.isdigit():
            return _bad(f"months: {months!r} is not a whole number")
        try:
            curve = forward.forward_curve(node, months=int(months), run=params.get("run") or None,
                                          start_month=params.get("start_month") or None)
        except forward.ForwardError as exc:
            return _bad(str(exc))
        return Response(curve)



class ComputedPricesView(APIView):
    """Queue a computation of LMPs from the twin's network (``markets.compute_lmps``)."""

    queryset = Job.objects.none()  # operators only: needs twin.add_job
    serializer_class = ComputedPricesSerializer

    @extend_schema(request=ComputedPricesSerializer, responses={202: JobSerializer})
    def post(self, request):
        form = ComputedPricesSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        parameters = {"intervals": data["intervals"], "scenario": data["scenario"], "ac": data["ac"]}
        if data.get("start"):
            parameters["start"] = data["start"].isoformat()
        try:
            if data.get("network"):
                parameters["network"] = opf.job_network(data["network"])
            elif not PricingNode.objects.filter(market__name=data["market"]).exists():
                opf.resolve_market(data["market"])
                return _bad(f"market {data['market']!r} has no pricing nodes; give a network "
                            "to import")
            if data.get("market"):
                parameters["market"] = data["market"]
            job = submit_job("markets.compute_lmps", parameters, user=request.user)
        except JobParameterError as exc:
            return _bad(str(exc))
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)



SYNC_MAX_SIZE = 1024
FORMATS = ("json", "png", "tif")


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """``format`` is this endpoint's own parameter (png/tif/json), not DRF's renderer switch."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


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
            job = (Job.objects.filter(kind="markets.build_price_overlay", parameters=parameters)
                   .exclude(status__in=Job.FINISHED).order_by("-pk").first()
                   or submit_job("markets.build_price_overlay", parameters, user=request.user))
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



class MarketViewSet(viewsets.ModelViewSet):
    queryset = Market.objects.all()
    pagination_class = ListPagination
    serializer_class = MarketSerializer
    search_fields = ["name", "operator"]
    filterset_fields = ["name", "currency"]


class PricingNodeViewSet(viewsets.ModelViewSet):
    queryset = PricingNode.objects.select_related("market")
    serializer_class = PricingNodeSerializer
    filterset_class = filtersets.PricingNodeFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "id"]
