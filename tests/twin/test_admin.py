"""The operators' console: every model's pages load, with filters, map widget and history."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from markets.models import Market, PricingNode
from twin.models import EVSE, Charger, Job, Line, Substation, Support

pytestmark = pytest.mark.django_db

MODELS = [Substation, Line, Support, Charger, EVSE, Market, PricingNode, Job]


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def every_model(twin_data, operator):
    market = Market.objects.create(name="CAISO", operator="California ISO", interval_min=15)
    PricingNode.objects.create(market=market, code="SCHAAN_16", kind="bus",
                               location=Substation.objects.get(name="Umspannwerk Schaan").location)
    Job.objects.create(kind="twin.check", created_by=operator)


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_changelist_change_and_history_pages(admin_user_client, every_model, model):
    assert model in admin.site._registry
    changelist = admin_user_client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    obj = model.objects.order_by("pk").first()
    assert str(obj.pk) in changelist.content.decode()
    change = admin_user_client.get(_url(model, "change", obj.pk))
    assert change.status_code == 200
    history = admin_user_client.get(_url(model, "history", obj.pk))
    assert history.status_code == 200
    assert admin_user_client.get(_url(model, "changelist") + "?q=Schaan").status_code == 200


def test_list_filters_and_search(admin_user_client, twin_data):
    url = _url(Line, "changelist")
    page = admin_user_client.get(url + "?voltage_band=ehv").content.decode()
    assert "1 line" in page  # only the 220 kV line is extra-high voltage
    page = admin_user_client.get(url + "?kind__exact=minor_line").content.decode()
    assert "4 lines" in page
    page = admin_user_client.get(_url(Substation, "changelist") + "?q=Schaan").content.decode()
    assert "Umspannwerk Schaan" in page and "Trafostation" not in page
    page = admin_user_client.get(_url(Support, "changelist") + "?kind__exact=pole").content.decode()
    assert "25 supports" in page


def test_history_shows_who_changed_what(admin_user_client, twin_data):
    substation = Substation.objects.get(name="Umspannwerk Schaan")
    r = admin_user_client.post(_url(Substation, "change", substation.pk), {
        "name": "Umspannwerk Schaan", "operator": "LKW", "ref": "", "location":
        substation.location.json, "voltages_kv": "[110, 16]", "rating_mva": "80",
        "condition_score": "64", "criticality": "5", "source": "osm",
        "source_id": substation.source_id, "tags": "{}", "commissioned": "",
    })
    assert r.status_code == 302, r.content.decode()[:2000]
    substation.refresh_from_db()
    assert substation.condition_score == 64 and substation.operator == "LKW"
    latest = substation.history.first()
    assert latest.history_user.username == "ada-admin" and latest.history_type == "~"
    delta = latest.diff_against(latest.prev_record)
    assert {c.field for c in delta.changes} >= {"operator", "condition_score", "rating_mva"}
    page = admin_user_client.get(_url(Substation, "history", substation.pk)).content.decode()
    assert "ada-admin" in page


def test_map_widget_is_served_locally(admin_user_client, twin_data):
    line = Line.objects.get(voltage_kv=220)
    html = admin_user_client.get(_url(Line, "change", line.pk)).content.decode()
    assert "/static/vendor/ol/dist/ol.js" in html and "/static/vendor/ol/ol.css" in html
    assert "jsdelivr" not in html and "cdn." not in html
    for asset in ("/static/vendor/ol/dist/ol.js", "/static/vendor/ol/ol.css",
                  "/static/gis/js/OLMapWidget.js"):
        response = admin_user_client.get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 1000


def test_admin_refuses_field_crew(client, crew):
    client.force_login(crew)
    r = client.get(_url(Line, "changelist"))
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_operator_starts_a_job_from_the_admin(admin_user_client):
    r = admin_user_client.post(_url(Job, "add"), {"kind": "twin.check", "parameters": "{}"})
    assert r.status_code == 302, r.content.decode()[:3000]
    job = Job.objects.get()  # queued; sent to the workers when the transaction commits
    assert (job.kind, job.status, job.created_by.username) == ("twin.check", "queued", "ada-admin")
    bad = admin_user_client.post(_url(Job, "add"), {"kind": "no.such", "parameters": "[]"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    assert Job.objects.count() == 1


def test_price_and_carbon_pages(admin_user_client, every_model):
    from datetime import UTC, datetime, timedelta

    from markets.models import CarbonIntensity, NodalPrice

    node = PricingNode.objects.get(code="SCHAAN_16")
    start = datetime(2022, 9, 1, 7, tzinfo=UTC)
    price = NodalPrice.objects.create(node=node, run="real-time", interval_start=start,
                                      interval_end=start + timedelta(minutes=15), lmp_per_mwh=81.2)
    carbon = CarbonIntensity.objects.create(zone="CISO", interval_start=start, source="eia930",
                                            interval_end=start + timedelta(hours=1),
                                            average_g_per_kwh=222.3)
    for obj, filters in ((price, "?run__exact=real-time&q=SCHAAN"), (carbon, "?q=CISO")):
        page = admin_user_client.get(_url(type(obj), "changelist") + filters)
        assert page.status_code == 200
        assert _url(type(obj), "change", obj.pk) in page.content.decode()
        assert admin_user_client.get(_url(type(obj), "change", obj.pk)).status_code == 200
    empty = admin_user_client.get(_url(NodalPrice, "changelist") + "?run__exact=day-ahead")
    assert _url(NodalPrice, "change", price.pk) not in empty.content.decode()


def test_the_console_is_gridtwins_with_links_to_the_map_and_the_api_docs(admin_user_client):
    page = admin_user_client.get("/admin/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Django administration" not in html and "Django site admin" not in html
    assert "<title>GridTwin administration | GridTwin admin</title>" in html
    assert '<div id="site-name"><a href="/admin/">GridTwin</a></div>' in html
    links = html[html.index('<nav id="gridtwin-links"'):]
    links = links[:links.index("</nav>")]
    assert '<a href="/map/">Map</a>' in links and '<a href="/api/docs/">API docs</a>' in links
    assert admin_user_client.get("/map/").status_code == 200  # where the links lead
    assert admin_user_client.get("/api/docs/").status_code == 200
    login = Client().get("/admin/login/")
    assert login.status_code == 200
    assert "GridTwin" in login.content.decode()
    assert "Django administration" not in login.content.decode()
