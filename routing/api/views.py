"""API views of the routing app: thin viewsets over the models and the routing services.

A flight plan is requested with ``POST /api/v1/flight-plans/``: everything that can be checked
without solving is checked at once (400 with a message, nothing written), then the plan is
computed by the ``routing.plan_flights`` job (202 with the job and where the plan will be).
"""

from __future__ import annotations

import io
import json
import zipfile

from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from routing import filtersets
from routing.api import serializers
from routing.models import Drone, DronePort, Flight, FlightGraph, FlightPlan, NoFlyZone
from routing.services import exports
from routing.services.graph import check_graph_job_parameters, region_osm_file
from routing.services.planning import plan_flights_from_parameters
from twin.api.pagination import ListPagination
from twin.api.serializers import JobSerializer
from twin.jobs import JobParameterError, submit_job
from twin.models import Job, JobStatus, Region

EXPORT_TYPES = {  # format: (content type, file suffix)
    "plan": ("application/json", "plan"),
    "waypoints": ("text/plain; charset=utf-8", "waypoints"),
    "kml": ("application/vnd.google-earth.kml+xml", "kml"),
    "geojson": ("application/geo+json", "geojson"),
}


def _bad(message: str) -> Response:
    return Response({"message": message}, status=status.HTTP_400_BAD_REQUEST)


def _job_body(job: Job, request) -> dict:
    body = JobSerializer(job).data
    body["url"] = request.build_absolute_uri(reverse("job-detail", args=[job.pk]))
    return body


class NoFlyZoneViewSet(viewsets.ModelViewSet):
    """No-fly zones (GeoJSON): imported from OSM, or drawn and uploaded by operators."""

    queryset = NoFlyZone.objects.select_related("region")
    serializer_class = serializers.NoFlyZoneSerializer
    filterset_class = filtersets.NoFlyZoneFilterSet
    search_fields = ["name", "source_id"]
    ordering_fields = ["name", "kind", "id"]


class DroneViewSet(viewsets.ModelViewSet):
    """Drone types: range, speeds, hover time per target, altitudes."""

    queryset = Drone.objects.all()
    serializer_class = serializers.DroneSerializer
    pagination_class = ListPagination
    filterset_class = filtersets.DroneFilterSet
    search_fields = ["name"]
    ordering_fields = ["name", "range_m", "id"]


class DronePortViewSet(viewsets.ModelViewSet):
    """Drone ports (GeoJSON points): at substations or anywhere outside no-fly zones."""

    queryset = DronePort.objects.select_related("region", "substation", "drone")
    serializer_class = serializers.DronePortSerializer
    filterset_class = filtersets.DronePortFilterSet
    search_fields = ["name"]
    ordering_fields = ["name", "capacity", "id"]


class FlightGraphViewSet(viewsets.ReadOnlyModelViewSet):
    """The regions' cached flight graphs; ``POST build/`` builds (or reuses) one as a job."""

    queryset = FlightGraph.objects.select_related("region")
    serializer_class = serializers.FlightGraphSerializer
    pagination_class = ListPagination
    filterset_class = filtersets.FlightGraphFilterSet
    ordering_fields = ["built_at", "id"]

    @extend_schema(request=serializers.FlightGraphBuildSerializer, responses={202: JobSerializer})
    @action(detail=False, methods=["post"])
    def build(self, request):
        """Build the flight graph of a region (roads + power-line corridors) as a background job."""
        form = serializers.FlightGraphBuildSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        region = Region.objects.filter(name__iexact=data["region"]).first()
        if region is None:
            known = ", ".join(Region.objects.values_list("name", flat=True)) or "none"
            return _bad(f"region: unknown region {data['region']!r} (known: {known})")
        parameters = {"region": region.name, "options": data["options"], "force": data["force"],
                      "import_no_fly": data["import_no_fly"]}
        if data["no_fly"]:
            parameters["no_fly"] = data["no_fly"]
        try:
            parameters = check_graph_job_parameters(parameters)
            region_osm_file(region)
            job = submit_job("routing.build_flight_graph", parameters, user=request.user)
        except JobParameterError as exc:
            return _bad(str(exc))
        return Response(_job_body(job, request), status=status.HTTP_202_ACCEPTED)


