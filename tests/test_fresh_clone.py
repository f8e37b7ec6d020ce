"""A fresh clone used the Django way, without ``make run``: no variables set, ``manage.py
migrate``, ``manage.py runserver`` (no ``collectstatic``), then an OSM extract imported from a
folder of the operator's, outside the import folders, and its region's flight graph built.

Everything runs as subprocesses in a fresh var folder (``GRIDTWIN_VAR_DIR``, so a fresh
embedded SpatiaLite database), whatever database the suite itself uses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from config.settings import ENVIRONMENT_VARIABLES
from tests.conftest import REPO, SHARED_DATA

# The smallest real extract with roads and power lines: the Schaan–Vaduz clip (OSM XML, see
# ../shared/data/README.md), else the whole demo country (slower graph build).
CLIP = SHARED_DATA / "osm" / "liechtenstein-schaan-vaduz-2024-03-04.osm.bz2"
DEMO = REPO / "data" / "demo" / "liechtenstein-2024-03-04.osm.pbf"


def fresh_env(var_dir: Path) -> dict[str, str]:
    """This environment without any of the project's variables: a newcomer's shell."""
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    env.update(GRIDTWIN_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py sets it, as in a fresh shell
    return env


def manage(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fresh_settings_keep_every_file_under_the_var_folder(tmp_path):
    """The embedded broker's files (its control folder too: kombu's default is ./control,
    wherever the worker starts) and the media live under GRIDTWIN_VAR_DIR."""
    var = tmp_path / "var"
    script = ("import json; from django.conf import settings; s = settings; print(json.dumps("
              "{'broker': s.CELERY_BROKER_URL, 'options': s.CELERY_BROKER_TRANSPORT_OPTIONS, "
              "'media': str(s.MEDIA_ROOT), 'roots': [str(r) for r in s.IMPORT_ROOTS], "
              "'static': s.STORAGES['staticfiles']['BACKEND'], 'finders': s.WHITENOISE_USE_FINDERS, "
              "'cache': s.CACHES['default']['BACKEND']}))")
    env = {**fresh_env(var), "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(REPO)}

    def settings_with(env: dict[str, str]) -> dict:
        done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    found = settings_with(env)
    assert found["broker"] == "filesystem://"
    folders = {k: Path(v) for k, v in found["options"].items() if k.endswith("folder")
               or k.startswith("data_folder")}
    assert set(folders) == {"data_folder_in", "data_folder_out", "processed_folder",
                            "control_folder"}
    for name, folder in folders.items():
        assert folder.is_relative_to(var) and folder.is_dir(), name
    assert found["media"] == str(var / "media")
    assert found["roots"] == [str(var / "media"), str(REPO / "data")]
    assert found["static"] == "config.storage.ManifestOrPlainStaticFilesStorage"
    assert found["finders"] is True
    assert found["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    # Set but empty is unset: var/ of the clone, not the current folder.
    assert settings_with({**env, "GRIDTWIN_VAR_DIR": ""})["media"] == str(REPO / "var" / "media")
    assert not (tmp_path / "media").exists()


def test_migrate_runserver_then_a_region_from_anywhere_gets_its_flight_graph(tmp_path):
    repo_before = set(os.listdir(REPO))
    env = fresh_env(tmp_path / "var")
    manage(env, "migrate", "--noinput", "-v", "0")

    port = free_port()
    log = open(tmp_path / "runserver.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "runserver.log").read_text()
            time.sleep(0.5)
        status, page = get(f"{base}/admin/login/")
        assert status == 200, page[-3000:]
        assert "csrfmiddlewaretoken" in page and "GridTwin" in page
        assert "Django administration" not in page
        status, page = get(f"{base}/map/login/")
        assert status == 200, page[-3000:]
        assert 'name="password"' in page
        # The pages' static files (not collected) are served too.
        stylesheet = re.search(r'href="(/static/admin/css/[^"]+\.css)"', get(f"{base}/admin/login/")[1])
        assert stylesheet and get(base + stylesheet[1])[0] == 200
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
            log.close()

    # The operator's file, in a folder of theirs (not data/, not the media folder).
    source = CLIP if CLIP.exists() else DEMO
    operators = tmp_path / "srv" / "osm"
    operators.mkdir(parents=True)
    extract = operators / source.name
    shutil.copy(source, extract)
    report = json.loads(manage(env, "import_osm", str(extract), "--region", "andorra").stdout)
    assert report["region"] == "andorra" and report["counts"]["line"]["created"] > 0
    extract.unlink()  # the region keeps its own copy: the original may go
    built = json.loads(manage(env, "build_flight_graph", "--region", "andorra", timeout=600).stdout)
    kept = Path(built["stats"]["osm_file"])
    assert kept.is_relative_to(tmp_path / "var" / "media" / "regions") and kept.is_file()
    assert built["region"] == "andorra" and built["nodes"] > 1000 and built["stats"]["lines"] > 0

    assert set(os.listdir(REPO)) == repo_before, "a fresh start wrote into the repository"
