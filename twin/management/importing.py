"""What the import commands share: --region and --strict, a progress bar, the JSON report."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from twin.ingest.base import ImportFailed


def progress_bar(stream):
    """A one-line progress bar for the terminal (plain lines when not a terminal)."""

    def report(fraction: float, message: str = "") -> None:
        filled = int(fraction * 30)
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {message}"
        if stream.isatty():
            stream.write("\r" + line[:100].ljust(100))
            stream.flush()
        else:
            stream.write(line + "\n")

    return report


class ImportCommand(BaseCommand):
    """Base of ``import_*`` commands: run an importer inline and print its JSON report.

    On failure the report (when there is one) is printed too, and the command exits non-zero
    with the importer's message. Nothing is written by a failed import.
    """

    region_help = "region name"

    def add_arguments(self, parser):
        parser.add_argument("--region", help=self.region_help)
        parser.add_argument("--strict", action="store_true",
                            help="roll back everything on any skipped row or warning")

    def run_import(self, importer: Callable[..., dict], *args, **kwargs) -> None:
        try:
            summary = importer(*args, progress=progress_bar(sys.stderr), **kwargs)
        except ImportFailed as exc:
            if exc.report is not None:
                self._print(exc.report.as_dict())
            raise CommandError(str(exc)) from exc
        sys.stderr.write("\n")
        self._print(summary)

    def _print(self, data: dict) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False))
