"""The newcomer's start (``make run``): embedded mode from nothing to a working app and worker.

Runs ``scripts/run-embedded.sh`` in an empty var folder — migrations, static files, the demo
operator, a Celery worker and beat on the serverless broker, the web app — and uses it as a
newcomer would: log in with the printed credentials, read the API with the printed token, run
a job through the worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from tests.conftest import REPO

pytestmark = pytest.mark.embedded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str | None = None, data: dict | None = None) -> tuple[int, dict | str]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    body = None
    if data is not None:
        body, headers["Content-Type"] = json.dumps(data).encode(), "application/json"
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as exc:
        text, status = exc.read().decode(), exc.code
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


@pytest.mark.skipif(not settings.EMBEDDED, reason="the embedded smoke suite runs this")
def test_make_run_starts_a_working_embedded_app(tmp_path):
    repo_before = set(os.listdir(REPO))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(GRIDTWIN_VAR_DIR=str(tmp_path / "var"), PORT=str(port))
    log = open(tmp_path / "run.log", "wb")
    proc = subprocess.Popen(["scripts/run-embedded.sh"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        # migrate, collectstatic, the demo import, then three processes starting at once: on a
        # busy 2-core machine that alone can take two minutes
        deadline = time.monotonic() + 240
        while True:
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "no answer in 240 s:\n" + (
                tmp_path / "run.log").read_text()
            time.sleep(0.5)
        output = (tmp_path / "run.log").read_text()
        match = re.search(r"user '(\w+)', password '([^']+)'.*API token: (\w+)", output)
        assert match, output
        _, _, token = match.groups()
        assert _get(f"{base}/healthz")[1] == {"status": "ok", "database": "sqlite"}
        assert _get(f"{base}/api/v1/lines/")[0] == 401
        status, body = _get(f"{base}/api/v1/lines/", token)
        assert status == 200 and body["type"] == "FeatureCollection"
        assert body["count"] == 15  # the Liechtenstein demo region was loaded on first start
        status, body = _get(f"{base}/api/v1/substations/?search=Schaan", token)
        assert body["features"][0]["properties"]["voltages_kv"] == [110.0, 16.0]
        assert _get(f"{base}/api/v1/supports/", token)[1]["count"] == 186
        assert _get(f"{base}/api/v1/chargers/", token)[1]["count"] == 9
        login = _get(f"{base}/admin/login/")
        assert login[0] == 200 and "csrfmiddlewaretoken" in login[1]
        status, job = _get(f"{base}/api/v1/jobs/", token, {"kind": "system.probe"})
        assert status == 202, job
        for _ in range(120):
            status, job = _get(f"{base}/api/v1/jobs/{job['id']}/", token)
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert job["status"] == "succeeded", (job, (tmp_path / "var/log/worker.log").read_text())
        assert job["result"]["database"] == "sqlite"
        # the admin's map widget loads from the app's collected static files
        assert _get(f"{base}/static/vendor/ol/dist/ol.js")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the script stops web, worker and beat
        try:
            proc.wait(60)
        finally:
            with contextlib.suppress(ProcessLookupError):  # nothing may outlive the test
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
    assert proc.returncode is not None
    assert "Warm shutdown" in (tmp_path / "var/log/worker.log").read_text()
    # The broker's files, its exchange tables too, are in the var folder; nothing in the clone.
    assert (tmp_path / "var/celery/control/celery.pidbox.exchange").is_file()
    assert set(os.listdir(REPO)) == repo_before, "the embedded start wrote into the repository"
