"""django-filter sets for the twin's API, one per model, with shared geographic filters.

Geographic filters behave the same on PostGIS and SpatiaLite (both tested):

* ``bbox=minx,miny,maxx,maxy`` — features that *intersect* the box (not only those inside it);
* ``near=lon,lat&radius_m=R`` — features within R metres (geodesic), nearest first. An
  index-friendly lon/lat envelope is tested before the exact distance.
"""

from __future__ import annotations

import django_filters as filters
from django.contrib.gis.db.models.functions import Distance, Transform
from django.contrib.gis.measure import D
from django.db import connection
from django.db.models import Count, Window
from rest_framework.exceptions import ValidationError

from twin.models import (
    Charger,
    ChargerAccess,
    ChargerStatus,
    Line,
    LineKind,
    Substation,
    Support,
    SupportKind,
)
from twin.services.geometry import (
    MAX_RADIUS_M,
    GeometryError,
    parse_bbox,
    parse_point,
    radius_envelope,
    utm_srid,
)


class GeoFilterSet(filters.FilterSet):
    """Adds ``bbox``, ``near`` and ``radius_m`` over the model's ``geometry_field``."""

    geometry_field = "location"

    bbox = filters.CharFilter(method="filter_bbox", label="minx,miny,maxx,maxy (EPSG:4326)")
    near = filters.CharFilter(method="filter_near", label="lon,lat; needs radius_m")
    radius_m = filters.NumberFilter(method="filter_radius", label="radius around near, metres")

    def filter_bbox(self, queryset, name, value):
        try:
            box = parse_bbox(value)
        except GeometryError as exc:
            raise ValidationError({"bbox": [str(exc)]}) from exc
        return queryset.filter(**{f"{self.geometry_field}__intersects": box})

    def filter_near(self, queryset, name, value):
        try:
            center = parse_point(value)
        except GeometryError as exc:
            raise ValidationError({"near": [str(exc)]}) from exc
        radius_m = self.form.cleaned_data.get("radius_m")
        if radius_m is None:
            raise ValidationError({"radius_m": ["radius_m (metres) is required with near"]})
        radius_m = float(radius_m)
        if not 0 < radius_m <= MAX_RADIUS_M:
            raise ValidationError(
                {"radius_m": [f"radius_m must be greater than 0 and at most {MAX_RADIUS_M:g}"]}
            )
        field, envelope = self.geometry_field, radius_envelope(center, radius_m)
        if connection.ops.spatialite:
            # SpatiaLite's geodesic distance to a line only looks at its vertices: measure in
            # the centre's UTM zone instead (scale error well under 0.5 % within 100 km).
            srid = utm_srid(center)
            queryset = queryset.filter(**{f"{field}__intersects": envelope}).annotate(
                distance=Distance(Transform(field, srid), center.transform(srid, clone=True))
            ).filter(distance__lte=D(m=radius_m))
        else:
            # PostGIS: the envelope's && uses the GiST index; ST_DistanceSphere is exact.
            queryset = queryset.filter(
                **{f"{field}__bboverlaps": envelope, f"{field}__distance_lte": (center, D(m=radius_m))}
            ).annotate(distance=Distance(field, center))
        # The total rides along with the page (one scan, no separate COUNT): see FeaturePagination.
        return queryset.annotate(total_count=Window(Count("pk"))).order_by("distance", "pk")

    def filter_radius(self, queryset, name, value):
        if "near" not in self.data:
            raise ValidationError({"radius_m": ["radius_m goes with near=lon,lat"]})
        return queryset  # applied by filter_near


class AssetFilterSet(GeoFilterSet):
    operator = filters.CharFilter(lookup_expr="iexact")
    region = filters.CharFilter(field_name="region__name", lookup_expr="iexact")
    missing = filters.BooleanFilter(field_name="missing_since", lookup_expr="isnull", exclude=True,
                                    label="true: only assets their source no longer has")
    condition_score_min = filters.NumberFilter(field_name="condition_score", lookup_expr="gte")
    condition_score_max = filters.NumberFilter(field_name="condition_score", lookup_expr="lte")
    criticality = filters.NumberFilter()
    source = filters.CharFilter()
    source_id = filters.CharFilter()


class VoltageFilterSet(AssetFilterSet):
    voltage_kv_min = filters.NumberFilter(field_name="voltage_kv", lookup_expr="gte",
                                          label="highest voltage ≥ (kV)")
    voltage_kv_max = filters.NumberFilter(field_name="voltage_kv", lookup_expr="lte",
                                          label="highest voltage ≤ (kV)")


class SubstationFilterSet(VoltageFilterSet):
    class Meta:
        model = Substation
        fields = ["operator", "ref"]


class LineFilterSet(VoltageFilterSet):
    geometry_field = "geometry"
    kind = filters.MultipleChoiceFilter(choices=LineKind.choices)
    substation = filters.NumberFilter(method="filter_substation", label="connected substation id")

    class Meta:
        model = Line
        fields = ["operator", "ref", "kind", "circuits"]

    def filter_substation(self, queryset, name, value):
        return queryset.filter(from_substation=value) | queryset.filter(to_substation=value)


class SupportFilterSet(AssetFilterSet):
    kind = filters.MultipleChoiceFilter(choices=SupportKind.choices)
    line = filters.NumberFilter(field_name="lines")

    class Meta:
        model = Support
        fields = ["operator", "ref", "kind", "material"]


class ChargerFilterSet(AssetFilterSet):
    status = filters.MultipleChoiceFilter(choices=ChargerStatus.choices)
    access = filters.MultipleChoiceFilter(choices=ChargerAccess.choices)
    network = filters.CharFilter(lookup_expr="iexact")
    power_kw_min = filters.NumberFilter(
        method="filter_power", label="has a connector of at least this power (kW)"
    )

    class Meta:
        model = Charger
        fields = ["operator", "network", "status", "access"]

    def filter_power(self, queryset, name, value):
        ids = Charger.objects.filter(evses__connectors__power_kw__gte=value).values("pk")
        return queryset.filter(pk__in=ids)
