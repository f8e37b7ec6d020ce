"""``import_gridkit PATH [LINKS] [--region NAME] [--strict]``: substations and lines with their
topology from GridKit-style vertex/link CSVs."""

from twin.ingest.gridkit import import_gridkit
from twin.management.importing import ImportCommand


class Command(ImportCommand):
    help = ("Import a GridKit-style transmission network (vertices → substations, links → lines "
            "with from/to substations and default electrical parameters); prints the JSON report.")
    region_help = "region name (default: the vertex file's name without _vertices)"

    def add_arguments(self, parser):
        parser.add_argument("path", help="a folder or .zip with *vertices*.csv and *links*.csv, "
                                         "or the vertex CSV")
        parser.add_argument("links", nargs="?", help="the link CSV (when PATH is the vertex CSV "
                                                     "and the names do not pair up)")
        super().add_arguments(parser)

    def handle(self, *args, path, links, region, strict, **options):
        self.run_import(import_gridkit, path, links, region_name=region, strict=strict)
