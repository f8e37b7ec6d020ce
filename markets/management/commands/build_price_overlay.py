"""``build_price_overlay --market NAME --run RUN --at ISO_TIME --out PATH.tif``: the price surface.

Builds (or reuses, when its prices have not changed) the cached interpolated price surface of
one market run at one instant and copies the GeoTIFF (float32, EPSG:3857, nodata NaN outside
the nodes' coverage) to ``--out``. ``--kind points|voronoi`` writes the GeoJSON overlay instead.
Prints a JSON summary (interval, bounds, min/max, build time).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from markets.models import MarketRun, OverlayKind
from markets.services.interpolate import METHODS
from markets.services.overlays import DEFAULT_SIZE, OverlayError, build_price_overlay


class Command(BaseCommand):
    help = "Build a market run's interpolated price surface (GeoTIFF) at one instant."

    def add_arguments(self, parser):
        parser.add_argument("--market", required=True, help="market name, e.g. CAISO")
        parser.add_argument("--run", required=True, choices=MarketRun.values)
        parser.add_argument("--at", required=True,
                            help="ISO 8601 instant with offset, e.g. 2022-09-01T18:00:00Z")
        parser.add_argument("--out", required=True, help="output path (.tif; .geojson for "
                                                         "--kind points|voronoi)")
        parser.add_argument("--method", choices=METHODS, default="idw")
        parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                            help="pixels along the longer side (default %(default)s)")
        parser.add_argument("--kind", choices=OverlayKind.values, default=OverlayKind.SURFACE)

    def handle(self, *args, market, run, at, out, method, size, kind, **options):
        try:
            summary = build_price_overlay(market=market, run=run, at=at, kind=kind,
                                          method=method, size=size, out=out)
        except OverlayError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(summary, indent=2, default=str))
