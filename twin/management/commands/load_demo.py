"""``load_demo``: load the Liechtenstein demo region (once; ``--force`` re-imports)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from twin.models import Region

DEMO_FILE = Path(settings.BASE_DIR) / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"
DEMO_REGION = "liechtenstein"


class Command(BaseCommand):
    help = "Load the demo region (Liechtenstein, © OpenStreetMap contributors, ODbL)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="import even if already loaded")

    def handle(self, *args, force: bool, **options):
        if not force and Region.objects.filter(name=DEMO_REGION, imported_at__isnull=False).exists():
            self.stdout.write(f"demo region {DEMO_REGION!r} already loaded")
            return
        call_command("import_osm", str(DEMO_FILE), region=DEMO_REGION, stdout=self.stdout)
