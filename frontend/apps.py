from django.apps import AppConfig


class FrontendConfig(AppConfig):
    """The field crews' map: MapLibre GL JS served by Django, a client of the API and tiles only."""

    name = "frontend"
    verbose_name = "Field map"
