"""``import_layer PATH --kind KIND [--mapping JSON] [--strict] [--region NAME]``: import a GIS layer.

GeoPackage, Shapefile (with its ``.prj``), GeoJSON, FlatGeobuf or CSV (lon/lat or WKT columns);
see :mod:`twin.ingest.layers` for the column rules. Prints the JSON import report.
"""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from twin.ingest.layers import KINDS, READ_FORMATS, import_layer
from twin.management.importing import ImportCommand


class Command(ImportCommand):
    help = "Import substations, lines, supports or chargers from a GIS file into the twin."
    region_help = ("put every row in this region (created if needed) and mark its rows the file "
                   "no longer holds")

    def add_arguments(self, parser):
        parser.add_argument("path", help=f"a {', '.join(sorted(set(READ_FORMATS)))} file")
        parser.add_argument("--kind", required=True, choices=list(KINDS),
                            help="which assets the file holds")
        parser.add_argument("--mapping", default=None,
                            help='JSON {model field: column}, e.g. \'{"name": "NAME", '
                                 '"voltages_kv": "VOLT_KV"}\'; for a CSV also lon, lat, wkt')
        super().add_arguments(parser)

    def handle(self, *args, path, kind, mapping, strict, region, **options):
        try:
            mapping = json.loads(mapping) if mapping else {}
        except json.JSONDecodeError as exc:
            raise CommandError(f"--mapping is not JSON: {exc}") from exc
        if not isinstance(mapping, dict):
            raise CommandError('--mapping must be a JSON object {"field": "column"}')
        self.run_import(import_layer, path, kind=kind, mapping=mapping, strict=strict,
                        region_name=region)
