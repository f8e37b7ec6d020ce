"""Drone routing: airspace, fleet, cached flight graphs and flight plans with their flights.

Geometry is stored in EPSG:4326; every distance is measured in metres on the region's UTM
projection of the flight graph and carries its unit in its name (``range_m``, ``length_m``).

A :class:`FlightPlan` is written only once it is complete (all flights solved and checked), so
there is never a half-made plan: a failed planning job leaves no rows behind. Targets are named
by plain keys that the API, the CLI and the exports share:

* ``support:<id>`` — a tower or pole of the twin;
* ``span:<support id>-<support id>`` — the span between two consecutive supports of a line,
  inspected at its midpoint;
* ``substation:<id>`` — a substation (at its representative point);
* ``point:<n>`` — the n-th arbitrary point given with the request (local logistics).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import CheckConstraint, Q, UniqueConstraint

from twin.models import Job, Region, Substation


class NoFlyZoneKind(models.TextChoices):
    AERODROME = "aerodrome", "aerodrome"
    HELIPORT = "heliport", "heliport"
    HELIPAD = "helipad", "helipad"
    MILITARY = "military", "military area"
    PROTECTED_AREA = "protected_area", "protected area (restricted)"
    OTHER = "other", "other (drawn or uploaded)"


class NoFlyZoneSource(models.TextChoices):
    OSM = "osm", "OpenStreetMap"
    OPERATOR = "operator", "drawn by an operator"
    UPLOAD = "upload", "uploaded file"


class NoFlyZone(models.Model):
    """A polygon of airspace no drone may enter between ``floor_m`` and ``ceiling_m``.

    Zones imported from OSM are the feature's area (or its point) buffered by the configured
    radius; their ``source_id`` (``osm:node/123``) makes re-imports idempotent. Planning removes
    every graph edge inside or crossing an active zone that applies to the planned altitude.
    """

    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=20, choices=NoFlyZoneKind.choices,
                            default=NoFlyZoneKind.OTHER, db_index=True)
    geometry = models.MultiPolygonField(srid=4326)
    floor_m = models.FloatField(
        default=0, validators=[MinValueValidator(0)],
        help_text="Lowest restricted altitude above ground in metres (0 = from the ground).",
    )
    ceiling_m = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0)],
        help_text="Highest restricted altitude above ground in metres; blank = unlimited.",
    )
    source = models.CharField(max_length=20, choices=NoFlyZoneSource.choices,
                              default=NoFlyZoneSource.OPERATOR)
    source_id = models.CharField(max_length=200, blank=True,
                                 help_text="Stable id in the source, e.g. osm:way/123.")
    buffer_m = models.FloatField(default=0, validators=[MinValueValidator(0)],
                                 help_text="Buffer applied around the source feature, metres.")
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="no_fly_zones")
    active = models.BooleanField(default=True, db_index=True)
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # the same OSM feature may be a zone of two overlapping regions, once in each
            UniqueConstraint(fields=["region", "source_id"], condition=~Q(source_id=""),
                             name="nofly_region_source_id_unique"),
            CheckConstraint(condition=Q(floor_m__gte=0), name="nofly_floor_nonneg"),
            CheckConstraint(condition=Q(ceiling_m__isnull=True) | Q(ceiling_m__gt=models.F("floor_m")),
                            name="nofly_ceiling_above_floor"),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} {self.pk}"

    def applies_at(self, altitude_m: float) -> bool:
        """Whether this zone restricts flight at ``altitude_m`` above ground."""
        return self.active and self.floor_m <= altitude_m and (
            self.ceiling_m is None or altitude_m <= self.ceiling_m)


class Drone(models.Model):
    """A drone type: its battery range, speeds, hover time per target and altitude limits."""

    name = models.CharField(max_length=100, unique=True)
    range_m = models.FloatField(validators=[MinValueValidator(1)],
                                help_text="Distance flown on a full battery, metres.")
    reserve_fraction = models.FloatField(
        default=0.2, validators=[MinValueValidator(0), MaxValueValidator(0.95)],
        help_text="Share of the range kept in reserve; usable range = range_m × (1 − reserve).",
    )
    cruise_speed_mps = models.FloatField(default=12.0, validators=[MinValueValidator(0.1)])
    service_time_s = models.FloatField(
        default=60.0, validators=[MinValueValidator(0)],
        help_text="Hover / inspection time spent at each target, seconds.",
    )
    cruise_altitude_m = models.FloatField(
        default=60.0, validators=[MinValueValidator(1)],
        help_text="Planned flight altitude above ground, metres.",
    )
    max_altitude_m = models.FloatField(
        default=120.0, validators=[MinValueValidator(1)],
        help_text="Highest allowed altitude above ground (regulatory), metres.",
    )
    min_clearance_m = models.FloatField(
        default=30.0, validators=[MinValueValidator(0)],
        help_text="Lowest allowed altitude above ground (obstacle clearance), metres.",
    )
    max_duration_s = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Longest flight time on a battery, seconds; blank = limited by range only.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            CheckConstraint(condition=Q(range_m__gt=0), name="drone_range_positive"),
            CheckConstraint(condition=Q(reserve_fraction__gte=0) & Q(reserve_fraction__lt=1),
                            name="drone_reserve_range"),
            CheckConstraint(condition=Q(cruise_speed_mps__gt=0), name="drone_speed_positive"),
            CheckConstraint(condition=Q(cruise_altitude_m__lte=models.F("max_altitude_m")),
                            name="drone_cruise_below_max"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def usable_range_m(self) -> float:
        """Range available for flying: ``range_m × (1 − reserve_fraction)``."""
        return self.range_m * (1.0 - self.reserve_fraction)


class DronePort(models.Model):
    """A ground base where drones take off, land and recharge: at a substation or any point."""

    name = models.CharField(max_length=200)
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="drone_ports")
    location = models.PointField(srid=4326)
    substation = models.ForeignKey(Substation, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="drone_ports")
    drone = models.ForeignKey(Drone, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="ports", help_text="The drone type stationed here.")
    capacity = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="How many drones the port holds."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            CheckConstraint(condition=Q(capacity__gte=1), name="droneport_capacity_min"),
            UniqueConstraint(fields=["region", "name"], name="droneport_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class FlightGraph(models.Model):
    """A built flight graph of a region, cached on disk (a pickled networkx MultiDiGraph).

    ``inputs_digest`` hashes everything the graph was built from (the OSM file's identity, the
    twin's line geometry, the no-fly zones, the options); a build whose digest matches an
    existing row reuses its file, any change of input builds a new one.
    """

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="flight_graphs")
    inputs_digest = models.CharField(max_length=64)
    path = models.CharField(max_length=500, help_text="The cached graph file (pickle).")
    crs = models.CharField(max_length=100, help_text="The projected CRS of the graph, e.g. EPSG:32632.")
    options = models.JSONField(default=dict, blank=True,
                               help_text="corridor_weight, nofly_buffer_m, dem path …")
    node_count = models.PositiveIntegerField(default=0)
    edge_count = models.PositiveIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True,
                             help_text="road/corridor/connector edge counts, removed edges, timings")
    built_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["region_id", "-built_at"]
        get_latest_by = "built_at"
        constraints = [
            UniqueConstraint(fields=["region", "inputs_digest"], name="flightgraph_digest_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.region} graph {self.inputs_digest[:8]} ({self.node_count} nodes)"


class FlightPlanStatus(models.TextChoices):
    COMPLETE = "complete", "complete: the fleet flies every reachable target"
    NEEDS_MORE_FLIGHTS = "needs_more_flights", "the fleet is too small: more flights needed"


class FlightPlan(models.Model):
    """A solved set of flights visiting every reachable target once, within battery range.

    ``skipped`` lists the targets no drone can reach and return from, each with its reason
    (``[{"target": "support:12", "reason": "…"}]``): a target is either in exactly one flight
    or in ``skipped``. When the fleet cannot fly the plan in one sortie per drone,
    ``status`` is ``needs_more_flights``, ``extra_flights_needed`` says how many more battery
    loads are needed, and the flights given are the shortest feasible plan with those extra
    sorties (numbered per drone in :attr:`Flight.sortie`).
    """

    name = models.CharField(max_length=200, blank=True)
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="flight_plans")
    graph = models.ForeignKey(FlightGraph, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="plans")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    drone = models.ForeignKey(Drone, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="plans")
    drone_spec = models.JSONField(
        default=dict, help_text="The drone parameters used (kept when the Drone row changes).")
    ports = models.ManyToManyField(DronePort, blank=True, related_name="plans")
    fleet = models.JSONField(default=list, blank=True,
                             help_text='Drones per port: [{"port": id, "name": …, "drones": n}]')
    options = models.JSONField(default=dict, blank=True,
                               help_text="time_budget_s, corridor_weight, altitude …")
    targets = models.JSONField(default=list, blank=True,
                               help_text='The requested targets: [{"target", "kind", "lon", "lat"}]')
    skipped = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=FlightPlanStatus.choices,
                              default=FlightPlanStatus.COMPLETE)
    extra_flights_needed = models.PositiveIntegerField(default=0)
    usable_range_m = models.FloatField()
    total_length_m = models.FloatField(default=0)
    total_duration_s = models.FloatField(default=0)
    solver = models.JSONField(default=dict, blank=True,
                              help_text="runtime_s, iterations, feasible, objective …")
    warnings = models.JSONField(default=list, blank=True)
    geometry = models.MultiLineStringField(srid=4326, null=True, blank=True,
                                           help_text="All flights' paths (for maps).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            CheckConstraint(condition=Q(usable_range_m__gt=0), name="flightplan_range_positive"),
            CheckConstraint(condition=Q(total_length_m__gte=0), name="flightplan_length_nonneg"),
        ]

    def __str__(self) -> str:
        return self.name or f"flight plan {self.pk} ({self.region})"


class Flight(models.Model):
    """One battery load: from a port along graph edges over its targets in order, back to a port.

    ``path`` is the real route (graph edge geometries joined end to end, so ``length_m`` equals
    the sum of its edges' lengths). ``waypoints`` are the mission's positions with altitudes:
    ``[{"lon", "lat", "alt_m" (above the port), "agl_m" (above ground), "target" (key or null)}]``.
    """

    plan = models.ForeignKey(FlightPlan, on_delete=models.CASCADE, related_name="flights")
    sequence = models.PositiveIntegerField(help_text="1, 2, … within the plan.")
    port = models.ForeignKey(DronePort, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="flights")
    port_name = models.CharField(max_length=200, blank=True)
    drone_number = models.PositiveSmallIntegerField(default=1,
                                                    help_text="Which drone of the port, 1…n.")
    sortie = models.PositiveSmallIntegerField(
        default=1, help_text="1 for each drone's first flight; 2… for flights after recharging.")
    path = models.LineStringField(srid=4326)
    waypoints = models.JSONField(default=list)
    targets = models.JSONField(default=list, help_text="Target keys in visiting order.")
    length_m = models.FloatField(validators=[MinValueValidator(0)])
    duration_s = models.FloatField(validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["plan_id", "sequence"]
        constraints = [
            UniqueConstraint(fields=["plan", "sequence"], name="flight_sequence_unique"),
            CheckConstraint(condition=Q(length_m__gte=0), name="flight_length_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} flight {self.sequence}"
