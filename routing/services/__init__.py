"""Routing services: plain functions over networkx graphs, numpy arrays and querysets.

* :mod:`routing.services.graph` — ``build_flight_graph`` and its on-disk cache;
* :mod:`routing.services.airspace` — no-fly zones from OSM, edge removal;
* :mod:`routing.services.matrix` — the csgraph distance matrix and path reconstruction;
* :mod:`routing.services.targets` — inspection targets from twin objects or points;
* :mod:`routing.services.solver` — ``solve_routes`` (PyVRP) and the nearest-neighbour baseline;
* :mod:`routing.services.planning` — ``plan_flights``: the whole pipeline, writing a FlightPlan;
* :mod:`routing.services.exports` — QGC ``.plan``, ``QGC WPL 110``, KML, GeoJSON.
"""
