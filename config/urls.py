from django.contrib import admin
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

# The operators' console is GridTwin's (config/templates/admin/base_site.html adds the links to
# the map and the API docs to its header).
admin.site.site_header = "GridTwin"
admin.site.site_title = "GridTwin admin"
admin.site.index_title = "GridTwin administration"
admin.site.site_url = "/map/"


def healthz(request):
    """Liveness and database check for load balancers and compose health checks."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("routing.api.urls")),
    path("api/v1/", include("markets.api.urls")),
    path("api/v1/", include("twin.api.urls")),
    path("tiles/", include("twin.tiles.middleware")),
    path("map/", include("frontend.urls")),
    path("", RedirectView.as_view(url="/map/", permanent=False)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
]
