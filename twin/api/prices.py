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
"""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from twin.models import Market, MarketRun, NodalPrice, PricingNode
from twin.services.carbon import carbon_series
from twin.services.prices import (
    PRICE_VALUES,
    intervals,
    node_series,
    price_at_location,
    prices_at,
)

MAX_SERIES_DAYS = 31
MAX_CARBON_DAYS = 366
METHODS = ("nearest", "interpolated")


# ---- query parameters (validated by serializers; drf-spectacular documents them) -------------

class _MarketField(serializers.CharField):
    def to_internal_value(self, data):
        name = super().to_internal_value(data)
        market = Market.objects.filter(name=name).first()
        if market is None:
            known = ", ".join(Market.objects.values_list("name", flat=True)[:20]) or "none"
            raise serializers.ValidationError(f"unknown market {name!r} (known: {known})")
        return market


class _NodeField(serializers.IntegerField):
    def to_internal_value(self, data):
        pk = super().to_internal_value(data)
        node = PricingNode.objects.select_related("market").filter(pk=pk).first()
        if node is None:
            raise serializers.ValidationError(f"no pricing node with id {pk}")
        return node


def _run_field(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=MarketRun.values, help_text="market run", **kwargs)


class _RangeMixin:
    max_days = MAX_SERIES_DAYS

    def validate(self, attrs):
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None:
            if end <= start:
                raise serializers.ValidationError({"end": "must be after start"})
            if end - start > timedelta(days=self.max_days):
                raise serializers.ValidationError(
                    {"end": f"range too long: at most {self.max_days} days per request "
                            f"(asked {(end - start) / timedelta(days=1):.1f})"})
        return attrs


class NodesQuery(serializers.Serializer):
    market = _MarketField(help_text="market name, e.g. CAISO")
    run = _run_field()
    at = serializers.DateTimeField(help_text="ISO 8601 instant (UTC when no offset)")


class SeriesQuery(_RangeMixin, serializers.Serializer):
    node = _NodeField(help_text="pricing node id")
    run = _run_field()
    start = serializers.DateTimeField(help_text="ISO 8601, inclusive")
    end = serializers.DateTimeField(help_text=f"ISO 8601, exclusive; at most {MAX_SERIES_DAYS} "
                                              "days after start")


class IntervalsQuery(serializers.Serializer):
    market = _MarketField(help_text="market name")
    run = _run_field()
    start = serializers.DateTimeField(required=False, help_text="only intervals starting at or "
                                                                "after")
    end = serializers.DateTimeField(required=False, help_text="only intervals starting before")


class AtQuery(serializers.Serializer):
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    at = serializers.DateTimeField(help_text="ISO 8601 instant")
    market = _MarketField(help_text="market name")
    run = _run_field()
    method = serializers.ChoiceField(choices=METHODS, default="nearest",
                                     help_text="nearest node, or inverse-distance interpolation "
                                               "inside the nodes' convex hull")


class CarbonQuery(_RangeMixin, serializers.Serializer):
    max_days = MAX_CARBON_DAYS
    zone = serializers.CharField(required=False, help_text="carbon zone, e.g. CISO")
    market = _MarketField(required=False, help_text="… or a market (its carbon zone)")
    node = _NodeField(required=False, help_text="… or a node (its own series, else its market's)")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text=f"at most {MAX_CARBON_DAYS} days after start")

    def validate(self, attrs):
        given = [k for k in ("zone", "market", "node") if attrs.get(k)]
        if len(given) != 1:
            raise serializers.ValidationError({"zone": "give exactly one of zone, market, node"})
        return super().validate(attrs)


def _params(query_class: type[serializers.Serializer], request) -> dict:
    form = query_class(data=request.query_params)
    form.is_valid(raise_exception=True)
    return form.validated_data


# ---- response shapes (for the schema) --------------------------------------------------------

class PriceSerializer(serializers.Serializer):
    interval_start = serializers.DateTimeField()
    interval_end = serializers.DateTimeField()
    lmp_per_mwh = serializers.FloatField()
    energy_per_mwh = serializers.FloatField(allow_null=True)
    congestion_per_mwh = serializers.FloatField(allow_null=True)
    loss_per_mwh = serializers.FloatField(allow_null=True)
    ghg_per_mwh = serializers.FloatField(allow_null=True)


class CarbonSerializer(serializers.Serializer):
    interval_start = serializers.DateTimeField()
    interval_end = serializers.DateTimeField()
    average_g_per_kwh = serializers.FloatField()
    marginal_g_per_kwh = serializers.FloatField(allow_null=True)


class NodeSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    area = serializers.CharField()
    market = serializers.CharField()
    location = serializers.ListField(child=serializers.FloatField(), allow_null=True)


class SeriesSerializer(serializers.Serializer):
    node = NodeSummarySerializer()
    currency = serializers.CharField()
    run = serializers.CharField()
    prices = PriceSerializer(many=True)
    carbon = CarbonSerializer(many=True)


class IntervalsSerializer(serializers.Serializer):
    market = serializers.CharField()
    run = serializers.CharField()
    intervals = serializers.ListField(child=serializers.DateTimeField())


class AtSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=METHODS)
    node = NodeSummarySerializer(allow_null=True)
    distance_m = serializers.FloatField(allow_null=True)
    lmp_per_mwh = serializers.FloatField(allow_null=True)
    currency = serializers.CharField()
    carbon_g_per_kwh = serializers.FloatField(allow_null=True)
    interval_start = serializers.DateTimeField(allow_null=True)
    interval_end = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()


class CarbonSeriesSerializer(serializers.Serializer):
    zone = serializers.CharField(allow_null=True)
    node = serializers.IntegerField(allow_null=True)
    series = CarbonSerializer(many=True)


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
