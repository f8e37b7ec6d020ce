"""``import_prices caiso-oasis|generic|jepx PATH [--market NAME]``: nodal prices of a market."""

from markets.services.prices import PRICE_FORMATS, import_prices
from markets.services.readers.common import AMBIGUOUS_POLICIES
from twin.management.importing import ImportCommand


class Command(ImportCommand):
    help = ("Import nodal prices (CAISO OASIS LMP CSV, the generic long CSV, or a JEPX spot "
            "summary) into a market; prints the JSON report.")

    def add_arguments(self, parser):
        # No choices= here: an unknown format gets the importer's message and its JSON report.
        parser.add_argument("format", help=f"one of {', '.join(PRICE_FORMATS)}")
        parser.add_argument("path", help="the price file (CAISO: plain or .gz)")
        parser.add_argument("--market", help="market name (required except for jepx: JEPX)")
        parser.add_argument("--create-nodes", action="store_true",
                            help="create unknown nodes without a location (else their rows are "
                                 "skipped and reported)")
        parser.add_argument("--ambiguous", default="reject", choices=AMBIGUOUS_POLICIES,
                            help="local times repeated by a DST fall-back: reject (default), "
                                 "or take the earlier/later instant")
        parser.add_argument("--strict", action="store_true",
                            help="roll back everything on any skipped row or warning")

    def handle(self, *args, format, path, market, create_nodes, ambiguous, strict, **options):
        self.run_import(import_prices, format, path, market_name=market,
                        create_nodes=create_nodes, ambiguous=ambiguous, strict=strict)
