from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TwinConfig(AppConfig):
    name = "twin"
    role_permissions = True  # operators write, field crews and partners read (twin.services.roles)
    verbose_name = "Grid twin"

    def ready(self) -> None:
        from twin import job_kinds
        from twin.services.roles import ensure_roles

        job_kinds.register()
        post_migrate.connect(ensure_roles, dispatch_uid="twin.ensure_roles")
