"""``plan_flights``: plan drone flights over a region's cached graph and write the exports."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from routing.services.errors import RoutingInputError
from routing.services.exports import write_exports
from routing.services.planning import plan_flights_from_parameters, plan_summary
from twin.management.importing import progress_bar


class Command(BaseCommand):
    help = ("Plan battery-limited drone flights visiting the region's supports, spans or "
            "substations from drone ports; write QGC .plan, WPL 110, KML and GeoJSON into --out "
            "and print a JSON summary (routes, skipped, total_length_m).")

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="region name")
        parser.add_argument("--targets", required=True, choices=["supports", "spans", "substations"])
        parser.add_argument("--limit", type=int, help="plan only the first N targets")
        parser.add_argument("--bbox", help="only targets inside minx,miny,maxx,maxy")
        parser.add_argument("--drones", type=int, required=True, help="number of drones")
        parser.add_argument("--range-m", type=float, required=True, help="battery range, metres")
        parser.add_argument("--reserve", type=float, default=0.2,
                            help="share of the range kept in reserve (default 0.2)")
        parser.add_argument("--speed-mps", type=float, default=12.0, help="cruise speed")
        parser.add_argument("--hover-s", type=float, default=60.0, help="hover time per target")
        parser.add_argument("--altitude-m", type=float, default=60.0, help="altitude above ground")
        parser.add_argument("--ports", default=None,
                            help='"substations" (a port at each substation; default when the '
                                 "region has no ports) or comma-separated DronePort ids")
        parser.add_argument("--time-budget-s", type=float, default=5.0, help="solver time")
        parser.add_argument("--out", required=True, help="folder for the exports")

    def handle(self, *args, **o):
        ports = o["ports"]
        if ports and ports != "substations":
            try:
                ports = [int(p) for p in ports.split(",")]
            except ValueError as exc:
                raise CommandError('--ports must be "substations" or comma-separated ids') from exc
        selection = {"kind": o["targets"]}
        if o["limit"] is not None:
            selection["limit"] = o["limit"]
        if o["bbox"]:
            selection["bbox"] = o["bbox"]
        parameters = {
            "region": o["region"], "targets": selection, "drones": o["drones"], "ports": ports,
            "drone": {"range_m": o["range_m"], "reserve_fraction": o["reserve"],
                      "cruise_speed_mps": o["speed_mps"], "service_time_s": o["hover_s"],
                      "cruise_altitude_m": o["altitude_m"],
                      "max_altitude_m": max(120.0, o["altitude_m"])},
            "options": {"time_budget_s": o["time_budget_s"]},
        }
        try:
            plan = plan_flights_from_parameters(parameters, progress=progress_bar(sys.stderr))
        except RoutingInputError as exc:
            raise CommandError(str(exc)) from exc
        sys.stderr.write("\n")
        files = write_exports(plan, o["out"])
        summary = plan_summary(plan)
        summary["files"] = [str(f) for f in files]
        self.stdout.write(json.dumps(summary, indent=2, default=str, ensure_ascii=False))
