"""REST resources of the twin. Geographic resources read and write GeoJSON Features."""

from __future__ import annotations

from django.db import transaction
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from twin.jobs import JOB_KIND_ALIASES, JOB_KINDS, canonical_kind
from twin.models import EVSE, Charger, Connector, Job, Line, Region, Substation, Support
from twin.services.geometry import GeometryError, check_geometry

ASSET_FIELDS = [
    "id", "name", "operator", "ref", "condition_score", "criticality", "source", "source_id",
    "tags", "region", "missing_since", "created_at", "updated_at",
]


class GeoResourceSerializer(GeoFeatureModelSerializer):
    """Base of the geographic resources: checked geometry in, GeoJSON Feature out.

    Rejects invalid, out-of-range or wrongly typed geometries with a message naming the field
    (``geometry_types`` maps each geometry field to the GEOS types it accepts), and adds
    ``distance_m`` when the list was filtered with ``near=``.
    """

    geometry_types: dict[str, tuple[str, ...]] = {}
    distance_m = serializers.SerializerMethodField()

    def get_distance_m(self, obj) -> float | None:
        distance = getattr(obj, "distance", None)
        return round(distance.m, 1) if distance is not None else None

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        errors = {}
        for field, allowed in self.geometry_types.items():
            if values.get(field) is None:
                continue
            try:
                values[field] = check_geometry(values[field], allowed)
            except GeometryError as exc:
                errors[field] = [str(exc)]
        if errors:
            raise serializers.ValidationError(errors)
        return values


class AssetSerializer(GeoResourceSerializer):
    """Base of the physical assets: the region by name; ``missing_since`` is set by imports."""

    region = serializers.SlugRelatedField(slug_field="name", queryset=Region.objects.all(),
                                          required=False, allow_null=True)
    missing_since = serializers.DateTimeField(read_only=True)


class VoltagesField(serializers.ListField):
    child = serializers.FloatField(min_value=0.0, max_value=1500.0)

    def __init__(self, **kwargs):
        super().__init__(required=False, max_length=8, help_text="All voltage levels, kV", **kwargs)


class SubstationSerializer(AssetSerializer):
    geometry_types = {"location": ("Point",), "footprint": ("MultiPolygon",)}
    voltages_kv = VoltagesField()

    class Meta:
        model = Substation
        geo_field = "location"
        fields = [*ASSET_FIELDS, "location", "footprint", "voltages_kv", "voltage_kv",
                  "rating_mva", "commissioned", "distance_m"]
        read_only_fields = ["voltage_kv"]


class LineSerializer(AssetSerializer):
    geometry_types = {"geometry": Line.GEOMETRY_TYPES}
    voltages_kv = VoltagesField()

    class Meta:
        model = Line
        geo_field = "geometry"
        fields = [*ASSET_FIELDS, "geometry", "kind", "voltages_kv", "voltage_kv", "circuits",
                  "from_substation", "to_substation", "r_ohm_per_km", "x_ohm_per_km",
                  "c_nf_per_km", "max_i_ka", "length_m", "distance_m"]
        read_only_fields = ["voltage_kv", "length_m"]


class SupportSerializer(AssetSerializer):
    geometry_types = {"location": ("Point",)}

    class Meta:
        model = Support
        geo_field = "location"
        fields = [*ASSET_FIELDS, "location", "kind", "height_m", "material", "lines", "distance_m"]
        extra_kwargs = {"lines": {"required": False}}


class ConnectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = ["id", "standard", "power_type", "power_kw", "voltage_v", "current_a"]


class EVSESerializer(serializers.ModelSerializer):
    connectors = ConnectorSerializer(many=True, required=False)

    class Meta:
        model = EVSE
        fields = ["id", "uid", "status", "connectors"]


class ChargerSerializer(AssetSerializer):
    """A charging location with nested EVSEs and connectors (OCPI's shape).

    On update, ``evses`` (when given) replaces the location's EVSEs and connectors as a whole.
    """

    geometry_types = {"location": ("Point",)}
    evses = EVSESerializer(many=True, required=False)

    class Meta:
        model = Charger
        geo_field = "location"
        fields = [*ASSET_FIELDS, "location", "network", "address", "city", "postal_code",
                  "country_code", "access", "status", "opening_hours", "evses", "distance_m"]

    def validate_evses(self, evses):
        uids = [e["uid"] for e in evses]
        if len(uids) != len(set(uids)):
            raise serializers.ValidationError("EVSE uids must be unique within a location")
        return evses

    @transaction.atomic
    def create(self, validated_data):
        evses = validated_data.pop("evses", [])
        charger = super().create(validated_data)
        self._write_evses(charger, evses)
        return charger

    @transaction.atomic
    def update(self, instance, validated_data):
        evses = validated_data.pop("evses", None)
        charger = super().update(instance, validated_data)
        if evses is not None:
            charger.evses.all().delete()
            self._write_evses(charger, evses)
        return charger

    @staticmethod
    def _write_evses(charger: Charger, evses: list[dict]) -> None:
        for evse_data in evses:
            connectors = evse_data.pop("connectors", [])
            evse = EVSE.objects.create(charger=charger, **evse_data)
            for connector in connectors:
                Connector.objects.create(evse=evse, **connector)


class RegionSerializer(GeoFeatureModelSerializer):
    """An imported region: its boundary (the imported data's extent) and the last import."""

    class Meta:
        model = Region
        geo_field = "boundary"
        fields = ["id", "name", "boundary", "source_file", "imported_at"]
        read_only_fields = fields


class JobSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=[])
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Job
        fields = ["id", "kind", "parameters", "status", "progress", "message", "result", "error",
                  "attempts", "created_by", "created_at", "started_at", "heartbeat_at",
                  "finished_at"]
        read_only_fields = [f for f in fields if f not in ("kind", "parameters")]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = sorted([*JOB_KINDS, *JOB_KIND_ALIASES])

    def validate_kind(self, value: str) -> str:
        return canonical_kind(value)

    def validate_parameters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("parameters must be a JSON object")
        return value
