"""Filter sets of the markets API (``<Model>FilterSet``, django-filter)."""

from __future__ import annotations

import django_filters as filters

from markets.models import PricingNode, PricingNodeKind
from twin.filtersets import GeoFilterSet


class PricingNodeFilterSet(GeoFilterSet):
    market = filters.CharFilter(field_name="market__name", lookup_expr="iexact")
    kind = filters.MultipleChoiceFilter(choices=PricingNodeKind.choices)

    class Meta:
        model = PricingNode
        fields = ["market", "code", "kind", "substation"]
