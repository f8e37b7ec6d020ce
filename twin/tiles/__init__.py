"""Vector tiles of the twin: :mod:`~twin.tiles.service` (layers, zoom rules, versions and the
PostGIS and Python encoders) and :mod:`~twin.tiles.middleware` (the HTTP endpoint and its hot
path)."""
