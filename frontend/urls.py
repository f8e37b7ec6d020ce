"""``/map/``: the field map, its login page and logout (mounted by ``config/urls.py``)."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from frontend import views

app_name = "frontend"

urlpatterns = [
    path("", views.map_view, name="map"),
    path("login/", auth_views.LoginView.as_view(
        template_name="frontend/login.html", redirect_authenticated_user=True,
        next_page=reverse_lazy("frontend:map")), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("frontend:login")),
         name="logout"),
]
