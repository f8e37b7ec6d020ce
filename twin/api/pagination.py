from django.core.paginator import Page, Paginator
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework_gis.pagination import GeoJsonPagination


class ListPagination(PageNumberPagination):
    """Pages of plain (non-geographic) resources: jobs, markets."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class FeaturePagination(GeoJsonPagination):
    """A GeoJSON FeatureCollection page with ``count``, ``next`` and ``previous``.

    Nearest-first queries (``near=``, which annotate ``distance`` and the window total
    ``total_count``) are paged in two steps, as one would by hand: a narrow query sorts only
    (id, distance, total) and cuts the page, then the page's rows are loaded with the view's
    prefetches. No separate ``COUNT(*)`` repeats the distance test.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        if "total_count" not in queryset.query.annotations:
            return super().paginate_queryset(queryset, request, view)
        page_size = self.get_page_size(request)
        try:
            number = int(request.query_params.get(self.page_query_param, 1))
        except ValueError:
            number = 0
        if number < 1:
            raise NotFound("Invalid page.")
        offset = (number - 1) * page_size
        hits = list(queryset.values_list("pk", "distance", "total_count")[offset : offset + page_size])
        if not hits and number > 1:
            raise NotFound("Invalid page.")
        base = view.get_queryset() if view is not None else queryset.model._default_manager.all()
        by_pk = base.in_bulk([pk for pk, _, _ in hits])
        rows = []
        for pk, distance, _ in hits:
            row = by_pk[pk]
            row.distance = distance
            rows.append(row)
        paginator = Paginator(rows, page_size)
        paginator.count = hits[0][2] if hits else 0
        self.request = request
        self.page = Page(rows, number, paginator)
        return rows
