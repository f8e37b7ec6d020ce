"""Routes of the routing API, mounted under ``/api/v1/`` next to the twin's.

A ``SimpleRouter`` (no root view of its own): the twin's router keeps ``/api/v1/`` as the API
root.
"""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from routing.api import views

router = SimpleRouter()
router.register("no-fly-zones", views.NoFlyZoneViewSet)
router.register("drones", views.DroneViewSet)
router.register("drone-ports", views.DronePortViewSet)
router.register("flight-graphs", views.FlightGraphViewSet)
router.register("flight-plans", views.FlightPlanViewSet)

export_view = views.FlightPlanViewSet.as_view(
    {"get": "export"}, content_negotiation_class=views.ExportNegotiation)

urlpatterns = [
    path("flight-plans/<int:pk>/export.<str:fmt>", export_view, name="flightplan-export"),
    path("", include(router.urls)),
]
