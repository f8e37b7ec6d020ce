"""``build_flight_graph``: build (or reuse) a region's flight graph and print its summary."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from routing.services.errors import RoutingInputError
from routing.services.graph import build_flight_graph, graph_summary
from twin.management.importing import progress_bar


class Command(BaseCommand):
    help = ("Build the drone flight graph of a region from its local OSM file (roads + power-line "
            "corridors, projected to metres), import its OSM no-fly zones, and cache it.")

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="region name")
        parser.add_argument("--corridor-weight", type=float,
                            help="cost factor of corridor edges (< 1 prefers corridors; default 0.7)")
        parser.add_argument("--connect-radius-m", type=float,
                            help="join towers to road nodes within this distance (default 150)")
        parser.add_argument("--dem", help="a DEM GeoTIFF for node elevations and climb cost")
        parser.add_argument("--climb-weight", type=float,
                            help="cost metres per metre climbed (default 2, with --dem)")
        parser.add_argument("--no-fly-radius-m", type=float, default=500.0,
                            help="buffer around aerodromes, heliports, helipads (default 500)")
        parser.add_argument("--skip-no-fly", action="store_true",
                            help="do not (re-)import the OSM no-fly zones")
        parser.add_argument("--force", action="store_true", help="rebuild even if cached")

    def handle(self, *args, region, corridor_weight, connect_radius_m, dem, climb_weight,
               no_fly_radius_m, skip_no_fly, force, **options):
        graph_options = {"corridor_weight": corridor_weight, "connect_radius_m": connect_radius_m,
                         "dem_path": dem, "climb_weight": climb_weight}
        try:
            record = build_flight_graph(
                region, options={k: v for k, v in graph_options.items() if v is not None},
                import_no_fly=not skip_no_fly, no_fly_options={"radius_m": no_fly_radius_m},
                force=force, progress=progress_bar(sys.stderr))
        except RoutingInputError as exc:
            raise CommandError(str(exc)) from exc
        sys.stderr.write("\n")
        self.stdout.write(json.dumps(graph_summary(record), indent=2, default=str))
