"""The operators' console: every twin model in a GIS admin with map, filters, search and history.

The map widget is OpenLayers from the npm registry, served from the app's own static files
(``package.json`` → ``node_modules/ol``), never from a CDN.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.gis import admin as gis_admin
from django.contrib.gis.forms.widgets import OSMWidget
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from simple_history.admin import SimpleHistoryAdmin

from twin.ingest.uploads import import_sources, submit_import
from twin.jobs import JOB_KINDS, JobParameterError, cancel_job, submit_job
from twin.models import EVSE, Charger, Connector, Job, Line, Region, Substation, Support


class LocalOSMWidget(OSMWidget):
    """Django's OpenStreetMap widget with OpenLayers served by the app itself."""

    class Media:
        extend = False
        css = {"all": ("vendor/ol/ol.css", "gis/css/ol3.css")}
        js = ("vendor/ol/dist/ol.js", "gis/js/OLMapWidget.js")


class VoltageBandFilter(admin.SimpleListFilter):
    """Voltage bands as utilities speak of them (highest level of the asset)."""

    title = "voltage"
    parameter_name = "voltage_band"
    BANDS = {
        "ehv": ("extra-high (≥ 220 kV)", 220, None),
        "hv": ("high (60–219 kV)", 60, 220),
        "mv": ("medium (1–59 kV)", 1, 60),
        "lv": ("low (< 1 kV)", 0, 1),
        "unknown": ("unknown", None, None),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _, _) in self.BANDS.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.BANDS:
            return queryset
        if self.value() == "unknown":
            return queryset.filter(voltage_kv__isnull=True)
        _, low, high = self.BANDS[self.value()]
        queryset = queryset.filter(voltage_kv__gte=low)
        return queryset.filter(voltage_kv__lt=high) if high is not None else queryset


