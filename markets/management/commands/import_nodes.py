"""``import_nodes PATH --market NAME``: pricing nodes from a CSV node_id, latitude, longitude…"""

from markets.services.nodes import import_nodes
from twin.management.importing import ImportCommand


class Command(ImportCommand):
    help = ("Import pricing nodes from a CSV 'node_id, latitude, longitude[, node_type, area]' "
            "into a market (created when missing); prints the JSON report.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="the nodes CSV")
        parser.add_argument("--market", required=True, help="market name, e.g. CAISO")
        parser.add_argument("--currency", help="ISO 4217 code when the market is created")
        parser.add_argument("--time-zone", help="IANA time zone when the market is created")
        parser.add_argument("--interval-min", type=int, help="settlement interval in minutes")
        parser.add_argument("--operator", help="market operator when the market is created")
        parser.add_argument("--carbon-zone", help="carbon zone of the market's nodes, e.g. CISO")
        parser.add_argument("--allow-unlocated", action="store_true",
                            help="create nodes without latitude/longitude (else skipped)")
        parser.add_argument("--strict", action="store_true",
                            help="roll back everything on any skipped row or warning")

    def handle(self, *args, path, market, currency, time_zone, interval_min, operator,
               carbon_zone, allow_unlocated, strict, **options):
        self.run_import(import_nodes, path, market_name=market, currency=currency,
                        time_zone=time_zone, interval_min=interval_min, operator=operator,
                        carbon_zone=carbon_zone, allow_unlocated=allow_unlocated, strict=strict)
