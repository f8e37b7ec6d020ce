from rest_framework_gis.pagination import GeoJsonPagination


class FeaturePagination(GeoJsonPagination):
    """A GeoJSON FeatureCollection page with ``count``, ``next`` and ``previous``."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
