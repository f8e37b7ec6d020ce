"""``compute_lmps --market NAME [--network mv_oberrhein|PATH.json] [--intervals 96]
[--scenario JSON|PATH] [--start ISO] [--ac]``: LMPs of the twin's buses from an OPF per interval,
stored as the market's ``computed`` run; prints a JSON summary."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from markets.services.opf import compute_lmps, ensure_network
from twin.jobs import JobParameterError
from twin.management.importing import progress_bar


def read_scenario(text: str | None) -> dict:
    """A scenario from inline JSON or a JSON file."""
    if not text:
        return {}
    source = Path(text).read_text() if not text.lstrip().startswith("{") and Path(text).is_file() else text
    try:
        scenario = json.loads(source)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--scenario: not JSON or a JSON file ({exc})") from exc
    if not isinstance(scenario, dict):
        raise CommandError("--scenario must be a JSON object")
    return scenario


class Command(BaseCommand):
    help = ("Compute LMPs of a market's buses from the twin's network (pandapower DC OPF, or AC "
            "with --ac) and store them as run 'computed'; prints a JSON summary.")

    def add_arguments(self, parser):
        parser.add_argument("--market", help="market whose pricing nodes sit at the twin's buses "
                                             "(default: the network's name)")
        parser.add_argument("--network", help="pandapower.networks name or JSON file, imported "
                                              "into the twin first when the market is not there")
        parser.add_argument("--intervals", type=int, default=96, help="how many intervals (96)")
        parser.add_argument("--scenario", help="scenario as inline JSON or a JSON file")
        parser.add_argument("--start", help="first interval start, ISO 8601 with offset "
                                            "(default: scenario start or today 00:00 UTC)")
        parser.add_argument("--ac", action="store_true", help="AC OPF, DC where it fails")

    def handle(self, *args, market, network, intervals, scenario, start, ac, **options):
        scenario = read_scenario(scenario)
        if start:
            scenario["start"] = start
        try:
            name = ensure_network(network, market)
            summary = compute_lmps(name, scenario, intervals, ac=ac,
                                   progress=progress_bar(sys.stderr))
        except JobParameterError as exc:
            raise CommandError(str(exc)) from exc
        sys.stderr.write("\n")
        self.stdout.write(json.dumps(summary, indent=2, default=str))
