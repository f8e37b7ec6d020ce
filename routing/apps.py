from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    role_permissions = True  # operators write, field crews and partners read (twin.services.roles)
    verbose_name = "Drone routing"

    def ready(self) -> None:
        from routing import job_kinds

        job_kinds.register()
