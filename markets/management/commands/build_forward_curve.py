"""``build_forward_curve --market NAME [--node CODE] --months N [--run RUN] [--start-month YYYY-MM]
[--levels JSON]``: forward curves (month × hour-of-day shape scaled to monthly levels) from the
nodes' price history, stored as run ``forward``; prints a JSON summary."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from markets.services.forward import build_forward_curve
from twin.jobs import JobParameterError
from twin.management.importing import progress_bar


class Command(BaseCommand):
    help = ("Build forward curves per node from the spot history (a planning curve, not a traded "
            "one) and store them as run 'forward'; prints a JSON summary.")

    def add_arguments(self, parser):
        parser.add_argument("--market", required=True, help="market name")
        parser.add_argument("--node", help="one node code (default: every node with history)")
        parser.add_argument("--months", type=int, default=12, help="forward months (12)")
        parser.add_argument("--run", help="history run (default day-ahead, else real-time, "
                                          "else computed)")
        parser.add_argument("--start-month", help="first month YYYY-MM (default: after the history)")
        parser.add_argument("--levels", help='monthly levels as JSON, e.g. {"2023-01": 80}')

    def handle(self, *args, market, node, months, run, start_month, levels, **options):
        try:
            parsed = json.loads(levels) if levels else None
        except json.JSONDecodeError as exc:
            raise CommandError(f"--levels: not JSON ({exc})") from exc
        if parsed is not None and not isinstance(parsed, dict):
            raise CommandError('--levels must be a JSON object {"YYYY-MM": price}')
        try:
            summary = build_forward_curve(market, node=node, months=months, run=run,
                                          start_month=start_month, levels=parsed,
                                          progress=progress_bar(sys.stderr))
        except JobParameterError as exc:
            raise CommandError(str(exc)) from exc
        sys.stderr.write("\n")
        self.stdout.write(json.dumps(summary, indent=2, default=str))