class ConditionFilter(admin.SimpleListFilter):
    title = "condition"
    parameter_name = "condition"
    BANDS = {"poor": ("poor (< 40)", 0, 40), "fair": ("fair (40–69)", 40, 70),
             "good": ("good (≥ 70)", 70, 101)}

    def lookups(self, request, model_admin):
        return [(k, label) for k, (label, _, _) in self.BANDS.items()] + [("none", "never assessed")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(condition_score__isnull=True)
        if self.value() in self.BANDS:
            _, low, high = self.BANDS[self.value()]
            return queryset.filter(condition_score__gte=low, condition_score__lt=high)
        return queryset


class MissingFilter(admin.SimpleListFilter):
    title = "in its source"
    parameter_name = "missing"

    def lookups(self, request, model_admin):
        return [("no", "present"), ("yes", "vanished from its source")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(missing_since__isnull=self.value() == "no")
        return queryset


class MapAdmin(SimpleHistoryAdmin, gis_admin.GISModelAdmin):
    """GIS admin with the local map widget, centred on the demo region, and change history."""

    gis_widget = LocalOSMWidget
    gis_widget_kwargs = {"attrs": {"default_lon": 9.52, "default_lat": 47.14, "default_zoom": 11}}


class TwinAdmin(MapAdmin):
    search_fields = ["name", "ref", "operator", "source_id"]
    list_per_page = 100
    readonly_fields = ["created_at", "updated_at", "missing_since"]

    def get_list_filter(self, request):
        return [*super().get_list_filter(request), "region", MissingFilter]


@admin.register(Substation)
class SubstationAdmin(TwinAdmin):
    list_display = ["name", "ref", "operator", "voltage_kv", "rating_mva", "condition_score",
                    "criticality", "source_id"]
    list_filter = [VoltageBandFilter, ConditionFilter, "criticality", "operator", "source"]


@admin.register(Line)
class LineAdmin(TwinAdmin):
    list_display = ["name", "ref", "kind", "voltage_kv", "circuits", "length_m", "operator",
                    "condition_score", "criticality"]
    list_filter = [VoltageBandFilter, "kind", ConditionFilter, "criticality", "operator", "source"]
    readonly_fields = [*TwinAdmin.readonly_fields, "voltage_kv", "length_m"]
    raw_id_fields = ["from_substation", "to_substation"]


@admin.register(Support)
class SupportAdmin(TwinAdmin):
    list_display = ["__str__", "kind", "height_m", "material", "operator", "condition_score",
                    "criticality"]
    list_filter = ["kind", ConditionFilter, "criticality", "material", "operator", "source"]
    raw_id_fields = ["lines"]


class ImportForm(forms.Form):
    file = forms.FileField(help_text="OSM extract (.osm.pbf, .osm, .osm.bz2), GIS layer, CSV …")
    source = forms.ChoiceField(choices=())
    region = forms.CharField(required=False, max_length=100,
                             help_text="Region name (default: from the file's name)")
    strict = forms.BooleanField(required=False,
                                help_text="Roll back everything on any skipped row or warning")
    options = forms.JSONField(required=False, initial=dict,
                              help_text='Source-specific options, e.g. {"kind": "line"} for a layer')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [(s, s) for s in import_sources()]


@admin.register(Region)
class RegionAdmin(MapAdmin):
    """Imported regions; "Import a file" uploads a source and runs its import as a job."""

    list_display = ["name", "source_file", "imported_at"]
    search_fields = ["name", "source_file"]
    readonly_fields = ["imported_at", "summary"]
    change_list_template = "admin/twin/region/change_list.html"

    def get_urls(self):
        return [path("import/", self.admin_site.admin_view(self.import_view), name="twin_import"),
                *super().get_urls()]

    def import_view(self, request):
        if not request.user.has_perm("twin.add_job"):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                job = submit_import(data["file"], data["source"], user=request.user,
                                    region=data["region"], strict=data["strict"],
                                    options=data["options"] or {})
            except JobParameterError as exc:
                form.add_error("file", str(exc))
            else:
                self.message_user(request, f"Import queued as job #{job.pk}", messages.SUCCESS)
                return redirect("admin:twin_job_change", job.pk)
        context = {**self.admin_site.each_context(request), "form": form,
                   "title": "Import a file", "opts": self.model._meta}
        return TemplateResponse(request, "admin/twin/region/import.html", context)


class ConnectorInline(admin.TabularInline):
    model = Connector
    extra = 0


@admin.register(EVSE)
class EVSEAdmin(SimpleHistoryAdmin):
    list_display = ["__str__", "status"]
    list_filter = ["status"]
    search_fields = ["uid", "charger__name"]
    raw_id_fields = ["charger"]
    inlines = [ConnectorInline]


class EVSEInline(admin.TabularInline):
    model = EVSE
    extra = 0
    show_change_link = True


@admin.register(Charger)
class ChargerAdmin(TwinAdmin):
    list_display = ["name", "operator", "network", "status", "access", "city", "source_id"]
    list_filter = ["status", "access", ConditionFilter, "network", "operator", "source"]
    search_fields = [*TwinAdmin.search_fields, "network", "address", "city"]
    inlines = [EVSEInline]


class JobForm(forms.ModelForm):
    """New jobs pick a registered kind; their parameters must be a JSON object."""

    kind = forms.ChoiceField(choices=())

    class Meta:
        model = Job
        fields = ["kind", "parameters"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, k) for k in sorted(JOB_KINDS)]

    def clean_parameters(self):
        value = self.cleaned_data["parameters"]
        if not isinstance(value, dict):
            raise forms.ValidationError("parameters must be a JSON object")
        return value


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    form = JobForm
    list_display = ["id", "kind", "status", "progress", "message", "created_by", "created_at",
                    "finished_at"]
    list_filter = ["status", "kind"]
    search_fields = ["kind", "message", "error"]
    readonly_fields = ["status", "progress", "message", "result", "error", "attempts",
                       "created_by", "created_at", "started_at", "heartbeat_at", "finished_at"]
    actions = ["run_again", "cancel"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        job = submit_job(obj.kind, obj.parameters, user=request.user)
        obj.pk = job.pk
        obj.refresh_from_db()

    @admin.action(description="Run the selected jobs again (as new jobs)")
    def run_again(self, request, queryset):
        for job in queryset:
            submit_job(job.kind, job.parameters, user=request.user)
        self.message_user(request, f"{queryset.count()} job(s) queued", messages.SUCCESS)

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset):
        cancelled = sum(cancel_job(job) for job in queryset)
        self.message_user(request, f"{cancelled} job(s) cancelled", messages.SUCCESS)
