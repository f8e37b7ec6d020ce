"""The cache that several web processes share in production (``CACHE_URL``, Django's Redis
cache) on the test Redis (the server of ``CELERY_BROKER_URL``, in a database of its own).

A second web process is a real one: ``worker B``, a Python process with the same settings and
``CACHE_URL``, that signs a user out or deletes a token as a request to it would. The tiles
served here must honour that at their next request, and each process must see what the other
remembered. The rendered tiles are looked up in the process's memory first, then in Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import config.settings as project_settings
from tests.conftest import REPO
from twin.tiles import middleware as tile_http
from twin.tiles import service as tiles

REDIS_DB = 9  # the broker uses 0
Z8 = (8, 134, 89)  # all of Liechtenstein
NO_RULE_TILE = "/tiles/supports/8/134/89.mvt"  # no rule at z8: whatever is queried is the auth

# Worker B: reads "valid|logout|delete KIND VALUE" lines, answers one line each.
WORKER_B = textwrap.dedent("""
    import sys

    import django

    django.setup()
    from django.contrib.auth import get_user, logout
    from django.contrib.sessions.backends.db import SessionStore
    from django.http import HttpRequest
    from rest_framework.authtoken.models import Token

    from twin.tiles.middleware import credentials

    for line in sys.stdin:
        command, kind, value = line.split()
        if command == "valid":
            print(credentials.valid(credentials.key(kind, value)), flush=True)
        elif command == "logout":  # what django.contrib.auth's LogoutView does
            request = HttpRequest()
            request.session = SessionStore(session_key=value)
            request.user = get_user(request)
            logout(request)
            print(request.user.is_authenticated, flush=True)
        elif command == "delete":
            Token.objects.get(key=value).delete()
            print("deleted", flush=True)
""")


def _redis_url() -> str:
    broker = urlsplit(settings.CELERY_BROKER_URL)
    if broker.scheme != "redis":
        pytest.skip("needs the test Redis (CELERY_BROKER_URL=redis://…)")
    return urlunsplit(broker._replace(path=f"/{REDIS_DB}"))


@pytest.fixture
def shared_cache(settings):
    """This process's settings with ``CACHE_URL`` naming the test Redis; emptied before and
    after."""
    url = _redis_url()
    settings.CACHES = project_settings.cache_settings(url)
    settings.TILES_SHARED_CACHE = "default"
    for alias in ("default", settings.TILES_CACHE):
        caches[alias].clear()
    yield url
    for alias in ("default", settings.TILES_CACHE):
        caches[alias].clear()


class WorkerB:
    """Another web process on the same database and the same shared cache."""

    def __init__(self, cache_url: str, var_dir):
        from django.db import connection

        name = connection.settings_dict["NAME"]  # the test database, committed data
        database_url = urlunsplit(urlsplit(settings.DATABASE_URL)._replace(path=f"/{name}"))
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "CACHE_URL": cache_url,
               "DATABASE_URL": database_url, "SECRET_KEY": settings.SECRET_KEY,
               "GRIDTWIN_VAR_DIR": str(var_dir)}
        self.process = subprocess.Popen([sys.executable, "-c", WORKER_B], cwd=REPO, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, command: str, kind: str, value: str) -> str:
        self.process.stdin.write(f"{command} {kind} {value}\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        assert answer, f"worker B ended (exit {self.process.poll()})"
        return answer

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(30)


@pytest.fixture
def worker_b(shared_cache, tmp_path):
    worker = WorkerB(shared_cache, tmp_path / "var-b")
    yield worker
    worker.stop()


@pytest.mark.skipif(settings.EMBEDDED, reason="the main suite's PostGIS and Redis")
def test_a_logout_or_a_deleted_token_elsewhere_is_honoured_at_the_next_tile(
        transactional_db, crew, worker_b, django_assert_num_queries):
    browser = Client()
    browser.force_login(crew)
    with django_assert_num_queries(2):  # the session, its user: checked, then remembered
        assert browser.get(NO_RULE_TILE).status_code == 200
    session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    assert worker_b.ask("valid", "session", session_key) == "True"  # B sees A's check
    with django_assert_num_queries(0):
        assert browser.get(NO_RULE_TILE).status_code == 200

    assert worker_b.ask("logout", "session", session_key) == "False"  # signed out on B
    assert worker_b.ask("valid", "session", session_key) == "False"
    with django_assert_num_queries(1):  # A looks the session up again, and it is gone
        response = browser.get(NO_RULE_TILE)
    assert response.status_code == 401 and response.json()["detail"]

    token = Token.objects.create(user=crew)
    scripted = APIClient()
    scripted.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert scripted.get(NO_RULE_TILE).status_code == 200
    assert worker_b.ask("valid", "token", token.key) == "True"
    assert worker_b.ask("delete", "token", token.key) == "deleted"  # revoked on B
    with django_assert_num_queries(1):
        assert scripted.get(NO_RULE_TILE).status_code == 401


@pytest.mark.skipif(settings.EMBEDDED, reason="the main suite's PostGIS and Redis")
def test_without_a_shared_cache_each_process_remembers_alone(transactional_db, crew, tmp_path,
                                                             django_assert_num_queries):
    """The embedded default (each process's memory): what the test above guards against."""
    browser = Client()
    browser.force_login(crew)
    assert browser.get(NO_RULE_TILE).status_code == 200
    session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    worker = WorkerB("", tmp_path / "var-b")
    try:
        assert worker.ask("valid", "session", session_key) == "False"
        assert worker.ask("logout", "session", session_key) == "False"
    finally:
        worker.stop()
    with django_assert_num_queries(0):  # still remembered here: the gap TILES_AUTH_TTL bounds
        assert browser.get(NO_RULE_TILE).status_code == 200
    caches["default"].clear()


@pytest.mark.skipif(settings.EMBEDDED, reason="the main suite's PostGIS and Redis")
def test_tiles_are_looked_up_in_the_process_then_in_redis(shared_cache, twin_data,
                                                          django_assert_num_queries):
    first = tiles.fetch_tile("lines", *Z8)
    assert not first.cached and first.data
    # Another process, its memory empty, finds the tile in Redis: the version query only.
    caches[settings.TILES_CACHE].clear()
    with django_assert_num_queries(1):
        from_redis = tiles.fetch_tile("lines", *Z8)
    assert from_redis.cached and from_redis.data == first.data
    assert from_redis.etag == first.etag
    # Now in this process's memory too: served with Redis emptied.
    caches["default"].clear()
    with django_assert_num_queries(1):
        local = tiles.fetch_tile("lines", *Z8)
    assert local.cached and local.data == first.data
    # Both caches empty: rendered again.
    caches[settings.TILES_CACHE].clear()
    with django_assert_num_queries(2):  # the version, the tile
        assert not tiles.fetch_tile("lines", *Z8).cached


def test_cache_url_must_name_redis():
    assert project_settings.cache_settings("")["default"]["BACKEND"].endswith("LocMemCache")
    redis = project_settings.cache_settings("redis://cache:6379/1")["default"]
    assert redis["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert redis["LOCATION"] == "redis://cache:6379/1"
    with pytest.raises(ValueError, match="CACHE_URL"):
        project_settings.cache_settings("memcached://cache:11211")
    assert tile_http.credentials.prefix.startswith("gridtwin:")
