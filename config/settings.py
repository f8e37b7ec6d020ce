"""GridTwin settings, read from environment variables with working defaults.

Two modes from one code base:

* **embedded** (no variables set): a SpatiaLite file under ``var/``, a Celery broker that
  needs no server (kombu's filesystem transport) and results in the database;
* **production**: ``DATABASE_URL=postgis://…`` and ``CELERY_BROKER_URL=redis://…`` (or
  ``amqp://…``), run by gunicorn, a Celery worker and Celery beat (see ``docker/``).

Every variable read here is listed in :data:`ENVIRONMENT_VARIABLES`; the table in
docs/configuration.md and the compose file are checked against it (tests/test_production.py).
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from config.openapi import TAGS as OPENAPI_TAGS

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GRIDTWIN_VAR_DIR") or BASE_DIR / "var")  # set but empty: var/

ENVIRONMENT_VARIABLES: dict[str, str] = {
    "DATABASE_URL": "postgis://user:pass@host:5432/db, or spatialite:///path/file.sqlite3 "
    "(default: the embedded SpatiaLite file var/gridtwin.sqlite3)",
    "CELERY_BROKER_URL": "redis://host:6379/0 or amqp://user:pass@host:5672// "
    "(default: kombu's filesystem transport under var/celery, no server needed)",
    "CELERY_TASK_ALWAYS_EAGER": "1 runs jobs inline in the web process (scripts only; default 0)",
    "SECRET_KEY": "Django's secret key (default: generated once into var/secret_key)",
    "DEBUG": "1 for development error pages (default 0)",
    "ALLOWED_HOSTS": "comma-separated host names (default: 127.0.0.1,localhost)",
    "CSRF_TRUSTED_ORIGINS": "comma-separated origins behind a proxy, e.g. https://twin.example.org",
    "SECURE_SSL": "1 behind HTTPS: secure cookies, HTTPS redirect, HSTS (default 0)",
    "SECURE_HSTS_SECONDS": "HSTS max-age when SECURE_SSL=1 (default 31536000)",
    "GRIDTWIN_VAR_DIR": "folder for the embedded database, broker files, media (default var/)",
    "GRIDTWIN_IMPORT_DIRS": "folders that import jobs may read besides the media folder (where "
    "uploads land), colon- or comma-separated, relative ones under the project folder "
    "(default data)",
    "STATIC_ROOT": "where collectstatic writes (default var/static)",
    "JOB_HEARTBEAT_TIMEOUT_S": "a running job silent this long is taken as lost (default 300)",
    "JOB_MAX_ATTEMPTS": "how often a lost job is started again before it fails (default 2)",
    "IMPORT_MAX_UPLOAD_MB": "largest file accepted for import uploads (default 2048)",
    "MAP_BASEMAP_STYLE_URL": "a MapLibre style URL for the field map's basemap where there is "
    "internet (default: none: the offline basemap drawn from the regions' OSM roads)",
    "TILES_CACHE_TIMEOUT": "seconds a rendered vector tile stays in Django's cache, keyed by "
    "its layer's version (default 600; 0 renders every request)",
    "TILES_AUTH_TTL": "seconds a tile request's session or token check is remembered in the "
    "cache (default 60, the tiles' max-age; 0 checks every request)",
    "CACHE_URL": "redis://host:6379/1: Django's cache shared by all web processes (remembered "
    "tile credentials, rendered tiles); default: each process's own memory (embedded)",
    "LOG_LEVEL": "root log level (default INFO)",
}


def env(name: str, default: str = "") -> str:
    """Read an environment variable that :data:`ENVIRONMENT_VARIABLES` documents."""
    if name not in ENVIRONMENT_VARIABLES:
        raise KeyError(f"undocumented environment variable {name}")
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- core -------------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG")


def _secret_key() -> str:
    key = env("SECRET_KEY")
    if key:
        return key
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "config.apps.GridTwinStaticFilesConfig",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_celery_results",
    "twin",
    "markets",
    "routing",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "twin.tiles.middleware.TileMiddleware",  # tiles skip the rest: see its "The hot path"
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],  # admin/base_site.html: GridTwin's header
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database: PostGIS in production, SpatiaLite embedded -------------------------------------
DATABASE_URL = env("DATABASE_URL", f"spatialite:///{VAR_DIR / 'gridtwin.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] not in {
    "django.contrib.gis.db.backends.postgis",
    "django.contrib.gis.db.backends.spatialite",
}:
    raise ValueError("DATABASE_URL must start with postgis:// or spatialite://")
EMBEDDED = DATABASES["default"]["ENGINE"].endswith("spatialite")
if not EMBEDDED:
    # The API's short spatial queries lose more to JIT compilation than they gain (measured by
    # bench/charger_near.py: p95 up to 4x raw SQL with JIT on); heavy jobs may SET jit = on.
    # Server-side prepared statements only where asked for (prepare=True: the tile service's
    # twin.tiles.service.prepared_cursor; psycopg never prepares on its own with this
    # threshold, and Django's client-side cursors never ask), each kept with one generic plan,
    # so a tile's statement is planned once per connection.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        options="-c jit=off -c plan_cache_mode=force_generic_plan",
        prepare_threshold=2**31 - 1)
if EMBEDDED:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"timeout": 30}
    # A file, not SQLite's default in-memory test database, so a worker process can share it.
    _name = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"] = {"NAME": str(_name.with_name(f"test_{_name.name}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Front-end packages come from the npm registry at build time (package.json) and are served by
# the app itself: no CDN, so the product runs offline and in sovereign deployments.
STATICFILES_DIRS = [
    ("vendor/ol", BASE_DIR / "node_modules" / "ol"),
    ("vendor/maplibre-gl", BASE_DIR / "node_modules" / "maplibre-gl" / "dist"),
]
# Production serves the hashed, compressed files of collectstatic (whitenoise's manifest storage,
# strict: a missing collectstatic fails loudly). The embedded mode uses them once collectstatic
# has run (``make run`` does) but also renders pages without it (a fresh clone's ``manage.py
# runserver``): a file the manifest lacks keeps its plain URL, and WhiteNoise serves it from the
# apps' static folders (the finders), as it does with DEBUG.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
        else "config.storage.ManifestOrPlainStaticFilesStorage" if EMBEDDED
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or EMBEDDED
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
IMPORT_MAX_UPLOAD_MB = int(env("IMPORT_MAX_UPLOAD_MB", "2048"))
# Import jobs read files only from these folders (uploads land in MEDIA_ROOT/imports; a region
# keeps a copy of its source file under MEDIA_ROOT/regions, see twin.ingest.sources).
IMPORT_ROOTS = [MEDIA_ROOT] + [
    BASE_DIR / folder.strip()
    for folder in re.split(r"[:,]", env("GRIDTWIN_IMPORT_DIRS", "data")) if folder.strip()]
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # larger uploads stream to a temporary file

# GDAL 3.6 on Debian 12 is older than Django 5.2 would like; it works for everything we use.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# --- security (production behind HTTPS) -------------------------------------------------------
SECURE_SSL = env_bool("SECURE_SSL")
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = SECURE_SSL
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000")) if SECURE_SSL else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL
SECURE_HSTS_PRELOAD = SECURE_SSL
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_SSL else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so that an anonymous request is answered 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["twin.api.permissions.OperatorsWrite"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "twin.api.pagination.FeaturePagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "twin.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"user": "6000/hour"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GridTwin API",
    "DESCRIPTION": "The GIS digital twin of an electric grid: lines, supports, substations, "
    "EV chargers, pricing nodes and background jobs. Geographic resources are GeoJSON.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Operations grouped by part of the product, tagged by URL path in config/openapi.py.
    "TAGS": OPENAPI_TAGS,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "config.openapi.tag_by_path"],
}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery" / "broker"
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    _broker_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        # the exchange tables (kombu's default is ./control, wherever the worker was started)
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- caches -----------------------------------------------------------------------------------
def cache_settings(url: str) -> dict:
    """``CACHES`` for ``CACHE_URL``: Django's Redis cache as ``default`` when one is named (every
    web process and host then shares it), else each process's own memory; and ``tiles``, always
    the process's memory: the first place a rendered tile is looked up (``TILES_CACHE``; see
    twin/tiles/service.py), so a repeated tile costs no round trip to Redis."""
    if not url:
        default = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    elif url.split("://", 1)[0] in {"redis", "rediss", "unix"}:
        default = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                   "KEY_PREFIX": "gridtwin"}
    else:
        raise ValueError("CACHE_URL must start with redis://, rediss:// or unix://")
    return {"default": default,
            "tiles": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                      "LOCATION": "gridtwin-tiles", "OPTIONS": {"MAX_ENTRIES": 2000}}}


CACHE_URL = env("CACHE_URL")
CACHES = cache_settings(CACHE_URL)

MAP_BASEMAP_STYLE_URL = env("MAP_BASEMAP_STYLE_URL")
TILES_CACHE_TIMEOUT = int(env("TILES_CACHE_TIMEOUT", "600"))
TILES_AUTH_TTL = int(env("TILES_AUTH_TTL", "60"))
TILES_CACHE = "tiles"  # this process's rendered tiles, looked up first
TILES_SHARED_CACHE = "default" if CACHE_URL else None  # then the shared ones (Redis)
TILES_AUTH_CACHE = "default"  # remembered credentials: shared when CACHE_URL names Redis

JOB_HEARTBEAT_TIMEOUT_S = int(env("JOB_HEARTBEAT_TIMEOUT_S", "300"))
JOB_MAX_ATTEMPTS = int(env("JOB_MAX_ATTEMPTS", "2"))
CELERY_BEAT_SCHEDULE = {
    "reap-lost-jobs": {
        "task": "twin.tasks.reap_lost_jobs",
        "schedule": timedelta(seconds=max(10, JOB_HEARTBEAT_TIMEOUT_S // 5)),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}
