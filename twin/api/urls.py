from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from twin.api import views

router = DefaultRouter()
router.register("substations", views.SubstationViewSet)
router.register("lines", views.LineViewSet)
router.register("supports", views.SupportViewSet)
router.register("chargers", views.ChargerViewSet)
router.register("regions", views.RegionViewSet)
router.register("jobs", views.JobViewSet, basename="job")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("imports/", views.ImportUploadView.as_view(), name="api-imports"),
    path("exports/<str:kind>.<str:fmt>", views.ExportView.as_view(), name="api-export"),
    path("", include(router.urls)),
]
