"""Shared fixtures: users in each role and the real Liechtenstein grid (OSM, ODbL) as test data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from twin.ingest.osm_tags import parse_voltages_kv
from twin.models import EVSE, Charger, Connector, Line, Substation, Support

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config):
    """Serve static files without the collectstatic manifest (tests don't build assets)."""
    from django.conf import settings

    settings.WHITENOISE_USE_FINDERS = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def load_features() -> list[dict]:
    """The Liechtenstein power features (see tests/fixtures/README.md)."""
    return json.loads((FIXTURES / "liechtenstein_power.geojson").read_text())["features"]


def _asset_fields(props: dict) -> dict:
    tags = props["tags"]
    return {
        "name": tags.get("name", ""), "operator": tags.get("operator", ""),
        "ref": tags.get("ref", ""), "source": "osm", "source_id": props["source_id"],
        "tags": tags,
    }


def load_liechtenstein() -> dict[str, int]:
    """Create the twin's rows from the fixture; returns counts per kind."""
    by_node: dict[int, Support] = {}
    lines: list[tuple[Line, list[int]]] = []
    for feature in load_features():
        props, geom = feature["properties"], GEOSGeometry(json.dumps(feature["geometry"]), srid=4326)
        tags, fields = props["tags"], _asset_fields(props)
        if props["kind"] == "substation":
            footprint = geom if geom.geom_type == "MultiPolygon" else None
            Substation.objects.create(
                location=geom.point_on_surface if footprint else geom,
                footprint=MultiPolygon(*footprint) if footprint else None,
                voltages_kv=parse_voltages_kv(tags.get("voltage"))[0], **fields,
            )
        elif props["kind"] == "line":
            line = Line.objects.create(
                geometry=geom, kind=tags["power"].replace("minor_cable", "cable"),
                voltages_kv=parse_voltages_kv(tags.get("voltage"))[0],
                circuits=int(tags.get("circuits", "1").split(";")[0]), **fields,
            )
            lines.append((line, props["nodes"]))
        elif props["kind"] == "support":
            support = Support.objects.create(location=geom, kind=tags["power"], **fields)
            by_node[int(props["source_id"].rsplit("/", 1)[1])] = support
        elif props["kind"] == "charger":
            charger = Charger.objects.create(
                location=geom, network=tags.get("network", ""), access="public"
                if tags.get("access", "yes") in ("yes", "public") else "customers", **fields,
            )
            evse = EVSE.objects.create(charger=charger, uid="1")
            Connector.objects.create(evse=evse, standard="IEC_62196_T2", power_kw=22)
    for line, nodes in lines:
        line.supports.add(*[by_node[n] for n in nodes if n in by_node])
    return {
        "substation": Substation.objects.count(), "line": Line.objects.count(),
        "support": Support.objects.count(), "charger": Charger.objects.count(),
    }


@pytest.fixture(scope="session", autouse=True)
def end_stray_database_sessions(django_db_setup, django_db_blocker):
    """At the end of the run, before the test database is dropped, end the sessions that live
    servers' request threads left open (PostgreSQL refuses to drop a database in use)."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                               "datname = current_database() AND pid <> pg_backend_pid() "
                               "AND backend_type = 'client backend'")


@pytest.fixture
def twin_data(db) -> dict[str, int]:
    return load_liechtenstein()


@pytest.fixture(scope="module")
def shared_twin_data(django_db_setup, django_db_blocker) -> dict[str, int]:
    """The Liechtenstein grid loaded once for a module of read-only tests, removed afterwards."""
    with django_db_blocker.unblock():
        counts = load_liechtenstein()
    yield counts
    with django_db_blocker.unblock():
        for model in (Support, Line, Substation, Charger, EVSE, Connector):
            model.objects.all().delete()
            model.history.model.objects.all().delete()


def _user(username: str, group: str | None, **extra) -> User:
    user = User.objects.create_user(username, password="pw-" + username, **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator(db) -> User:
    return _user("olga-operator", "operators")


@pytest.fixture
def crew(db) -> User:
    return _user("fred-fieldcrew", "field-crew")


@pytest.fixture
def operator_client(operator) -> APIClient:
    client = APIClient()
    client.force_authenticate(operator)
    return client


@pytest.fixture
def crew_client(crew) -> APIClient:
    """A read-only user authenticating with a real API token, as a script would."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=crew).key}")
    return client


@pytest.fixture
def admin_user_client(db, client):
    admin = User.objects.create_superuser("ada-admin", password="pw-admin")
    client.force_login(admin)
    return client


class Worker:
    """A real Celery worker process on the test database and the configured broker."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
             "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle",
             f"--hostname=test-{uuid.uuid4().hex[:8]}@%h"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), as an OOM kill or crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        """Warm shutdown: TERM to the main process only; it stops its pool children itself."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def start_worker(transactional_db, tmp_path, settings):
    """Start real Celery workers that see this test's (committed) data; stopped afterwards."""
    from django.db import connection

    name = connection.settings_dict["NAME"]  # the test database, not the configured one
    if settings.EMBEDDED:
        db_url = f"spatialite:///{name}"
    else:
        db_url = urlunsplit(urlsplit(settings.DATABASE_URL)._replace(path=f"/{name}"))
    env = {**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "INFO"}
    workers: list[Worker] = []

    def start() -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