class ExportNegotiation(BaseContentNegotiation):
    """Exports are files: whatever the client accepts, the format comes from the URL."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


class FlightPlanViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Flight plans: request one (a job computes it), read it with its flights, export it."""

    queryset = (FlightPlan.objects.select_related("region", "created_by")
                .annotate(n_flights=Count("flights")).order_by("-created_at", "-id"))
    filterset_class = filtersets.FlightPlanFilterSet
    pagination_class = ListPagination
    search_fields = ["name"]
    ordering_fields = ["created_at", "total_length_m", "id"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("retrieve", "map", "latest", "latest_map", "of_job"):
            queryset = queryset.prefetch_related(
                Prefetch("flights", queryset=Flight.objects.order_by("sequence")), "ports")
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return serializers.FlightPlanRequestSerializer
        if self.action == "list":
            return serializers.FlightPlanListSerializer
        return serializers.FlightPlanSerializer

    @extend_schema(
        request=serializers.FlightPlanRequestSerializer,
        responses={202: inline_serializer("FlightPlanAccepted", {
            "job": JobSerializer(), "plan": inline_serializer("FlightPlanPending", {
                "id": drf_serializers.IntegerField(allow_null=True),
                "url": drf_serializers.URLField()}),
            "message": drf_serializers.CharField()}),
            400: OpenApiResponse(description="bad input: {\"message\": …}")},
    )
    def create(self, request, *args, **kwargs):
        """Plan flights: checked now (400 on bad input, nothing created), solved by a job (202)."""
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        parameters = form.job_parameters()
        try:
            check = plan_flights_from_parameters(parameters, check_only=True)
            job = submit_job("routing.plan_flights", parameters, user=request.user)
        except JobParameterError as exc:
            return _bad(str(exc))
        plan_url = request.build_absolute_uri(reverse("flightplan-of-job", args=[job.pk]))
        return Response({
            "job": _job_body(job, request),
            "plan": {"id": None, "url": plan_url},
            "message": (f"planning {check['targets']} target(s) with {check['drones']} drone(s) "
                        f"from {check['ports']} port(s) as job {job.pk}; the plan is at "
                        f"plan.url once the job has succeeded"),
        }, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: serializers.FlightPlanSerializer,
                              202: JobSerializer, 404: OpenApiResponse(description="no such plan")})
    @action(detail=False, methods=["get"], url_path=r"of-job/(?P<job_id>[0-9]+)")
    def of_job(self, request, job_id=None):
        """The plan a job made: 200 with the plan, 202 with the job while it runs, 404 if it failed."""
        job = get_object_or_404(Job, pk=job_id, kind="routing.plan_flights")
        plan = self.get_queryset().filter(job=job).first()
        if plan is not None:
            return Response(serializers.FlightPlanSerializer(plan, context={"request": request}).data)
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            return Response(_job_body(job, request), status=status.HTTP_202_ACCEPTED)
        return Response({"message": f"job {job.pk} {job.status}: no plan",
                         "error": job.error, "job": _job_body(job, request)},
                        status=status.HTTP_404_NOT_FOUND)

    @extend_schema(responses={200: serializers.FlightPlanSerializer})
    @action(detail=False, methods=["get"])
    def latest(self, request):
        """The newest plan (``?region=NAME`` narrows it); 404 when there is none."""
        plan = self.filter_queryset(self.get_queryset()).order_by("-created_at", "-id").first()
        if plan is None:
            return Response({"message": "no flight plan yet"}, status=status.HTTP_404_NOT_FOUND)
        return Response(serializers.FlightPlanSerializer(plan, context={"request": request}).data)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"], url_path="latest/map", url_name="latest-map")
    def latest_map(self, request):
        """The newest plan as the map's FeatureCollection (see ``map``); with no plan yet an
        empty one (``"plan": null``), so that the map's routes layer simply draws nothing."""
        plan = self.filter_queryset(self.get_queryset()).order_by("-created_at", "-id").first()
        body = (plan_map(plan, request) if plan is not None
                else {"type": "FeatureCollection", "features": [], "plan": None})
        return Response(body, content_type="application/geo+json")

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def map(self, request, pk=None):
        """The plan for maps: one GeoJSON FeatureCollection of its flights, ports and targets."""
        return Response(plan_map(self.get_object(), request),
                        content_type="application/geo+json")

    @extend_schema(
        parameters=[
            OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(EXPORT_TYPES)),
            OpenApiParameter("flight", int, description=(
                "plan/waypoints: the flight's sequence number; without it a plan of several "
                "flights gives a ZIP of one mission file per flight")),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def export(self, request, pk=None, fmt=None):
        """Download the plan for a ground station: a mission per flight as QGroundControl
        ``.plan`` or ``QGC WPL 110`` waypoints, or the whole plan as KML or GeoJSON. Routed in
        ``urls.py`` as ``flight-plans/{id}/export.{fmt}`` (no trailing slash: a file name)."""
        if fmt not in EXPORT_TYPES:
            return _bad(f"format: choose from {', '.join(EXPORT_TYPES)}")
        plan = self.get_object()
        content_type, suffix = EXPORT_TYPES[fmt]
        stem = f"flight-plan-{plan.pk}"
        if fmt == "kml":
            return _file(exports.plan_kml(plan), content_type, f"{stem}.kml")
        if fmt == "geojson":
            return _file(json.dumps(exports.plan_geojson(plan)), content_type, f"{stem}.geojson")
        render = ((lambda f: json.dumps(exports.qgc_plan(f), indent=2)) if fmt == "plan"
                  else exports.wpl_text)
        flights = list(plan.flights.select_related("plan").order_by("sequence"))
        wanted = request.query_params.get("flight")
        if wanted is not None:
            flights = [f for f in flights if str(f.sequence) == wanted.strip()]
            if not flights:
                return _bad(f"flight: plan {plan.pk} has no flight {wanted!r} "
                            f"(flights 1…{plan.flights.count()})")
        if not flights:
            return _bad(f"plan {plan.pk} has no flights to export")
        if len(flights) == 1:
            name = f"{stem}-flight-{flights[0].sequence:02d}.{suffix}"
            return _file(render(flights[0]), content_type, name)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for flight in flights:
                archive.writestr(f"flight-{flight.sequence:02d}.{suffix}", render(flight))
        return _file(buffer.getvalue(), "application/zip", f"{stem}-{suffix}.zip")


def _file(body: str | bytes, content_type: str, name: str) -> HttpResponse:
    return HttpResponse(body, content_type=content_type,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def plan_map(plan: FlightPlan, request=None) -> dict:
    """A plan as one GeoJSON FeatureCollection for the map: flights (``role: flight``, with
    ``color_index``), its ports (``role: port``) and its targets (``role: target``, with
    ``visited`` and, when skipped, the ``reason``)."""
    features = []
    links = serializers.export_links(plan, request)
    for flight in plan.flights.all():
        feature = serializers.FlightSerializer(flight).data
        feature["properties"].update(role="flight", plan_id=plan.pk, plan_name=str(plan),
                                     plan_exports=links, target_count=len(flight.targets))
        features.append(feature)
    for port in plan.ports.all():
        features.append({"type": "Feature", "id": None,
                         "geometry": {"type": "Point", "coordinates": list(port.location.coords)},
                         "properties": {"role": "port", "port_id": port.pk, "name": port.name,
                                        "capacity": port.capacity}})
    skipped = {s["target"]: s["reason"] for s in plan.skipped}
    order = {key: (f.sequence, n + 1) for f in plan.flights.all() for n, key in enumerate(f.targets)}
    for target in plan.targets:
        key = target["target"]
        props = {"role": "target", "target": key, "kind": target.get("kind"),
                 "name": target.get("name", ""), "visited": key in order}
        if key in order:
            props.update(flight=order[key][0], stop=order[key][1])
        if key in skipped:
            props["reason"] = skipped[key]
        features.append({"type": "Feature", "id": None, "properties": props,
                         "geometry": {"type": "Point", "coordinates": [target["lon"], target["lat"]]}})
    return {"type": "FeatureCollection", "features": features,
            "plan": {"id": plan.pk, "name": str(plan), "status": plan.status,
                     "total_length_m": plan.total_length_m, "total_duration_s": plan.total_duration_s,
                     "extra_flights_needed": plan.extra_flights_needed,
                     "skipped": len(plan.skipped), "exports": links}}
