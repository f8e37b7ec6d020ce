"""The operators' console for markets: markets, pricing nodes on a map, prices and carbon."""

from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from markets.models import CarbonIntensity, Market, NodalPrice, PricingNode
from twin.admin import MapAdmin


@admin.register(Market)
class MarketAdmin(SimpleHistoryAdmin):
    list_display = ["name", "operator", "currency", "time_zone", "interval_min"]
    search_fields = ["name", "operator"]


@admin.register(PricingNode)
class PricingNodeAdmin(MapAdmin):
    list_display = ["code", "name", "market", "kind", "substation"]
    list_filter = ["market", "kind"]
    search_fields = ["code", "name"]
    raw_id_fields = ["substation"]


@admin.register(NodalPrice)
class NodalPriceAdmin(admin.ModelAdmin):
    """Nodal prices (imported with ``import_prices``, computed by ``compute_lmps``)."""

    list_display = ["node", "run", "interval_start", "interval_end", "lmp_per_mwh",
                    "energy_per_mwh", "congestion_per_mwh", "loss_per_mwh", "version",
                    "is_current"]
    list_filter = ["run", ("node__market", admin.RelatedOnlyFieldListFilter), "is_current",
                   "source"]
    search_fields = ["node__code", "node__name"]
    autocomplete_fields = ["node"]
    list_select_related = ["node__market"]
    show_full_result_count = False  # series are long: no second COUNT(*) per page
    ordering = ["-interval_start", "node_id"]


@admin.register(CarbonIntensity)
class CarbonIntensityAdmin(admin.ModelAdmin):
    """Carbon-intensity series of zones and nodes (imported with ``import_carbon``)."""

    list_display = ["zone", "node", "interval_start", "interval_end", "average_g_per_kwh",
                    "marginal_g_per_kwh", "is_forecast", "source"]
    list_filter = ["zone", "is_forecast", "source",
                   ("node__market", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["zone", "node__code"]
    raw_id_fields = ["node"]
    show_full_result_count = False
    ordering = ["zone", "-interval_start"]
