from django.apps import AppConfig


class TwinConfig(AppConfig):
    name = "twin"
    verbose_name = "Grid twin"

    def ready(self) -> None:
        # Register the twin's job kinds (other apps register theirs in their own ready()).
        from twin.services import diagnostics, quality  # noqa: F401
