"""Serializers of the markets API: query parameters, price and carbon answers, markets and
pricing nodes."""

from __future__ import annotations

from datetime import timedelta

from rest_framework import serializers

from markets.models import Market, MarketRun, PricingNode
from markets.services import opf
from twin.api.serializers import GeoResourceSerializer

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



class ComputedPricesSerializer(serializers.Serializer):
    market = serializers.CharField(required=False, max_length=100,
                                   help_text="market whose nodes sit at the twin's buses")
    network = serializers.CharField(required=False, max_length=500,
                                    help_text="pandapower.networks name or a JSON file in the "
                                              "import folder; imported when the market is absent")
    intervals = serializers.IntegerField(required=False, default=96, min_value=1,
                                         max_value=opf.MAX_INTERVALS)
    start = serializers.DateTimeField(required=False, help_text="first interval (ISO 8601)")
    scenario = serializers.JSONField(required=False, default=dict)
    ac = serializers.BooleanField(required=False, default=False)

    def validate_scenario(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        try:
            opf.scenario_options(value)
        except opf.OpfError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate(self, data):
        if not data.get("market") and not data.get("network"):
            raise serializers.ValidationError("give a market, or a network to import")
        return data



class MarketSerializer(serializers.ModelSerializer):
    class Meta:
        model = Market
        fields = ["id", "name", "operator", "currency", "time_zone", "interval_min"]


class PricingNodeSerializer(GeoResourceSerializer):
    geometry_types = {"location": ("Point",)}
    market = serializers.SlugRelatedField(slug_field="name", queryset=Market.objects.all())

    class Meta:
        model = PricingNode
        geo_field = "location"
        fields = ["id", "market", "code", "name", "location", "kind", "substation", "tags",
                  "distance_m"]
