"""REST resources of the routing app: airspace, fleet, flight graphs and flight plans.

Geographic resources (no-fly zones, drone ports, flights) read and write GeoJSON Features;
a flight plan is a JSON object whose ``flights`` are a GeoJSON FeatureCollection.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from routing.models import (
    Drone,
    DronePort,
    Flight,
    FlightGraph,
    FlightPlan,
    FlightPlanStatus,
    NoFlyZone,
)
from twin.api.serializers import GeoResourceSerializer
from twin.models import Region, Substation

EXPORT_FORMATS = ("plan", "waypoints", "kml", "geojson")


class NoFlyZoneSerializer(GeoResourceSerializer):
    """A no-fly polygon (a Polygon is stored as a MultiPolygon); invalid shapes answer 400."""

    geometry_types = {"geometry": ("MultiPolygon",)}
    region = serializers.SlugRelatedField(slug_field="name", queryset=Region.objects.all(),
                                          required=False, allow_null=True)

    class Meta:
        model = NoFlyZone
        geo_field = "geometry"
        fields = ["id", "name", "kind", "geometry", "floor_m", "ceiling_m", "source", "source_id",
                  "buffer_m", "region", "active", "tags", "created_at", "updated_at", "distance_m"]
        read_only_fields = ["created_at", "updated_at"]
        # the (region, source_id) constraint is checked in validate(): DRF's generated
        # validator would make ``region`` required, and a zone may belong to no region
        validators = []

    def validate(self, attrs):
        source_id = attrs.get("source_id", getattr(self.instance, "source_id", ""))
        region = attrs.get("region", getattr(self.instance, "region", None))
        if source_id and NoFlyZone.objects.filter(region=region, source_id=source_id).exclude(
                pk=getattr(self.instance, "pk", None)).exists():
            raise serializers.ValidationError(
                {"source_id": [f"a no-fly zone with source_id {source_id!r} already exists in "
                               f"{'region ' + region.name if region else 'no region'}"]})
        floor = attrs.get("floor_m", getattr(self.instance, "floor_m", 0))
        ceiling = attrs.get("ceiling_m", getattr(self.instance, "ceiling_m", None))
        if ceiling is not None and floor is not None and ceiling <= floor:
            raise serializers.ValidationError(
                {"ceiling_m": [f"ceiling_m ({ceiling:g} m) must be above floor_m ({floor:g} m)"]})
        return attrs


class DroneSerializer(serializers.ModelSerializer):
    """A drone type; ``usable_range_m`` = ``range_m × (1 − reserve_fraction)``."""

    range_m = serializers.FloatField(help_text="Distance flown on a full battery, metres.")
    usable_range_m = serializers.FloatField(read_only=True)

    class Meta:
        model = Drone
        fields = ["id", "name", "range_m", "reserve_fraction", "usable_range_m",
                  "cruise_speed_mps", "service_time_s", "cruise_altitude_m", "max_altitude_m",
                  "min_clearance_m", "max_duration_s"]

    def validate_range_m(self, value):
        if value is None or value <= 0:
            raise serializers.ValidationError("range_m must be greater than 0 metres")
        return value

    def validate(self, attrs):
        cruise = attrs.get("cruise_altitude_m", getattr(self.instance, "cruise_altitude_m", 60.0))
        highest = attrs.get("max_altitude_m", getattr(self.instance, "max_altitude_m", 120.0))
        if cruise > highest:
            raise serializers.ValidationError({"cruise_altitude_m": [
                f"cruise_altitude_m ({cruise:g} m) must not be above max_altitude_m ({highest:g} m)"]})
        return attrs


def port_zone_message(location, drone: Drone | None = None) -> str | None:
    """Why a port may not be at ``location`` (inside an active no-fly zone whose floor is below
    the drone's highest altitude, 120 m without a drone), or ``None`` when it may."""
    ceiling = drone.max_altitude_m if drone is not None else 120.0
    zone = (NoFlyZone.objects.filter(active=True, geometry__intersects=location, floor_m__lt=ceiling)
            .order_by("id").first())
    if zone is None:
        return None
    return (f"the port lies inside the no-fly zone {zone} ({zone.get_kind_display()}, id {zone.pk}): "
            "drones may not take off there")


class DronePortSerializer(GeoResourceSerializer):
    """A ground base for drones; refused (400) when it lies inside an active no-fly zone."""

    geometry_types = {"location": ("Point",)}
    region = serializers.SlugRelatedField(slug_field="name", queryset=Region.objects.all(),
                                          required=False, allow_null=True)
    substation = serializers.PrimaryKeyRelatedField(queryset=Substation.objects.all(),
                                                    required=False, allow_null=True)

    class Meta:
        model = DronePort
        geo_field = "location"
        fields = ["id", "name", "region", "location", "substation", "drone", "capacity", "active",
                  "distance_m"]
        extra_kwargs = {"location": {"required": False, "allow_null": True}}
        validators = []  # (region, name) is checked in validate(): region may come from the substation

    def validate(self, attrs):
        location = attrs.get("location", getattr(self.instance, "location", None))
        substation = attrs.get("substation", getattr(self.instance, "substation", None))
        if location is None:
            if substation is None:
                raise serializers.ValidationError(
                    {"location": ["give a location (GeoJSON Point) or a substation"]})
            attrs["location"] = location = substation.location
        if attrs.get("region") is None and self.instance is None and substation is not None:
            attrs["region"] = substation.region
        region = attrs.get("region", getattr(self.instance, "region", None))
        name = attrs.get("name", getattr(self.instance, "name", ""))
        clash = DronePort.objects.filter(region=region, name=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if region is not None and clash.exists():
            raise serializers.ValidationError(
                {"name": [f"region {region} already has a drone port named {name!r}"]})
        if attrs.get("active", getattr(self.instance, "active", True)):
            message = port_zone_message(location, attrs.get("drone", getattr(self.instance, "drone", None)))
            if message:
                raise serializers.ValidationError({"location": [message]})
        return attrs


class FlightGraphSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = FlightGraph
        fields = ["id", "region", "inputs_digest", "crs", "options", "node_count", "edge_count",
                  "stats", "built_at"]
        read_only_fields = fields


class FlightGraphBuildSerializer(serializers.Serializer):
    """``POST /api/v1/flight-graphs/build/``: build (or reuse) a region's flight graph as a job."""

    region = serializers.CharField(max_length=100)
    options = serializers.JSONField(required=False, default=dict, help_text=(
        'graph options: {"corridor_weight": 0.7, "connect_radius_m": 150, "dem_path": …}'))
    no_fly = serializers.JSONField(required=False, default=dict, help_text=(
        'no-fly import options: {"radius_m": 500, "military_buffer_m": 0, …}'))
    import_no_fly = serializers.BooleanField(required=False, default=True)
    force = serializers.BooleanField(required=False, default=False)

    def validate_options(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("options must be a JSON object")
        return value

    def validate_no_fly(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("no_fly must be a JSON object")
        return value


class FlightSerializer(GeoFeatureModelSerializer):
    """One flight as a GeoJSON Feature: its path (LineString) along the graph's edges."""

    port = serializers.PrimaryKeyRelatedField(read_only=True)
    exports = serializers.SerializerMethodField()

    class Meta:
        model = Flight
        geo_field = "path"
        fields = ["id", "plan", "sequence", "port", "port_name", "drone_number", "sortie",
                  "length_m", "duration_s", "targets", "waypoints", "path", "exports"]
        read_only_fields = fields

    def get_exports(self, flight) -> dict[str, str]:
        """This flight's mission files (``.plan``, ``QGC WPL 110``)."""
        links = {}
        for fmt in ("plan", "waypoints"):
            url = reverse("flightplan-export", kwargs={"pk": flight.plan_id, "fmt": fmt})
            links[fmt] = f"{url}?flight={flight.sequence}"
        return links


def export_links(plan: FlightPlan, request=None) -> dict[str, str]:
    """The URLs of a plan's exports, one per format (absolute when a request is given)."""
    links = {}
    for fmt in EXPORT_FORMATS:
        url = reverse("flightplan-export", kwargs={"pk": plan.pk, "fmt": fmt})
        links[fmt] = request.build_absolute_uri(url) if request is not None else url
    return links


# Described without an enum component: the jobs' ``status`` enum would collide with its name.
@extend_schema_field({"type": "string", "description": "one of: " + "; ".join(
    f"``{value}`` ({label})" for value, label in FlightPlanStatus.choices)})
class PlanStatusField(serializers.ChoiceField):
    """A plan's status (its own schema, apart from the jobs' ``status``)."""

    def __init__(self, **kwargs):
        super().__init__(choices=FlightPlanStatus.choices, read_only=True, **kwargs)


class FlightPlanListSerializer(serializers.ModelSerializer):
    """A plan's summary (for lists): status, totals and counts, no flight geometry."""

    url = serializers.HyperlinkedIdentityField(view_name="flightplan-detail")
    region = serializers.SlugRelatedField(slug_field="name", read_only=True)
    status = PlanStatusField()
    flight_count = serializers.SerializerMethodField()
    target_count = serializers.SerializerMethodField()
    skipped_count = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = FlightPlan
        fields = ["id", "url", "name", "region", "status", "extra_flights_needed",
                  "usable_range_m", "total_length_m", "total_duration_s", "flight_count",
                  "target_count", "skipped_count", "job", "created_by", "created_at"]
        read_only_fields = fields

    def get_flight_count(self, plan) -> int:
        count = getattr(plan, "n_flights", None)
        return plan.flights.count() if count is None else count

    def get_target_count(self, plan) -> int:
        return len(plan.targets)

    def get_skipped_count(self, plan) -> int:
        return len(plan.skipped)


class FlightPlanSerializer(FlightPlanListSerializer):
    """A whole plan: totals, skipped targets with reasons, and its flights as GeoJSON."""

    flights = FlightSerializer(many=True, read_only=True)
    exports = serializers.SerializerMethodField()
    ports = serializers.SerializerMethodField()

    class Meta(FlightPlanListSerializer.Meta):
        fields = [*FlightPlanListSerializer.Meta.fields, "graph", "drone", "drone_spec", "fleet",
                  "ports", "options", "targets", "skipped", "solver", "warnings", "exports",
                  "flights"]
        read_only_fields = fields

    def get_exports(self, plan) -> dict[str, str]:
        return export_links(plan, self.context.get("request"))

    def get_ports(self, plan) -> dict:
        return DronePortSerializer(plan.ports.order_by("id"), many=True).data


# --- the flight-plan request ----------------------------------------------------------------

TARGET_KIND_ALIASES = {"support": "supports", "supports": "supports", "span": "spans",
                       "spans": "spans", "substation": "substations",
                       "substations": "substations", "point": "points", "points": "points"}
GEOJSON_TYPES = {"FeatureCollection", "Feature", "Point", "MultiPoint"}
DRONE_SPEC_FIELDS = ("range_m", "name", "reserve_fraction", "cruise_speed_mps", "service_time_s",
                     "cruise_altitude_m", "max_altitude_m", "min_clearance_m", "max_duration_s")


class FlightPlanRequestSerializer(serializers.Serializer):
    """``POST /api/v1/flight-plans/``: what to inspect, with which drones, from which ports.

    * ``targets``: ``{"kind": "supports|spans|substations", "ids": [...]}`` (for spans: line
      ids), ``{"kind": …, "bbox": "minx,miny,maxx,maxy"}``, a GeoJSON FeatureCollection /
      Feature / (Multi)Point of places to visit, or ``{"kind": "points", "points": GeoJSON}``;
      ``limit`` keeps the first n.
    * ``drones``: ``{"drone": <Drone id>, "count": n}`` or an inline spec
      ``{"range_m": 8000, "cruise_speed_mps": 12, "service_time_s": 60, …, "count": n}``.
    * ``ports``: a list of port ids, or ``"substations"`` (a port at every substation); by
      default the region's active ports, else its substations. Or ``fleet``:
      ``[{"port": id, "drones": n}]`` instead of ``ports`` + ``count``.
    * ``options``: ``time_budget_s``, ``max_snap_m``, ``seed``, ``waypoint_tolerance_m``,
      ``solver`` (``pyvrp`` or ``nearest-neighbour``).
    """

    region = serializers.CharField(max_length=100, required=False,
                                   help_text="region name (default: the only region)")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    targets = serializers.JSONField()
    drones = serializers.JSONField()
    ports = serializers.JSONField(required=False, allow_null=True, default=None)
    fleet = serializers.JSONField(required=False, allow_null=True, default=None)
    options = serializers.JSONField(required=False, default=dict)

    def validate_region(self, value):
        region = Region.objects.filter(name__iexact=value).first()
        if region is None:
            known = ", ".join(Region.objects.values_list("name", flat=True)) or "none"
            raise serializers.ValidationError(f"unknown region {value!r} (known: {known})")
        return region

    def validate_targets(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError(
                'expected {"kind": …, "ids"|"bbox"|"points": …} or GeoJSON points')
        if value.get("type") in GEOJSON_TYPES:
            return {"kind": "points", "points": value}
        selection = dict(value)
        kind = TARGET_KIND_ALIASES.get(str(selection.get("kind", "")).lower())
        if kind is None:
            raise serializers.ValidationError(
                f"unknown target kind {selection.get('kind')!r}; expected support(s), span(s), "
                "substation(s) or point(s)")
        selection["kind"] = kind
        extra = sorted(set(selection) - {"kind", "ids", "bbox", "points", "limit"})
        if extra:
            raise serializers.ValidationError(f"unknown target field(s): {', '.join(extra)}")
        if kind == "points" and "points" not in selection:
            raise serializers.ValidationError("kind points needs points (GeoJSON or [[lon, lat]…])")
        if kind != "points" and selection.get("ids") is None and not selection.get("bbox"):
            raise serializers.ValidationError(f"give the {kind} by ids or by bbox")
        ids = selection.get("ids")
        if ids is not None and (not isinstance(ids, list) or not ids or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids)):
            raise serializers.ValidationError("ids must be a non-empty list of integers")
        limit = selection.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise serializers.ValidationError("limit must be a positive integer")
        return selection

    def validate_drones(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            value = {"count": value}
        if not isinstance(value, dict):
            raise serializers.ValidationError(
                'expected {"drone": id, "count": n} or {"range_m": …, "count": n}')
        unknown = sorted(set(value) - {"drone", "id", "count", *DRONE_SPEC_FIELDS})
        if unknown:
            raise serializers.ValidationError(f"unknown drone field(s): {', '.join(unknown)}")
        count = value.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            raise serializers.ValidationError("count must be an integer")
        if count is not None and count < 1:
            raise serializers.ValidationError(
                f"zero drones: count must be at least 1 (got {count})")
        drone_id = value.get("drone", value.get("id"))
        spec = {k: v for k, v in value.items() if k in DRONE_SPEC_FIELDS}
        if drone_id is not None and spec:
            raise serializers.ValidationError("give either a drone id or an inline spec, not both")
        if drone_id is None:
            if "range_m" not in spec:
                raise serializers.ValidationError("give a drone id or an inline spec with range_m")
            for key, number in spec.items():
                if key != "name" and number is not None and (
                        not isinstance(number, int | float) or isinstance(number, bool)):
                    raise serializers.ValidationError(f"{key} must be a number")
            if spec["range_m"] is None or spec["range_m"] <= 0:
                raise serializers.ValidationError(
                    f"range_m must be greater than 0 (got {spec['range_m']!r})")
            drone = spec
        else:
            if not isinstance(drone_id, int) or isinstance(drone_id, bool):
                raise serializers.ValidationError("drone must be a Drone id (an integer)")
            drone = Drone.objects.filter(pk=drone_id).first()
            if drone is None:
                raise serializers.ValidationError(f"unknown drone {drone_id}")
            drone = drone.pk
        return {"drone": drone, "count": count}

    def validate_ports(self, value):
        if value is None or value == "substations":
            return value
        if not isinstance(value, list) or not value or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in value):
            raise serializers.ValidationError('ports must be "substations" or a list of port ids')
        known = set(DronePort.objects.filter(pk__in=value).values_list("pk", flat=True))
        missing = [i for i in value if i not in known]
        if missing:
            raise serializers.ValidationError(
                f"unknown drone port(s): {', '.join(map(str, missing))}")
        inactive = list(DronePort.objects.filter(pk__in=value, active=False).values_list("pk", flat=True))
        if inactive:
            raise serializers.ValidationError(
                f"drone port(s) {', '.join(map(str, inactive))} are not active")
        return value

    def validate_fleet(self, value):
        if value is None:
            return value
        if not isinstance(value, list) or not value or not all(
                isinstance(item, dict) and set(item) == {"port", "drones"} for item in value):
            raise serializers.ValidationError('fleet must be a list of {"port": id, "drones": n}')
        ids = [item["port"] for item in value]
        known = set(DronePort.objects.filter(pk__in=[i for i in ids if isinstance(i, int)])
                    .values_list("pk", flat=True))
        missing = [str(i) for i in ids if i not in known]
        if missing:
            raise serializers.ValidationError(f"unknown drone port(s): {', '.join(missing)}")
        return value

    def validate_options(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("options must be a JSON object")
        if "corridor_weight" in value:
            raise serializers.ValidationError(
                "corridor_weight is an option of the flight graph: rebuild the graph with it "
                "(POST /api/v1/flight-graphs/build/ with options.corridor_weight), then plan")
        return value

    def validate(self, attrs):
        if attrs.get("region") is None:
            regions = list(Region.objects.all()[:2])
            if len(regions) != 1:
                raise serializers.ValidationError({"region": ["region is required (by name)"]})
            attrs["region"] = regions[0]
        if attrs.get("fleet") is not None and (attrs.get("ports") is not None
                                               or attrs["drones"]["count"] is not None):
            raise serializers.ValidationError(
                {"fleet": ["give either fleet, or ports and drones.count — not both"]})
        if attrs.get("fleet") is None and attrs["drones"]["count"] is None:
            raise serializers.ValidationError(
                {"drones": ["count is required (how many drones fly), or give a fleet"]})
        return attrs

    def job_parameters(self) -> dict:
        """The validated request as parameters of the ``routing.plan_flights`` job."""
        data = self.validated_data
        parameters = {"region": data["region"].name, "targets": data["targets"],
                      "drone": data["drones"]["drone"], "options": data["options"]}
        if data.get("name"):
            parameters["name"] = data["name"]
        if data.get("fleet") is not None:
            parameters["fleet"] = data["fleet"]
        else:
            parameters["drones"] = data["drones"]["count"]
            if data.get("ports") is not None:
                parameters["ports"] = data["ports"]
        return parameters
