from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Drone routing"

    def ready(self) -> None:
        # Register the job kinds routing.build_flight_graph and routing.plan_flights.
        from routing import tasks  # noqa: F401
