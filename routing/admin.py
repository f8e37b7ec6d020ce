"""The operators' console for drone routing: airspace and ports on maps, drone types, the
cached flight graphs (rebuilt as jobs) and the flight plans with their flights and exports.

Map widgets are the twin's :class:`~twin.admin.LocalOSMWidget` (OpenLayers served by the app,
no CDN).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.gis import admin as gis_admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from routing.api.serializers import EXPORT_FORMATS, port_zone_message
from routing.models import Drone, DronePort, Flight, FlightGraph, FlightPlan, NoFlyZone
from twin.admin import LocalOSMWidget
from twin.jobs import JobParameterError, submit_job


class RoutingMapAdmin(gis_admin.GISModelAdmin):
    """GIS admin with the local map widget, centred on the demo region."""

    gis_widget = LocalOSMWidget
    gis_widget_kwargs = {"attrs": {"default_lon": 9.52, "default_lat": 47.14, "default_zoom": 11}}


@admin.register(NoFlyZone)
class NoFlyZoneAdmin(RoutingMapAdmin):
    list_display = ["__str__", "kind", "source", "floor_m", "ceiling_m", "buffer_m", "active",
                    "region"]
    list_filter = ["kind", "source", "active", "region"]
    search_fields = ["name", "source_id"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["activate", "deactivate"]

    @admin.action(description="Activate the selected zones")
    def activate(self, request, queryset):
        self.message_user(request, f"{queryset.update(active=True)} zone(s) activated",
                          messages.SUCCESS)

    @admin.action(description="Deactivate the selected zones")
    def deactivate(self, request, queryset):
        self.message_user(request, f"{queryset.update(active=False)} zone(s) deactivated",
                          messages.SUCCESS)


@admin.register(Drone)
class DroneAdmin(admin.ModelAdmin):
    list_display = ["name", "range_m", "reserve_fraction", "usable_range_m", "cruise_speed_mps",
                    "service_time_s", "cruise_altitude_m", "max_altitude_m"]
    search_fields = ["name"]

    @admin.display(description="usable range (m)")
    def usable_range_m(self, drone: Drone) -> float:
        return round(drone.usable_range_m, 1)


class DronePortForm(forms.ModelForm):
    """A port may not lie inside an active no-fly zone."""

    class Meta:
        model = DronePort
        fields = ["name", "region", "location", "substation", "drone", "capacity", "active"]

    def clean(self):
        data = super().clean()
        location = data.get("location")
        if location is not None and data.get("active", True):
            message = port_zone_message(location, data.get("drone"))
            if message:
                self.add_error("location", message)
        return data


@admin.register(DronePort)
class DronePortAdmin(RoutingMapAdmin):
    form = DronePortForm
    list_display = ["name", "region", "substation", "drone", "capacity", "active"]
    list_filter = ["active", "region", "drone"]
    search_fields = ["name", "substation__name"]
    raw_id_fields = ["substation"]


@admin.register(FlightGraph)
class FlightGraphAdmin(admin.ModelAdmin):
    """Cached graphs are made by the builder only; "rebuild" runs it again as a job."""

    list_display = ["__str__", "region", "node_count", "edge_count", "crs", "built_at"]
    list_filter = ["region"]
    readonly_fields = ["region", "inputs_digest", "path", "crs", "options", "node_count",
                       "edge_count", "stats", "built_at"]
    actions = ["rebuild"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Rebuild the selected graphs (as jobs)", permissions=["view"])
    def rebuild(self, request, queryset):
        if not request.user.has_perm("twin.add_job"):
            self.message_user(request, "only operators start jobs", messages.ERROR)
            return
        queued = []
        for graph in queryset.select_related("region"):
            try:
                job = submit_job("routing.build_flight_graph", {
                    "region": graph.region.name, "force": True,
                    "options": {k: v for k, v in graph.options.items() if v is not None}},
                    user=request.user)
            except JobParameterError as exc:
                self.message_user(request, f"{graph}: {exc}", messages.ERROR)
            else:
                queued.append(job.pk)
        if queued:
            self.message_user(request, f"rebuild queued as job(s) {', '.join(map(str, queued))}",
                              messages.SUCCESS)


class FlightInline(admin.TabularInline):
    model = Flight
    extra = 0
    can_delete = False
    fields = ["sequence", "port_name", "drone_number", "sortie", "length_m", "duration_s",
              "target_list"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="targets in order")
    def target_list(self, flight: Flight) -> str:
        return ", ".join(flight.targets)


@admin.register(FlightPlan)
class FlightPlanAdmin(RoutingMapAdmin):
    """Plans are made by the planner: shown read-only, their flights on the map (a disabled
    map widget), with the flights inline and links to the exports."""

    list_display = ["__str__", "region", "status", "flight_count", "total_length_km",
                    "extra_flights_needed", "skipped_count", "created_by", "created_at"]
    list_filter = ["status", "region"]
    search_fields = ["name"]
    inlines = [FlightInline]
    fields = ["name", "region", "status", "export_links", "geometry", "total_length_m",
              "total_duration_s", "usable_range_m", "extra_flights_needed", "skipped",
              "warnings", "drone", "drone_spec", "fleet", "options", "solver", "graph", "job",
              "created_by", "created_at"]
    readonly_fields = [f for f in fields if f != "geometry"]

    def has_add_permission(self, request):
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "geometry" in form.base_fields:
            form.base_fields["geometry"].disabled = True  # shown on the map, never edited
        return form

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_save": False,
                         "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Nothing to save: a plan is the planner's output."""

    @admin.display(description="flights")
    def flight_count(self, plan: FlightPlan) -> int:
        return plan.flights.count()

    @admin.display(description="total length (km)", ordering="total_length_m")
    def total_length_km(self, plan: FlightPlan) -> float:
        return round(plan.total_length_m / 1000, 2)

    @admin.display(description="skipped")
    def skipped_count(self, plan: FlightPlan) -> int:
        return len(plan.skipped)

    @admin.display(description="exports")
    def export_links(self, plan: FlightPlan) -> str:
        if plan.pk is None:
            return "-"
        return format_html_join(" · ", '<a href="{}" download>{}</a>', [
            (reverse("flightplan-export", kwargs={"pk": plan.pk, "fmt": fmt}), label)
            for fmt, label in zip(EXPORT_FORMATS, ("QGroundControl .plan", "QGC WPL 110 waypoints",
                                                   "KML", "GeoJSON"), strict=True)
        ]) + format_html(' · <a href="{}">API</a>', reverse("flightplan-detail", args=[plan.pk]))
