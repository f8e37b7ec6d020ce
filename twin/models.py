"""The digital twin: grid assets, EV chargers, pricing nodes and background jobs.

Geometry is stored in EPSG:4326; lengths and distances are measured on the WGS84 ellipsoid and
carry their unit in their name (``length_m``, ``voltage_kv``). Every asset keeps a change log
(django-simple-history): who changed what, when, before and after.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import CheckConstraint, F, Q, UniqueConstraint
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


class Market(models.Model):
    """An electricity market or price publisher (CAISO, JEPX, a computed twin market …)."""

    name = models.CharField(max_length=100, unique=True)
    operator = models.CharField(max_length=200, blank=True)
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217")
    time_zone = models.CharField(max_length=50, default="UTC", help_text="IANA name")
    interval_min = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1)], help_text="Settlement interval in minutes."
    )
    carbon_zone = models.CharField(
        max_length=50, blank=True,
        help_text="Carbon-intensity zone (e.g. CISO) whose series applies to this market's nodes "
                  "unless a node has a series of its own.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PricingNodeKind(models.TextChoices):
    LOAD = "load", "load"
    GEN = "gen", "generator"
    BUS = "bus", "bus"
    ZONE = "zone", "zone / area"


class PricingNode(models.Model):
    """A point where a market publishes (or the twin computes) a locational price."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="nodes")
    code = models.CharField(max_length=100, help_text="The market's node id.")
    name = models.CharField(max_length=200, blank=True)
    location = models.PointField(srid=4326, null=True, blank=True)
    kind = models.CharField(max_length=10, choices=PricingNodeKind.choices,
                            default=PricingNodeKind.BUS, db_index=True)
    area = models.CharField(max_length=50, blank=True, db_index=True,
                            help_text="Market area / balancing zone the node belongs to.")
    substation = models.ForeignKey(
        Substation, null=True, blank=True, on_delete=models.SET_NULL, related_name="pricing_nodes"
    )
    tags = models.JSONField(default=dict, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["market_id", "code"]
        constraints = [UniqueConstraint(fields=["market", "code"], name="pricingnode_code_unique")]

    def __str__(self) -> str:
        return f"{self.market}:{self.code}"


class MarketRun(models.TextChoices):
    DAY_AHEAD = "day-ahead", "day-ahead"
    REAL_TIME = "real-time", "real-time"
    FORWARD = "forward", "forward (planning curve)"
    COMPUTED = "computed", "computed from the twin"


class NodalPrice(models.Model):
    """One locational marginal price of one node for one half-open interval ``[start, end)``.

    Prices are per MWh in the market's currency whatever the source publishes (JEPX's yen per
    kWh are stored ×1000). A revision is a new row with a higher ``version``; only the newest is
    ``is_current``.
    """

    id = models.BigAutoField(primary_key=True)
    node = models.ForeignKey(PricingNode, on_delete=models.CASCADE, related_name="prices")
    run = models.CharField(max_length=10, choices=MarketRun.choices)
    interval_start = models.DateTimeField(help_text="UTC, inclusive.")
    interval_end = models.DateTimeField(help_text="UTC, exclusive.")
    lmp_per_mwh = models.FloatField()
    energy_per_mwh = models.FloatField(null=True, blank=True)
    congestion_per_mwh = models.FloatField(null=True, blank=True)
    loss_per_mwh = models.FloatField(null=True, blank=True)
    ghg_per_mwh = models.FloatField(null=True, blank=True)
    version = models.PositiveSmallIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    source = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["node_id", "run", "interval_start"]
        constraints = [
            UniqueConstraint(fields=["node", "run", "interval_start", "version"],
                             name="nodalprice_unique"),
            CheckConstraint(condition=Q(interval_end__gt=F("interval_start")),
                            name="nodalprice_interval_positive"),
        ]
        indexes = [
            # "all nodes at t": WHERE run = … AND interval_start = … AND is_current
            models.Index(fields=["run", "interval_start"], name="nodalprice_run_start",
                         condition=Q(is_current=True)),
            # "one node over a range": WHERE node = … AND run = … AND interval_start BETWEEN …
            models.Index(fields=["node", "run", "interval_start"], name="nodalprice_node_range",
                         condition=Q(is_current=True)),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} {self.run} {self.interval_start:%Y-%m-%dT%H:%MZ} {self.lmp_per_mwh}"


class CarbonIntensity(models.Model):
    """Grid carbon intensity of a zone (a balancing area such as ``CISO``) or of a pricing node
    for one half-open UTC interval."""

    id = models.BigAutoField(primary_key=True)
    zone = models.CharField(max_length=50, blank=True, db_index=True)
    node = models.ForeignKey(PricingNode, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="carbon")
    interval_start = models.DateTimeField(help_text="UTC, inclusive.")
    interval_end = models.DateTimeField(help_text="UTC, exclusive.")
    average_g_per_kwh = models.FloatField(validators=[MinValueValidator(0)])
    marginal_g_per_kwh = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    is_forecast = models.BooleanField(default=False)
    source = models.CharField(max_length=100)

    class Meta:
        ordering = ["zone", "node_id", "interval_start"]
        verbose_name_plural = "carbon intensities"
        constraints = [
            CheckConstraint(condition=(Q(node__isnull=True) & ~Q(zone=""))
                            | (Q(node__isnull=False) & Q(zone="")),
                            name="carbon_zone_xor_node"),
            CheckConstraint(condition=Q(interval_end__gt=F("interval_start")),
                            name="carbon_interval_positive"),
            CheckConstraint(condition=Q(average_g_per_kwh__gte=0), name="carbon_average_nonneg"),
            UniqueConstraint(fields=["zone", "interval_start", "source", "is_forecast"],
                             condition=Q(node__isnull=True), name="carbon_zone_unique"),
            UniqueConstraint(fields=["node", "interval_start", "source", "is_forecast"],
                             condition=Q(node__isnull=False), name="carbon_node_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.zone or self.node_id} {self.interval_start:%Y-%m-%dT%H:%MZ} {self.average_g_per_kwh}"


class OverlayKind(models.TextChoices):
    POINTS = "points", "node points"
    VORONOI = "voronoi", "service areas (Voronoi)"
    SURFACE = "surface", "interpolated surface (GeoTIFF)"


class PriceOverlay(models.Model):
    """A built map overlay of one market run at one interval, cached until its prices change."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="overlays")
    run = models.CharField(max_length=10, choices=MarketRun.choices)
    interval_start = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=OverlayKind.choices)
    method = models.CharField(max_length=30, blank=True, help_text="e.g. idw, linear")
    geojson = models.JSONField(null=True, blank=True, help_text="points and voronoi overlays")
    raster = models.FileField(upload_to="overlays/", blank=True, help_text="surface GeoTIFF")
    bounds = models.JSONField(null=True, blank=True, help_text="[west, south, east, north] EPSG:4326")
    stats = models.JSONField(default=dict, blank=True, help_text="min/max/node count …")
    inputs_digest = models.CharField(max_length=64, blank=True,
                                     help_text="hash of the prices it was built from")
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["market_id", "run", "interval_start", "kind"]
        constraints = [
            UniqueConstraint(fields=["market", "run", "interval_start", "kind", "method"],
                             name="priceoverlay_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.run} {self.interval_start:%Y-%m-%dT%H:%MZ} {self.kind}"


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
