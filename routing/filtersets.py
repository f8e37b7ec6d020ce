"""django-filter sets of the routing API, one per model.

Geographic resources reuse the twin's ``bbox=minx,miny,maxx,maxy`` (features that intersect the
box) and ``near=lon,lat&radius_m=R`` filters (see :class:`twin.filtersets.GeoFilterSet`).
"""

from __future__ import annotations

import django_filters as filters

from routing.models import (
    Drone,
    DronePort,
    FlightGraph,
    FlightPlan,
    FlightPlanStatus,
    NoFlyZone,
    NoFlyZoneKind,
    NoFlyZoneSource,
)
from twin.filtersets import GeoFilterSet


class NoFlyZoneFilterSet(GeoFilterSet):
    geometry_field = "geometry"
    kind = filters.MultipleChoiceFilter(choices=NoFlyZoneKind.choices)
    source = filters.MultipleChoiceFilter(choices=NoFlyZoneSource.choices)
    region = filters.CharFilter(field_name="region__name", lookup_expr="iexact")
    altitude_m = filters.NumberFilter(method="filter_altitude",
                                      label="only zones restricting this altitude above ground (m)")

    class Meta:
        model = NoFlyZone
        fields = ["kind", "source", "active", "source_id"]

    def filter_altitude(self, queryset, name, value):
        return queryset.filter(floor_m__lte=value).exclude(ceiling_m__lt=value)


class DroneFilterSet(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    range_m_min = filters.NumberFilter(field_name="range_m", lookup_expr="gte")
    range_m_max = filters.NumberFilter(field_name="range_m", lookup_expr="lte")

    class Meta:
        model = Drone
        fields = ["name"]


class DronePortFilterSet(GeoFilterSet):
    region = filters.CharFilter(field_name="region__name", lookup_expr="iexact")
    substation = filters.NumberFilter()
    drone = filters.NumberFilter()

    class Meta:
        model = DronePort
        fields = ["active", "substation", "drone"]


class FlightGraphFilterSet(filters.FilterSet):
    region = filters.CharFilter(field_name="region__name", lookup_expr="iexact")

    class Meta:
        model = FlightGraph
        fields = ["region", "inputs_digest"]


class FlightPlanFilterSet(filters.FilterSet):
    region = filters.CharFilter(field_name="region__name", lookup_expr="iexact")
    status = filters.MultipleChoiceFilter(choices=FlightPlanStatus.choices)
    job = filters.NumberFilter()
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = FlightPlan
        fields = ["region", "status", "job"]
