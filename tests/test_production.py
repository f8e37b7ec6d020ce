"""The production stack under docker/, checked without a Docker engine (none runs on the
development machines or in CI): the compose file and the Dockerfile are parsed and held against
the settings, and the steps the image runs (entry point, collectstatic, ``check --deploy``) are run
here as subprocesses with a production environment.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import re
import secrets
import shlex
import string
import subprocess
import sys
import threading
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import dj_database_url
import pytest
import yaml

import config.settings as project_settings

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
ENV_VARS = project_settings.ENVIRONMENT_VARIABLES
APP_SERVICES = ("web", "worker", "beat")
# What an operator puts in .env for a first start (compose refuses to start without these).
OPERATOR_ENV = {
    "SECRET_KEY": "k" * 50,
    "POSTGRES_PASSWORD": "db-password",
    "ALLOWED_HOSTS": "twin.example.org",
}


# --- helpers ------------------------------------------------------------------------------------
class MissingVariable(KeyError):
    """A ``${NAME:?message}`` whose variable is unset: compose refuses to start."""


_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_]\w*))"
)


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation (``$$``, ``${X}``, ``${X:-d}``, ``${X:?msg}`` ...)."""

    def substitute(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"] or match["bare"], match["op"], match["arg"]
        current = env.get(name)
        unset = current is None or (current == "" and bool(op) and op.startswith(":"))
        if op in (":-", "-"):
            return arg if unset else current
        if op in (":?", "?") and unset:
            raise MissingVariable(name)
        return current or ""

    return _INTERPOLATION.sub(substitute, str(value))


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def service_env(service: dict) -> dict[str, str]:
    """A service's environment as a dict, whether written as a mapping or as a list."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in environment)
        environment = dict(pairs)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def resolved_env(service: dict, env: dict[str, str] | None = None) -> dict[str, str]:
    env = OPERATOR_ENV if env is None else env
    return {name: interpolate(value, env) for name, value in service_env(service).items()}


def command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def healthcheck_test(service: dict) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test") or []
    return [test] if isinstance(test, str) else list(test)


def mounts(service: dict) -> dict[str, str]:
    """Container path -> source (a named volume or a host path) of a service's volumes."""
    result = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            result[volume["target"]] = volume.get("source", "")
        else:
            source, target = volume.split(":")[:2]
            result[target] = source
    return result


def is_under(path: str, folder: str) -> bool:
    path_, folder_ = PurePosixPath(path), PurePosixPath(folder)
    return folder_ == path_ or folder_ in path_.parents


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def exec_form(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    """The last CMD/ENTRYPOINT of a stage, which must use the JSON (exec) form."""
    values = [args for kw, args in instructions if kw == keyword]
    assert values, f"no {keyword} in the final stage"
    parsed = json.loads(values[-1])
    assert isinstance(parsed, list), f"{keyword} must use the exec (JSON) form"
    return parsed


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for keyword, args in instructions:
        if keyword == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def copies(instructions: list[tuple[str, str]]) -> list[tuple[list[str], str, dict[str, str]]]:
    """(sources, destination, flags) of every COPY/ADD."""
    result = []
    for keyword, args in instructions:
        if keyword in ("COPY", "ADD"):
            parts = shlex.split(args)
            flags = dict(p[2:].partition("=")[::2] for p in parts if p.startswith("--"))
            paths = [p for p in parts if not p.startswith("--")]
            result.append((paths[:-1], paths[-1], flags))
    return result


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored_by_docker(path: str) -> bool:
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
        or fnmatch.fnmatch(PurePosixPath(prefix).name, pattern.removeprefix("**/"))
        for pattern in dockerignore_patterns()
        if not pattern.startswith("!")
        for prefix in prefixes
    )


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """This process's environment without the project's variables, plus a production setup."""
    env = {name: value for name, value in os.environ.items() if name not in ENV_VARS}
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env.update(
        SECRET_KEY="".join(secrets.choice(alphabet) for _ in range(50)),
        DEBUG="0",
        ALLOWED_HOSTS="twin.example.org",
        CSRF_TRUSTED_ORIGINS="https://twin.example.org",
        SECURE_SSL="1",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        GRIDTWIN_VAR_DIR=str(tmp_path / "var"),
        STATIC_ROOT=str(tmp_path / "static"),
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=240,
    )


# --- compose: services, health, dependencies ----------------------------------------------------
def test_compose_has_the_production_services():
    services = load_compose()["services"]
    assert {"db", "redis", "web", "worker", "beat"} <= set(services)
    assert services["db"]["image"].startswith("postgis/postgis:15-")
    assert services["redis"]["image"].split(":")[0] == "redis"


def test_every_service_is_health_checked_or_waits_for_healthy_dependencies():
    services = load_compose()["services"]
    for name in ("db", "redis", "web"):
        test = healthcheck_test(services[name])
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} needs a healthcheck"
    assert "pg_isready" in healthcheck_test(services["db"])
    assert healthcheck_test(services["redis"])[1:] == ["redis-cli", "ping"]
    web_check = " ".join(healthcheck_test(services["web"]))
    assert "urllib" in web_check and "http://127.0.0.1:8000/healthz" in web_check
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert healthcheck_test(service) or depends, f"{name}: no healthcheck, no dependencies"
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency, spec in depends.items():
            assert spec.get("condition") == "service_healthy", f"{name} -> {dependency}"
            assert healthcheck_test(services[dependency]), f"{dependency} is waited for, unchecked"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_db_and_redis(name):
    depends = load_compose()["services"][name]["depends_on"]
    for dependency in ("db", "redis"):
        assert depends[dependency]["condition"] == "service_healthy"


