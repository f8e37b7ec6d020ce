"""Uploading source files over the API and the admin, imported by a job on a real worker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from config.settings import ENVIRONMENT_VARIABLES
from tests.conftest import REPO
from tests.twin.test_jobs import finished, wait_for
from twin.models import Job, Line, Region, Support

DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.mark.worker
def test_upload_osm_extract_imports_on_a_worker(start_worker, operator_client):
    start_worker()  # uploads land in MEDIA_ROOT/imports, the only place import jobs read from
    r = operator_client.post("/api/v1/imports/", {
        "file": upload(DEMO.name, DEMO.read_bytes()), "source": "osm", "region": "li"},
        format="multipart")
    assert r.status_code == 202, r.content
    job = wait_for(r.json()["id"], operator_client, finished, timeout_s=120)[-1]
    assert job["status"] == "succeeded", job
    assert job["kind"] == "twin.import_osm"
    assert job["result"]["counts"]["line"]["created"] == 15
    assert Line.objects.filter(region__name="li").count() == 15
    assert Support.objects.count() == 186
    feature = operator_client.get("/api/v1/lines/?region=li&voltage_kv_min=220").json()
    assert feature["count"] == 1 and feature["features"][0]["properties"]["region"] == "li"

    # a truncated upload fails with the reader's message, and nothing more is written
    r = operator_client.post("/api/v1/imports/", {
        "file": upload("broken.osm.pbf", DEMO.read_bytes()[:100_000]), "source": "osm",
        "region": "broken"}, format="multipart")
    job = wait_for(r.json()["id"], operator_client, finished, timeout_s=60)[-1]
    assert job["status"] == "failed" and "could not read the OSM file" in job["error"]
    assert "Traceback" not in job["error"]
    assert not Region.objects.filter(name="broken").exists()
    for done in Job.objects.all():
        shutil.rmtree(Path(done.parameters["path"]).parent)


@pytest.mark.django_db
def test_import_jobs_read_only_from_the_import_folders(operator_client):
    r = operator_client.post("/api/v1/jobs/", {"kind": "twin.import_osm",
                                               "parameters": {"path": "/etc/passwd"}}, format="json")
    assert r.status_code == 202  # queued; the worker refuses the path
    from twin.jobs import execute_job

    assert execute_job(r.json()["id"], 1) == "failed"
    job = Job.objects.get()
    assert "path must be inside" in job.error and "Traceback" not in job.error


def test_the_import_folders_come_from_gridtwin_import_dirs(tmp_path):
    """``GRIDTWIN_IMPORT_DIRS`` names the folders jobs may read besides the media folder (where
    uploads land); it replaces the default ``data/``, and nothing else becomes readable."""
    osm = tmp_path / "srv" / "osm"
    osm.mkdir(parents=True)
    script = textwrap.dedent("""
        import json, sys

        import django

        django.setup()
        from django.conf import settings

        from twin.jobs import JobParameterError
        from twin.ingest.base import import_job_path

        def check(path):
            try:
                return str(import_job_path(path))
            except JobParameterError as exc:
                return "refused: " + str(exc)

        print(json.dumps({"roots": [str(root) for root in settings.IMPORT_ROOTS],
                          "paths": [check(path) for path in sys.argv[1:]]}))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", GRIDTWIN_VAR_DIR=str(tmp_path / "var"),
               GRIDTWIN_IMPORT_DIRS=f"{osm}:extra, ")
    paths = [f"{osm}/andorra.osm.pbf", "imports/upload/a.osm", f"{REPO}/extra/b.osm", str(DEMO),
             "/etc/passwd", f"{osm}/../../../../etc/passwd"]
    done = subprocess.run([sys.executable, "-c", script, *paths], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    media = tmp_path / "var" / "media"
    assert answer["roots"] == [str(media), str(osm), str(REPO / "extra")]
    assert answer["paths"][:3] == [f"{osm}/andorra.osm.pbf", f"{media}/imports/upload/a.osm",
                                   f"{REPO}/extra/b.osm"]
    for refused in answer["paths"][3:]:  # data/ is no import folder any more, /etc never
        assert refused.startswith("refused: path must be inside"), refused


@pytest.mark.django_db
def test_upload_bad_requests(operator_client, crew_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    r = operator_client.post("/api/v1/imports/", {"source": "osm"}, format="multipart")
    assert r.status_code == 400 and "file" in r.json()["errors"]
    r = operator_client.post("/api/v1/imports/", {"file": upload("a.osm", b"<osm/>"),
                                                  "source": "shapefile-ish"}, format="multipart")
    assert r.status_code == 400 and "source" in r.json()["errors"]
    r = crew_client.post("/api/v1/imports/", {"file": upload("a.osm", b"<osm/>"), "source": "osm"},
                         format="multipart")
    assert r.status_code == 403
    settings.IMPORT_MAX_UPLOAD_MB = 0
    r = operator_client.post("/api/v1/imports/", {"file": upload("a.osm", b"<osm/>"),
                                                  "source": "osm"}, format="multipart")
    assert r.status_code == 413 and "limit is 0 MB" in r.json()["message"]
    assert Job.objects.count() == 0
    assert not list(tmp_path.rglob("*.osm"))


@pytest.mark.django_db
def test_admin_import_page(admin_user_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    page = admin_user_client.get("/admin/twin/region/")
    assert page.status_code == 200 and "/admin/twin/region/import/" in page.content.decode()
    form = admin_user_client.get("/admin/twin/region/import/")
    assert form.status_code == 200 and 'value="osm"' in form.content.decode()
    r = admin_user_client.post("/admin/twin/region/import/", {
        "file": upload("schaan.osm", b"<osm version='0.6'/>"), "source": "osm",
        "region": "schaan", "options": "{}"})
    job = Job.objects.get()
    assert r.status_code == 302 and r["Location"].endswith(f"/admin/twin/job/{job.pk}/change/")
    assert job.kind == "twin.import_osm" and job.parameters["region"] == "schaan"
    assert (tmp_path / "imports").exists() and job.parameters["path"].startswith(str(tmp_path))


@pytest.mark.django_db
def test_export_and_reimport_a_zipped_shapefile_over_the_api(operator_client, crew_client,
                                                             settings, tmp_path):
    """Field data round trip: export lines as GeoJSON, turn them into a zipped Shapefile in a
    projected CRS, upload it as a layer import, and get the same lines back."""
    import zipfile

    import geopandas as gpd

    from twin.ingest.osm import import_osm
    from twin.jobs import execute_job

    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_ROOTS = [tmp_path]
    import_osm(DEMO, region_name="li")
    r = crew_client.get("/api/v1/exports/line.geojson?region=li")
    assert r.status_code == 200 and r["Content-Type"] == "application/geo+json"
    assert 'filename="lines.geojson"' in r["Content-Disposition"]
    exported = tmp_path / "lines.geojson"
    exported.write_bytes(r.content)
    frame = gpd.read_file(exported)
    assert len(frame) == 15
    frame = frame[["source_id", "name", "kind", "voltages_kv", "geometry"]].to_crs(2056)
    frame = frame.rename(columns={"voltages_kv": "VOLT_KV"})  # Shapefiles cut names at 10
    frame["source_id"] = "shp:" + frame["source_id"]
    frame.to_file(tmp_path / "lines.shp")
    with zipfile.ZipFile(tmp_path / "lines.zip", "w") as archive:
        for part in tmp_path.glob("lines.*"):
            if part.suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                archive.write(part, part.name)
    r = operator_client.post("/api/v1/imports/", {
        "file": upload("lines.zip", (tmp_path / "lines.zip").read_bytes()), "source": "layer",
        "region": "shp",
        "options": '{"kind": "line", "mapping": {"voltages_kv": "VOLT_KV"}}'}, format="multipart")
    assert r.status_code == 202, r.content
    assert execute_job(r.json()["id"], 1) == "succeeded", Job.objects.get().error
    report = Job.objects.get().result
    assert report["counts"]["line"]["created"] == 15 and report["crs"] == "EPSG:2056"
    original = Line.objects.get(source_id="osm:way/365562192")
    copy = Line.objects.get(source_id="shp:osm:way/365562192")
    assert copy.voltages_kv == [220.0] and copy.geometry.equals_exact(original.geometry, 1e-6)
    assert crew_client.get("/api/v1/exports/line.shp").status_code == 400
    assert crew_client.get("/api/v1/exports/pylon.gpkg").status_code == 400
    assert APIClient().get("/api/v1/exports/line.gpkg").status_code == 401


@pytest.mark.django_db
def test_regions_endpoint_lists_imported_regions(crew_client):
    from twin.ingest.osm import import_osm

    import_osm(DEMO, region_name="liechtenstein")
    body = crew_client.get("/api/v1/regions/").json()
    assert body["type"] == "FeatureCollection" and body["count"] == 1
    region = body["features"][0]
    assert region["properties"]["name"] == "liechtenstein"
    assert region["properties"]["source_file"].startswith("regions/liechtenstein-")  # its copy
    assert region["properties"]["source_file"].endswith(f"-{DEMO.name}")
    xs = [x for ring in region["geometry"]["coordinates"][0] for x, _ in ring]
    assert min(xs) == pytest.approx(9.471078) and max(xs) == pytest.approx(9.636217)
    assert crew_client.post("/api/v1/regions/", {}).status_code == 403  # read-only for crews
