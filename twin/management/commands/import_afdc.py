"""``import_afdc PATH [--region NAME] [--strict]``: chargers from an AFDC station CSV export."""

from twin.ingest.afdc import import_afdc
from twin.management.importing import ImportCommand


class Command(ImportCommand):
    help = "Import EV charging stations from an NREL/AFDC station locator CSV; prints the report."
    region_help = "region name (default: afdc-<states in the file>)"

    def add_arguments(self, parser):
        parser.add_argument("path", help="the AFDC station locator CSV export")
        super().add_arguments(parser)

    def handle(self, *args, path, region, strict, **options):
        self.run_import(import_afdc, path, region_name=region, strict=strict)