def test_web_healthcheck_asks_healthz_with_an_allowed_host():
    """Run the web healthcheck's code against a stub server: /healthz, with an allowed Host."""
    test = healthcheck_test(load_compose()["services"]["web"])
    assert test[:3] == ["CMD", "python", "-c"]
    seen: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.update(path=self.path, host=self.headers["Host"])
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = test[3].replace("127.0.0.1:8000", f"127.0.0.1:{server.server_port}")
        cases = [(".twin.example.org,localhost", "twin.example.org"), ("*", "localhost")]
        for allowed, host in cases:
            env = {**os.environ, "ALLOWED_HOSTS": allowed}
            done = subprocess.run([sys.executable, "-c", code], env=env, timeout=30)
            assert done.returncode == 0
            assert seen == {"path": "/healthz", "host": host}
    finally:
        server.shutdown()
        server.server_close()
    assert re.fullmatch(r"\^?healthz\$?", project_settings.SECURE_REDIRECT_EXEMPT[0])


# --- compose: the app environment ---------------------------------------------------------------
def test_app_services_share_one_environment_of_documented_variables():
    services = load_compose()["services"]
    environments = [service_env(services[name]) for name in APP_SERVICES]
    assert environments[0] == environments[1] == environments[2]
    undocumented = set(environments[0]) - set(ENV_VARS)
    assert not undocumented, f"not in config.settings.ENVIRONMENT_VARIABLES: {undocumented}"


def test_app_environment_is_production():
    services = load_compose()["services"]
    raw = service_env(services["web"])
    # The secret comes only from the operator: no default anywhere in the file.
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]*\}", raw["SECRET_KEY"])
    assert raw["ALLOWED_HOSTS"]
    for required in OPERATOR_ENV:
        with pytest.raises(MissingVariable):
            resolved_env(services["web"], {k: v for k, v in OPERATOR_ENV.items() if k != required})

    env = resolved_env(services["web"])
    assert env["SECRET_KEY"] == OPERATOR_ENV["SECRET_KEY"]
    assert env["ALLOWED_HOSTS"] == "twin.example.org"
    assert env.get("DEBUG", "0") in ("", "0")
    assert env["SECURE_SSL"] == "1"

    assert raw["DATABASE_URL"].startswith("postgis://")
    database = dj_database_url.parse(env["DATABASE_URL"])
    db_env = resolved_env(services["db"])
    assert database["ENGINE"] == "django.contrib.gis.db.backends.postgis"
    assert database["HOST"] == "db" and int(database["PORT"]) == 5432
    assert database["NAME"] == db_env["POSTGRES_DB"]
    assert database["USER"] == db_env["POSTGRES_USER"]
    assert database["PASSWORD"] == db_env["POSTGRES_PASSWORD"] == OPERATOR_ENV["POSTGRES_PASSWORD"]

    broker = urlsplit(env["CELERY_BROKER_URL"])
    assert broker.scheme in ("redis", "amqp")
    assert broker.hostname in services


