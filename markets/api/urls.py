"""Routes of the markets API, mounted under ``/api/v1/`` next to the twin's.

A ``SimpleRouter`` (no root view of its own): the twin's router keeps ``/api/v1/`` as the API
root.
"""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from markets.api import views

router = SimpleRouter()
router.register("markets", views.MarketViewSet)
router.register("pricing-nodes", views.PricingNodeViewSet)

urlpatterns = [
    path("overlays/", views.PriceOverlayView.as_view(), name="api-overlays"),
    path("forward-curves/", views.ForwardCurveView.as_view(), name="api-forward-curves"),
    path("computed-prices/", views.ComputedPricesView.as_view(), name="api-computed-prices"),
    path("prices/nodes/", views.PriceNodesView.as_view(), name="api-prices-nodes"),
    path("prices/series/", views.PriceSeriesView.as_view(), name="api-prices-series"),
    path("prices/intervals/", views.PriceIntervalsView.as_view(), name="api-prices-intervals"),
    path("prices/at/", views.PriceAtView.as_view(), name="api-prices-at"),
    path("carbon/", views.CarbonView.as_view(), name="api-carbon"),
    path("", include(router.urls)),
]
