"""Markets and their prices: markets, pricing nodes, nodal prices, carbon intensity and the
price overlays built from them.

Prices are per MWh in the market's currency; intervals are half-open ``[start, end)`` in UTC;
carbon intensity is in g/kWh. A pricing node may sit at a substation of the twin
(:class:`twin.models.Substation`); the twin knows nothing of markets.
"""

from __future__ import annotations

from django.contrib.gis.db import models
from django.core.validators import MinValueValidator
from django.db.models import CheckConstraint, F, Q, UniqueConstraint
from simple_history.models import HistoricalRecords

from twin.models import Substation


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