def test_compose_shares_one_cache_in_its_redis():
    """The web processes share Django's cache (remembered tile credentials, tiles) in Redis, in
    a database of its own beside the broker's."""
    services = load_compose()["services"]
    env = resolved_env(services["web"])
    cache, broker = urlsplit(env["CACHE_URL"]), urlsplit(env["CELERY_BROKER_URL"])
    assert cache.scheme == "redis" and cache.hostname == "redis" and cache.hostname in services
    assert (cache.hostname, cache.port) == (broker.hostname, broker.port)
    assert cache.path != broker.path
    caches = project_settings.cache_settings(env["CACHE_URL"])
    assert caches["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"


def test_compose_defaults_agree_with_the_documented_ones():
    """A ``${X:-d}`` default must be the default that ENVIRONMENT_VARIABLES states for X, except
    where compose is deliberately stricter than the embedded mode (HTTPS on)."""
    deliberate = {"SECURE_SSL": "1"}
    for name, value in service_env(load_compose()["services"]["web"]).items():
        match = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", value)
        if not match or not match[2]:
            continue
        assert match[1] == name, f"{name} takes its value from {match[1]}"
        documented = re.search(r"\(default:? ([^)\s]+)\)", ENV_VARS[name])
        expected = deliberate.get(name) or (documented and documented[1])
        assert match[2] == expected, f"{name}: compose default {match[2]}, documented {expected}"


def test_celery_services_run_the_config_app():
    services = load_compose()["services"]
    worker, beat = command(services["worker"]), command(services["beat"])
    for cmd, role in ((worker, "worker"), (beat, "beat")):
        assert cmd[0] == "celery" and role in cmd
        assert "-A config" in " ".join(cmd) or "--app=config" in cmd
    assert any(part == "--concurrency" or part.startswith("--concurrency=") for part in worker)


def test_volumes_hold_the_state_and_not_the_static_files():
    compose = load_compose()
    services, named = compose["services"], set(compose.get("volumes") or {})
    assert mounts(services["db"]).get("/var/lib/postgresql/data") in named
    env = resolved_env(services["web"])
    for name in APP_SERVICES:
        service_mounts = mounts(services[name])
        assert service_mounts.get(env["GRIDTWIN_VAR_DIR"]) in named, f"{name}: var dir volume"
        # Static files are baked into the image; a volume over them would hide a new image's.
        assert not any(is_under(env["STATIC_ROOT"], target) for target in service_mounts)
    beat = command(services["beat"])
    for flag in ("--schedule", "-s"):
        if flag in beat:
            schedule = beat[beat.index(flag) + 1]
            assert any(is_under(schedule, target) for target in mounts(services["beat"]))


# --- Dockerfile ---------------------------------------------------------------------------------
def test_dockerfile_builds_from_debian_bookworm_with_the_system_libraries():
    instructions = dockerfile_instructions()
    for keyword, args in instructions:
        if keyword == "FROM":
            assert args.split()[0] == "debian:bookworm-slim"
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    for package in ("python3-venv", "gdal-bin", "libgdal32", "libsqlite3-mod-spatialite",
                    "nodejs", "npm"):
        assert re.search(rf"(?<![\w.-]){re.escape(package)}(?![\w.-])", runs), package
    assert "npm ci" in runs
    assert "python3 -m venv /opt/venv" in runs
    assert "pip install" in runs and "-r /app/requirements.txt" in runs
    assert "collectstatic --noinput" in runs


def test_dockerfile_serves_config_wsgi_as_a_non_root_user():
    stage = final_stage()
    cmd = exec_form(stage, "CMD")
    assert cmd[:2] == ["gunicorn", "config.wsgi:application"]
    assert "0.0.0.0:8000" in " ".join(cmd) and "--workers" in cmd
    assert ("EXPOSE", "8000") in stage
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = dockerfile_env(stage)
    assert "/opt/venv/bin" in env["PATH"].split(":")
    compose_env = resolved_env(load_compose()["services"]["web"])
    for name in ("GRIDTWIN_VAR_DIR", "STATIC_ROOT"):
        assert env[name] == compose_env[name], name


def test_dockerfile_copies_existing_files_and_the_whole_app():
    stage = final_stage()
    copied = []
    for sources, destination, flags in copies(dockerfile_instructions()):
        if "from" in flags:
            continue
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not ignored_by_docker(source), f"COPY {source}: excluded by .dockerignore"
            copied.append((source.rstrip("/"), destination))
    # Every top-level package Django loads (the config package and local apps) is in the image.
    local = {"config"} | {
        app.split(".")[0] for app in project_settings.INSTALLED_APPS
        if (ROOT / app.split(".")[0] / "__init__.py").exists()
    }
    copied_sources = {source for source, _ in copied}
    assert local | {"manage.py", "requirements.txt"} <= copied_sources | {"."}
    for template_dir in project_settings.TEMPLATES[0]["DIRS"]:
        if Path(template_dir).exists():  # copied itself, or within a copied folder
            relative = Path(template_dir).relative_to(ROOT)
            assert {relative, *relative.parents} & {Path(source) for source in copied_sources}

    entrypoint = exec_form(stage, "ENTRYPOINT")
    assert [s for s, d in copied if d == entrypoint[0]] == ["docker/entrypoint.sh"]


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    patterns = {pattern.rstrip("/") for pattern in dockerignore_patterns()}
    assert {".venv", "node_modules", "var", ".git"} <= patterns


def test_compose_builds_the_dockerfile_and_web_migrates_then_serves_config_wsgi():
    services = load_compose()["services"]
    for name in APP_SERVICES:
        build = services[name]["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == ROOT
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE
    web = command(services["web"])
    assert web[0] == "--migrate", "web must migrate before serving (see docker/entrypoint.sh)"
    assert web[1:3] == ["gunicorn", "config.wsgi:application"]
    assert "0.0.0.0:8000" in " ".join(web)
    for name in ("worker", "beat"):
        assert "--migrate" not in command(services[name])


def test_entrypoint_migrates_only_when_asked_then_execs_the_command(tmp_path):
    """Run docker/entrypoint.sh with a stand-in ``python`` that records its arguments."""
    log = tmp_path / "python.log"
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    script = str(DOCKER / "entrypoint.sh")

    done = subprocess.run(["sh", script, "--migrate", "echo", "served"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "served"
    assert log.read_text().split("\n")[0] == "manage.py migrate --noinput"

    log.unlink()
    done = subprocess.run(["sh", script, "echo", "worker"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "worker" and not log.exists()

    failing = tmp_path / "bin" / "python"
    failing.write_text("#!/bin/sh\nexit 3\n")
    done = subprocess.run(["sh", script, "--migrate", "echo", "served"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "served" not in done.stdout


# --- the image's build step and Django's deployment checks, run here ----------------------------
def test_collectstatic_as_the_image_build_runs_it(tmp_path):
    """The Dockerfile's collectstatic (manifest storage, OpenLayers from node_modules)."""
    env = {name: value for name, value in os.environ.items() if name not in ENV_VARS}
    env.update(SECRET_KEY="build-only-not-a-secret", GRIDTWIN_VAR_DIR=str(tmp_path / "build-var"),
               STATIC_ROOT=str(tmp_path / "static"))
    done = manage(env, "collectstatic", "--noinput")
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    for path in ("vendor/ol/ol.css", "vendor/ol/dist/ol.js", "admin/css/base.css"):
        assert path in manifest, path
        assert (tmp_path / "static" / manifest[path]).exists()

    # Production serves the hashed, compressed files, cached for ever.
    hashed = f"/static/{manifest['admin/css/base.css']}"
    production = production_env(tmp_path, DATABASE_URL="postgis://nobody@127.0.0.1:9/none")
    served = serve_static(production)
    assert served["backend"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert served["url"] == hashed and served["status"] == 200
    assert served["encoding"] in ("br", "gzip") and "immutable" in served["cache_control"]
    # The embedded mode uses the same files once collected (make run collects them) ...
    embedded = {**env, "GRIDTWIN_VAR_DIR": str(tmp_path / "var")}
    served = serve_static(embedded)
    assert served["url"] == hashed and served["status"] == 200 and served["encoding"]
    # ... and renders without them: plain names, served from the apps' static folders.
    empty = tmp_path / "not-collected"
    served = serve_static({**embedded, "STATIC_ROOT": str(empty)})
    assert served["url"] == "/static/admin/css/base.css" and served["status"] == 200
    # Production without collectstatic fails loudly rather than serve unhashed files.
    served = serve_static({**production, "STATIC_ROOT": str(empty)})
    assert "Missing staticfiles manifest entry for 'admin/css/base.css'" in served["error"]


STATIC_CHECK = """
import json

import django

django.setup()
from django.conf import settings
from django.templatetags.static import static
from django.test import Client

answer = {"backend": settings.STORAGES["staticfiles"]["BACKEND"]}
try:
    answer["url"] = static("admin/css/base.css")
except ValueError as exc:
    answer["error"] = str(exc)
else:
    response = Client().get(answer["url"], HTTP_HOST=settings.ALLOWED_HOSTS[0], secure=True,
                            HTTP_ACCEPT_ENCODING="br, gzip")
    answer.update(status=response.status_code, encoding=response.get("Content-Encoding"),
                  cache_control=response.get("Cache-Control"))
print(json.dumps(answer))
"""


def serve_static(env: dict[str, str]) -> dict:
    """How a process with ``env`` links ``admin/css/base.css`` and serves that link."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run([sys.executable, "-c", STATIC_CHECK], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.skip("check --deploy runs against the suite's PostGIS (DATABASE_URL unset)")
    return url


def test_check_deploy_passes_with_the_production_environment(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=_database_url())
    done = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "no issues" in output


def test_check_deploy_fails_without_https(tmp_path):
    """The same check with SECURE_SSL=0 must fail: it really checks."""
    env = production_env(tmp_path, DATABASE_URL=_database_url(), SECURE_SSL="0")
    done = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output, warning


def test_docs_document_every_variable_and_the_readme_the_two_commands():
    """The configuration page's table has a row for every variable, and no row for another."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", page, flags=re.MULTILINE)
    assert sorted(rows) == sorted(ENV_VARS), "docs/configuration.md's table vs ENVIRONMENT_VARIABLES"
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "docs/configuration.md" in readme
