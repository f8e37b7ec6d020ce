"""The map page's server side: login required (with a login page field crews can use), the
configuration handed to the JavaScript, the import map, and MapLibre served by the app."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]


def page_config(response) -> dict:
    match = re.search(rb'<script id="gridtwin-config" type="application/json">(.*?)</script>',
                      response.content, re.S)
    assert match, "no json_script config in the page"
    return json.loads(match.group(1))


def import_map(response) -> dict:
    match = re.search(rb'<script type="importmap">(.*?)</script>', response.content, re.S)
    assert match, "no import map in the page"
    return json.loads(match.group(1))


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/map/")
    assert response.status_code == 302
    assert response["Location"] == "/map/login/?next=/map/"
    login = client.get(response["Location"])
    assert login.status_code == 200
    assert b'name="username"' in login.content and b'name="next" value="/map/"' in login.content


def test_field_crew_signs_in_through_the_map_login(crew):
    """The admin's login accepts staff only; field crews sign in on the map's own page."""
    client = Client()
    assert not crew.is_staff
    bad = client.post("/map/login/", {"username": crew.username, "password": "wrong", "next": "/map/"})
    assert bad.status_code == 200 and b"didn't match" in bad.content
    response = client.post("/map/login/", {"username": crew.username, "password": "pw-" + crew.username,
                                            "next": "/map/"})
    assert response.status_code == 302 and response["Location"] == "/map/"
    assert client.get("/map/").status_code == 200
    assert client.post("/map/logout/").status_code == 302
    assert client.get("/map/").status_code == 302


def test_login_page_sends_signed_in_users_to_the_map(client, crew):
    client.force_login(crew)
    response = client.get("/map/login/")
    assert response.status_code == 302 and response["Location"] == "/map/"


def test_map_page_config_for_a_field_crew(client, crew, settings):
    settings.MAP_BASEMAP_STYLE_URL = ""
    client.force_login(crew)
    response = client.get("/map/")
    assert response.status_code == 200
    config = page_config(response)
    assert config["tileUrl"] == "/tiles/{layer}/{z}/{x}/{y}.mvt"
    assert config["apiUrls"]["substation"] == "/api/v1/substations/"
    assert config["apiUrls"]["job"] == "/api/v1/jobs/"
    assert config["basemapStyleUrl"] == ""
    assert config["bounds"] == [9.47, 47.05, 9.64, 47.27]
    assert config["user"] == {"username": crew.username, "isStaff": False}
    assert config["historyUrls"] == {} and config["adminUrl"] is None  # no console for crews
    assert "OpenStreetMap contributors" in config["attribution"]
    assert config["csrfToken"]
    # No CDN: every script and stylesheet of the page comes from the app's static files.
    assert not re.search(rb'(src|href)="(https?:)?//', response.content)


def test_map_page_config_for_staff_and_basemap_setting(admin_user_client, settings):
    settings.MAP_BASEMAP_STYLE_URL = "https://tiles.example.org/style.json"
    config = page_config(admin_user_client.get("/map/"))
    assert config["basemapStyleUrl"] == "https://tiles.example.org/style.json"
    assert config["historyUrls"]["substation"] == "/admin/twin/substation/{id}/history/"
    assert config["historyUrls"]["line"] == "/admin/twin/line/{id}/history/"
    assert config["user"]["isStaff"] is True


def test_import_map_points_at_served_modules(client, crew):
    client.force_login(crew)
    response = client.get("/map/")
    imports = import_map(response)["imports"]
    assert imports["maplibre-gl"] == "/static/vendor/maplibre-gl/maplibre-gl.mjs"
    for module in ("map.js", "registry.js", "panel.js", "search.js", "jobs.js", "layers/grid.js",
                   "layers/basemap.js", "layers/index.js"):
        assert f"/static/frontend/js/{module}" in imports
    for url in [*imports.values(), "/static/vendor/maplibre-gl/maplibre-gl-worker.mjs",
                "/static/vendor/maplibre-gl/maplibre-gl.css", "/static/frontend/css/map.css"]:
        served = client.get(url)
        assert served.status_code == 200, url
        if url.endswith(("js", ".mjs")):
            assert served["Content-Type"].startswith("text/javascript"), url
