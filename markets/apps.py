from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "markets"
    role_permissions = True  # operators write, field crews and partners read (twin.services.roles)
    verbose_name = "Markets and prices"

    def ready(self) -> None:
        from markets import job_kinds, signals

        job_kinds.register()
        signals.connect()
