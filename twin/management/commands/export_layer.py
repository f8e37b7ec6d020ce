"""``export_layer KIND PATH [--region NAME]``: write the twin's assets of one kind to a GIS file.

The format comes from the suffix: ``.gpkg`` (layer named after the kind), ``.geojson``, ``.fgb``
or ``.csv`` (lon/lat columns for points, WKT for lines and footprints). ``import_layer`` reads
the file back.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from twin.ingest.layers import KINDS
from twin.services.exports import WRITE_FORMATS, ExportFailed, export_layer


class Command(BaseCommand):
    help = "Export substations, lines, supports or chargers to GeoPackage, GeoJSON, FlatGeobuf or CSV."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=list(KINDS))
        parser.add_argument("path", help=f"output file: {', '.join(sorted(WRITE_FORMATS))}")
        parser.add_argument("--region", help="only the assets of this region")

    def handle(self, *args, kind, path, region, **options):
        try:
            summary = export_layer(kind, path, region_name=region)
        except ExportFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(summary, indent=2))
