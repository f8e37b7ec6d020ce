"""The routing app's REST API under ``/api/v1/``: no-fly zones, drones, drone ports, flight
graphs and flight plans (see :mod:`routing.api.views`)."""
