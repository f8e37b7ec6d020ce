"""The digital twin: regions, grid assets, EV chargers and background jobs.

Geometry is stored in EPSG:4326; lengths and distances are measured on the WGS84 ellipsoid and
carry their unit in their name (``length_m``, ``voltage_kv``). Every asset keeps a change log
(django-simple-history): who changed what, when, before and after.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import CheckConstraint, Q, UniqueConstraint
from simple_history.models import HistoricalRecords

from twin.services.geometry import geodesic_length_m

CONDITION_HELP = "Condition score from 0 (failed) to 100 (as new); blank when never assessed."
CRITICALITY_HELP = "Consequence of failure from 1 (minor) to 5 (critical)."


def _range_constraints(prefix: str, field: str, low: float, high: float | None = None):
    """A check constraint keeping ``field`` within [low, high] (or ≥ low), NULL allowed."""
    condition = Q(**{f"{field}__gte": low})
    if high is not None:
        condition &= Q(**{f"{field}__lte": high})
    return CheckConstraint(
        condition=condition | Q(**{f"{field}__isnull": True}),
        name=f"{prefix}_{field}_range",
    )


class Region(models.Model):
    """An area whose assets were imported together (a country extract, a utility's territory)."""

    name = models.CharField(max_length=100, unique=True)
    boundary = models.MultiPolygonField(srid=4326, null=True, blank=True)
    source_file = models.CharField(max_length=500, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="The last import's report.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Road(models.Model):
    """A road or path of a region's OSM extract: the offline basemap (and the drones' roads).

    Not an asset: roads are replaced by each import of their region, without a change log.
    """

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="roads")
    osm_id = models.BigIntegerField(help_text="The OSM way id.")
    kind = models.CharField(max_length=30, db_index=True, help_text="OSM highway class")
    name = models.CharField(max_length=200, blank=True)
    geometry = models.LineStringField(srid=4326)

    class Meta:
        ordering = ["id"]
        constraints = [UniqueConstraint(fields=["region", "osm_id"], name="road_osm_id_unique")]

    def __str__(self) -> str:
        return self.name or f"{self.kind} {self.osm_id}"


class Asset(models.Model):
    """Fields shared by every physical asset of the twin."""

    name = models.CharField(max_length=200, blank=True, db_index=True)
    operator = models.CharField(max_length=200, blank=True, db_index=True)
    ref = models.CharField(max_length=100, blank=True, db_index=True)
    condition_score = models.FloatField(
        null=True, blank=True, help_text=CONDITION_HELP,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    criticality = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=CRITICALITY_HELP,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    source = models.CharField(
        max_length=50, blank=True, help_text="Where the asset came from: osm, gis, manual …"
    )
    source_id = models.CharField(
        max_length=200, blank=True,
        help_text="Stable identifier in the source, e.g. osm:way/123; unique when set.",
    )
    tags = models.JSONField(default=dict, blank=True, help_text="Free key/value tags.")
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    missing_since = models.DateTimeField(
        null=True, blank=True, db_index=True,
        help_text="Set when a newer import of its source no longer has this asset (kept, not "
        "deleted, so its inspection history stays).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["id"]

    def refresh_derived(self) -> None:
        """Recompute derived columns; ``save()`` calls it, bulk importers call it themselves."""

    def save(self, *args, **kwargs):
        self.refresh_derived()
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.name or self.ref or f"{self._meta.verbose_name} {self.pk}"

    @classmethod
    def asset_constraints(cls, prefix: str) -> list:
        return [
            _range_constraints(prefix, "condition_score", 0, 100),
            _range_constraints(prefix, "criticality", 1, 5),
            UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name=f"{prefix}_source_id_unique"
            ),
        ]


class VoltageMixin(models.Model):
    """All voltage levels of an asset, plus the highest one as an indexed column for filters."""

    voltages_kv = models.JSONField(
        default=list, blank=True, help_text="All voltage levels in kV, highest first."
    )
    voltage_kv = models.FloatField(
        null=True, blank=True, db_index=True, editable=False,
        help_text="Highest voltage level in kV (derived from voltages_kv).",
    )

    class Meta:
        abstract = True

    def normalise_voltages(self) -> None:
        levels = sorted({float(v) for v in self.voltages_kv or []}, reverse=True)
        self.voltages_kv = levels
        self.voltage_kv = levels[0] if levels else None


class Substation(VoltageMixin, Asset):
    location = models.PointField(srid=4326, help_text="Representative point.")
    footprint = models.MultiPolygonField(srid=4326, null=True, blank=True)
    rating_mva = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    commissioned = models.DateField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta(Asset.Meta):
        constraints = [
            *Asset.asset_constraints("substation"),
            _range_constraints("substation", "rating_mva", 0),
        ]

    def refresh_derived(self) -> None:
        self.normalise_voltages()


class LineKind(models.TextChoices):
    LINE = "line", "overhead line"
    MINOR_LINE = "minor_line", "minor line"
    CABLE = "cable", "underground cable"


class Line(VoltageMixin, Asset):
    geometry = models.GeometryField(
        srid=4326, help_text="LineString or MultiLineString in EPSG:4326."
    )
    kind = models.CharField(max_length=20, choices=LineKind.choices, default=LineKind.LINE,
                            db_index=True)
    circuits = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    from_substation = models.ForeignKey(
        Substation, null=True, blank=True, on_delete=models.SET_NULL, related_name="lines_out"
    )
    to_substation = models.ForeignKey(
        Substation, null=True, blank=True, on_delete=models.SET_NULL, related_name="lines_in"
    )
    r_ohm_per_km = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    x_ohm_per_km = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    c_nf_per_km = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    max_i_ka = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0)],
        help_text="Thermal rating: maximum current per circuit in kA.",
    )
    length_m = models.FloatField(
        default=0, editable=False, help_text="Geodesic length on WGS84 (derived)."
    )
    history = HistoricalRecords()

    GEOMETRY_TYPES = ("LineString", "MultiLineString")

    class Meta(Asset.Meta):
        constraints = [
            *Asset.asset_constraints("line"),
            CheckConstraint(condition=Q(circuits__gte=1), name="line_circuits_min"),
            _range_constraints("line", "r_ohm_per_km", 0),
            _range_constraints("line", "x_ohm_per_km", 0),
            _range_constraints("line", "c_nf_per_km", 0),
            _range_constraints("line", "max_i_ka", 0),
        ]

    def refresh_derived(self) -> None:
        self.normalise_voltages()
        self.length_m = geodesic_length_m(self.geometry)


