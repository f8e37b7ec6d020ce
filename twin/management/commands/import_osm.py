"""``import_osm PATH [--region NAME] [--strict]``: build or update the twin from an OSM extract."""

from twin.ingest.osm import import_osm
from twin.management.importing import ImportCommand


class Command(ImportCommand):
    help = "Import power lines, supports, substations and chargers from an OSM file."
    region_help = "region name (default: the file's name)"

    def add_arguments(self, parser):
        parser.add_argument("path", help=".osm.pbf, .osm or .osm.bz2 file")
        parser.add_argument("--tolerance-m", type=float, default=50.0,
                            help="how close a line end must be to a substation (metres, 50)")
        super().add_arguments(parser)

    def handle(self, *args, path, region, strict, tolerance_m, **options):
        self.run_import(import_osm, path, region_name=region, strict=strict,
                        tolerance_m=tolerance_m)
