"""``import_osm PATH [--region NAME] [--strict]``: build or update the twin from an OSM extract."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from twin.services.ingest import ImportFailed
from twin.services.osm_import import import_osm


def progress_bar(stream):
    """A one-line progress bar for the terminal (plain lines when not a terminal)."""

    def report(fraction: float, message: str = "") -> None:
        filled = int(fraction * 30)
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {message}"
        if stream.isatty():
            stream.write("\r" + line[:100].ljust(100))
            stream.flush()
        else:
            stream.write(line + "\n")

    return report


class Command(BaseCommand):
    help = "Import power lines, supports, substations and chargers from an OSM file."

    def add_arguments(self, parser):
        parser.add_argument("path", help=".osm.pbf, .osm or .osm.bz2 file")
        parser.add_argument("--region", help="region name (default: the file's name)")
        parser.add_argument("--strict", action="store_true",
                            help="roll back everything on any skipped row or warning")
        parser.add_argument("--tolerance-m", type=float, default=50.0,
                            help="how close a line end must be to a substation (metres, 50)")

    def handle(self, *args, path, region, strict, tolerance_m, **options):
        try:
            summary = import_osm(path, region_name=region, strict=strict, tolerance_m=tolerance_m,
                                 progress=progress_bar(sys.stderr))
        except ImportFailed as exc:
            if exc.report is not None:
                self.stdout.write(json.dumps(exc.report.as_dict(), indent=2, default=str))
            raise CommandError(str(exc)) from exc
        sys.stderr.write("\n")
        self.stdout.write(json.dumps(summary, indent=2, default=str))
