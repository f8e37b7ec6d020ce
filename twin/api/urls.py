from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from twin.api import views
from twin.api.curves import ComputedPricesView, ForwardCurveView
from twin.api.overlays import PriceOverlayView
from twin.api.prices import (
    CarbonView,
    PriceAtView,
    PriceIntervalsView,
    PriceNodesView,
    PriceSeriesView,
)

router = DefaultRouter()
router.register("substations", views.SubstationViewSet)
router.register("lines", views.LineViewSet)
router.register("supports", views.SupportViewSet)
router.register("chargers", views.ChargerViewSet)
router.register("regions", views.RegionViewSet)
router.register("markets", views.MarketViewSet)
router.register("pricing-nodes", views.PricingNodeViewSet)
router.register("jobs", views.JobViewSet, basename="job")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("imports/", views.ImportUploadView.as_view(), name="api-imports"),
    path("exports/<str:kind>.<str:fmt>", views.ExportView.as_view(), name="api-export"),
    path("overlays/", PriceOverlayView.as_view(), name="api-overlays"),
    path("forward-curves/", ForwardCurveView.as_view(), name="api-forward-curves"),
    path("computed-prices/", ComputedPricesView.as_view(), name="api-computed-prices"),
    path("prices/nodes/", PriceNodesView.as_view(), name="api-prices-nodes"),
    path("prices/series/", PriceSeriesView.as_view(), name="api-prices-series"),
    path("prices/intervals/", PriceIntervalsView.as_view(), name="api-prices-intervals"),
    path("prices/at/", PriceAtView.as_view(), name="api-prices-at"),
    path("carbon/", CarbonView.as_view(), name="api-carbon"),
    path("", include(router.urls)),
]
