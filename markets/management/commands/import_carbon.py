"""``import_carbon eia930 PATH --zone NAME``: a zone's carbon-intensity series."""

from markets.services.carbon import CARBON_FORMATS, import_carbon
from twin.management.importing import ImportCommand


class Command(ImportCommand):
    help = "Import a carbon-intensity series (EIA-930 hourly CSV) for a zone; prints the report."

    def add_arguments(self, parser):
        parser.add_argument("format", help=f"one of {', '.join(CARBON_FORMATS)}")
        parser.add_argument("path", help="the series CSV")
        parser.add_argument("--zone", required=True, help="zone name, e.g. CISO")
        parser.add_argument("--interval-min", type=int, default=60,
                            help="interval length in minutes (default 60)")
        parser.add_argument("--strict", action="store_true",
                            help="roll back everything on any skipped row or warning")

    def handle(self, *args, format, path, zone, interval_min, strict, **options):
        self.run_import(import_carbon, format, path, zone=zone, interval_min=interval_min,
                        strict=strict)
