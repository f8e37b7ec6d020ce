"""``import_pandapower NETWORK [--region NAME] [--strict] [--currency EUR] [--name KEY]``: buses,
lines with their electrical parameters, and a market with a pricing node per bus."""

from twin.ingest.pandapower import import_pandapower
from twin.management.importing import ImportCommand


class Command(ImportCommand):
    help = ("Import a pandapower network (JSON file or pandapower.networks name): buses as "
            "substations, lines with r/x/c/max_i, a pricing node per bus; prints the report.")
    region_help = "region name (default: the network's key)"

    def add_arguments(self, parser):
        parser.add_argument("network", help="pandapower JSON file or pandapower.networks name")
        parser.add_argument("--currency", help="ISO 4217 currency of the market (default EUR)")
        parser.add_argument("--name", help="key for source ids and the market name "
                                           "(default: the network name)")
        super().add_arguments(parser)

    def handle(self, *args, network, region, strict, currency, name, **options):
        self.run_import(import_pandapower, network, region_name=region, strict=strict,
                        currency=currency, network_name=name)
