"""API views of the twin: thin viewsets over the models, filters and serializers."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.db.models import Prefetch
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from twin import filtersets
from twin.api import serializers
from twin.api.pagination import ListPagination
from twin.ingest.uploads import UploadTooLarge, import_sources, submit_import
from twin.jobs import JobParameterError, cancel_job, submit_job
from twin.models import EVSE, Charger, Job, Line, Region, Substation, Support
from twin.services.exports import ExportFailed, export_layer

ASSET_SEARCH = ["name", "ref", "operator", "source_id"]


class SubstationViewSet(viewsets.ModelViewSet):
    queryset = Substation.objects.select_related("region")
    serializer_class = serializers.SubstationSerializer
    filterset_class = filtersets.SubstationFilterSet
    search_fields = ASSET_SEARCH
    ordering_fields = ["name", "voltage_kv", "condition_score", "criticality", "id"]


class LineViewSet(viewsets.ModelViewSet):
    queryset = Line.objects.select_related("region")
    serializer_class = serializers.LineSerializer
    filterset_class = filtersets.LineFilterSet
    search_fields = ASSET_SEARCH
    ordering_fields = ["name", "voltage_kv", "length_m", "condition_score", "criticality", "id"]


class SupportViewSet(viewsets.ModelViewSet):
    queryset = Support.objects.select_related("region").prefetch_related("lines")
    serializer_class = serializers.SupportSerializer
    filterset_class = filtersets.SupportFilterSet
    search_fields = ASSET_SEARCH
    ordering_fields = ["ref", "height_m", "condition_score", "criticality", "id"]


class ChargerViewSet(viewsets.ModelViewSet):
    queryset = Charger.objects.select_related("region").prefetch_related(
        Prefetch("evses", queryset=EVSE.objects.prefetch_related("connectors"))
    )
    serializer_class = serializers.ChargerSerializer
    filterset_class = filtersets.ChargerFilterSet
    search_fields = [*ASSET_SEARCH, "network", "address", "city"]
    ordering_fields = ["name", "status", "id"]


class RegionViewSet(viewsets.ReadOnlyModelViewSet):
    """Imported regions (created by imports, see ``/api/v1/imports/``)."""

    queryset = Region.objects.all()
    serializer_class = serializers.RegionSerializer
    search_fields = ["name"]
    filterset_fields = ["name"]


class JobViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Background jobs: submit one (``kind`` + ``parameters``), poll its status and progress.

    Operators (``twin.change_job``) see every job; other users see their own.
    """

    serializer_class = serializers.JobSerializer
    pagination_class = ListPagination
    filterset_fields = ["kind", "status"]
    ordering_fields = ["created_at", "id"]

    def get_queryset(self):
        jobs = Job.objects.select_related("created_by")
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return jobs.none()
        user = self.request.user
        return jobs if user.has_perm("twin.change_job") else jobs.filter(created_by=user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = submit_job(serializer.validated_data["kind"],
                             serializer.validated_data.get("parameters", {}), user=request.user)
        except JobParameterError as exc:
            return Response({"message": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a queued or running job (409 when it has already finished)."""
        job = self.get_object()
        if not request.user.has_perm("twin.change_job") and job.created_by_id != request.user.pk:
            return Response({"message": "only operators cancel others' jobs"}, status=403)
        if not cancel_job(job):
            return Response({"message": f"job already {job.status}"}, status=409)
        job.refresh_from_db()
        return Response(self.get_serializer(job).data)


class ImportUploadSerializer(drf_serializers.Serializer):
    file = drf_serializers.FileField()
    source = drf_serializers.ChoiceField(choices=[])
    region = drf_serializers.CharField(required=False, allow_blank=True, max_length=100)
    strict = drf_serializers.BooleanField(required=False, default=False)
    options = drf_serializers.JSONField(required=False, default=dict,
                                        help_text="source-specific options, e.g. {\"kind\": \"line\"}")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = import_sources()

    def validate_options(self, value):
        if not isinstance(value, dict):
            raise drf_serializers.ValidationError("options must be a JSON object")
        return value


class ImportUploadView(APIView):
    """Upload a source file (OSM extract, GIS layer, …) and import it as a background job."""

    parser_classes = [MultiPartParser, FormParser]
    serializer_class = ImportUploadSerializer
    queryset = Job.objects.none()  # operators only: needs twin.add_job

    @extend_schema(request=ImportUploadSerializer, responses={202: serializers.JobSerializer})
    def post(self, request):
        form = ImportUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            job = submit_import(data["file"], data["source"], user=request.user,
                                region=data.get("region", ""), strict=data["strict"],
                                options=data["options"])
        except UploadTooLarge as exc:
            return Response({"message": f"file: {exc}"}, status=413)
        except JobParameterError as exc:
            return Response({"message": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(serializers.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


EXPORT_TYPES = {"gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json",
                "fgb": "application/vnd.flatgeobuf", "csv": "text/csv"}


class ExportView(APIView):
    """Download the twin's current assets of one kind as a GIS file (EPSG:4326).

    ``GET /api/v1/exports/{kind}.{format}`` with kind ``substation|line|support|charger`` and
    format ``gpkg|geojson|fgb|csv``; ``?region=NAME`` narrows to one region.
    """

    queryset = Substation.objects.none()  # reads: any signed-in user

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, kind: str, fmt: str):
        if fmt not in EXPORT_TYPES:
            return Response({"message": f"format: choose from {', '.join(EXPORT_TYPES)}"},
                            status=status.HTTP_400_BAD_REQUEST)
        name = f"{kind}s.{fmt}"
        with tempfile.TemporaryDirectory() as folder:
            try:
                export_layer(kind, Path(folder) / name,
                             region_name=request.query_params.get("region") or None)
            except ExportFailed as exc:
                return Response({"message": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
            body = (Path(folder) / name).read_bytes()
        return HttpResponse(body, content_type=EXPORT_TYPES[fmt],
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
