"""The project's URLs plus the field map, for the front end's tests until ``config/urls.py``
mounts it (``path("map/", include("frontend.urls"))``); then this adds nothing."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

_mounted = any(getattr(pattern, "namespace", None) == "frontend" for pattern in project_urlpatterns)

urlpatterns = [*project_urlpatterns]
if not _mounted:
    urlpatterns.append(path("map/", include("frontend.urls")))