class SupportKind(models.TextChoices):
    TOWER = "tower", "tower"
    POLE = "pole", "pole"
    PORTAL = "portal", "portal"


class Support(Asset):
    """A tower, pole or portal carrying one or more lines."""

    location = models.PointField(srid=4326)
    kind = models.CharField(max_length=20, choices=SupportKind.choices, db_index=True)
    height_m = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(400)]
    )
    material = models.CharField(max_length=50, blank=True)
    lines = models.ManyToManyField(Line, blank=True, related_name="supports")
    history = HistoricalRecords(m2m_fields=[lines])

    class Meta(Asset.Meta):
        constraints = [
            *Asset.asset_constraints("support"),
            _range_constraints("support", "height_m", 0, 400),
        ]


class ChargerAccess(models.TextChoices):
    PUBLIC = "public", "public"
    CUSTOMERS = "customers", "customers only"
    PRIVATE = "private", "private"
    UNKNOWN = "unknown", "unknown"


class ChargerStatus(models.TextChoices):
    """OCPI EVSE statuses, summarised per location."""

    AVAILABLE = "available", "available"
    CHARGING = "charging", "charging"
    BLOCKED = "blocked", "blocked"
    OUT_OF_ORDER = "out_of_order", "out of order"
    PLANNED = "planned", "planned"
    REMOVED = "removed", "removed"
    UNKNOWN = "unknown", "unknown"


class Charger(Asset):
    """A charging location (OCPI *Location*) with its EVSEs and connectors."""

    location = models.PointField(srid=4326)
    network = models.CharField(max_length=200, blank=True, db_index=True)
    address = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country_code = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    access = models.CharField(max_length=20, choices=ChargerAccess.choices,
                              default=ChargerAccess.UNKNOWN, db_index=True)
    status = models.CharField(max_length=20, choices=ChargerStatus.choices,
                              default=ChargerStatus.UNKNOWN, db_index=True)
    opening_hours = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta(Asset.Meta):
        constraints = Asset.asset_constraints("charger")


class EVSE(models.Model):
    """One charging point of a location (OCPI *EVSE*)."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="evses")
    uid = models.CharField(max_length=100, help_text="Unique within the location.")
    status = models.CharField(max_length=20, choices=ChargerStatus.choices,
                              default=ChargerStatus.UNKNOWN)
    history = HistoricalRecords()

    class Meta:
        ordering = ["charger_id", "uid"]
        constraints = [UniqueConstraint(fields=["charger", "uid"], name="evse_uid_unique")]
        verbose_name = "EVSE"

    def __str__(self) -> str:
        return f"{self.charger} / {self.uid}"


class ConnectorStandard(models.TextChoices):
    """OCPI 2.2 connector types (the common ones)."""

    TYPE1 = "IEC_62196_T1", "Type 1"
    COMBO1 = "IEC_62196_T1_COMBO", "CCS 1"
    TYPE2 = "IEC_62196_T2", "Type 2"
    COMBO2 = "IEC_62196_T2_COMBO", "CCS 2"
    TYPE3 = "IEC_62196_T3C", "Type 3C"
    CHADEMO = "CHADEMO", "CHAdeMO"
    GBT_AC = "GBT_AC", "GB/T AC"
    GBT_DC = "GBT_DC", "GB/T DC"
    TESLA_S = "TESLA_S", "Tesla"
    NACS = "SAE_J3400", "NACS (SAE J3400)"
    DOMESTIC_F = "DOMESTIC_F", "Schuko (CEE 7/4)"
    DOMESTIC_J = "DOMESTIC_J", "Swiss (SEV 1011)"
    OTHER = "OTHER", "other"


class PowerType(models.TextChoices):
    AC_1_PHASE = "AC_1_PHASE", "AC single phase"
    AC_3_PHASE = "AC_3_PHASE", "AC three phase"
    DC = "DC", "DC"


class Connector(models.Model):
    evse = models.ForeignKey(EVSE, on_delete=models.CASCADE, related_name="connectors")
    standard = models.CharField(max_length=30, choices=ConnectorStandard.choices)
    power_type = models.CharField(max_length=20, choices=PowerType.choices,
                                  default=PowerType.AC_3_PHASE)
    power_kw = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(2000)])
    voltage_v = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(2000)]
    )
    current_a = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(3000)]
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["evse_id", "id"]
        constraints = [
            _range_constraints("connector", "power_kw", 0, 2000),
            _range_constraints("connector", "voltage_v", 0, 2000),
            _range_constraints("connector", "current_a", 0, 3000),
        ]

    def __str__(self) -> str:
        return f"{self.get_standard_display()} {self.power_kw:g} kW"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


class Job(models.Model):
    """A long piece of work run by a Celery worker, with its progress and outcome."""

    FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

    kind = models.CharField(max_length=100, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=JobStatus.choices,
                              default=JobStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="jobs",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1),
                            name="job_progress_range"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
