from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TwinConfig(AppConfig):
    name = "twin"
    verbose_name = "Grid twin"

    def ready(self) -> None:
        # Register the twin's job kinds (other apps register theirs in their own ready()).
        from twin.services import (  # noqa: F401
            afdc,
            carbon,
            diagnostics,
            forward,
            grid_models,
            gridkit,
            layers,
            opf,
            osm_import,
            overlays,
            prices,
            quality,
        )
        from twin.services.roles import ensure_roles

        post_migrate.connect(ensure_roles, dispatch_uid="twin.ensure_roles")
