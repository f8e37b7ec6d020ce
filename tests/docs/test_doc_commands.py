"""The documentation's commands run as written, in order, page by page, on a fresh checkout.

Every fenced block of README.md and docs/**/*.md (with the files they include through
``--8<-- "path"``) carries a language. Shell blocks are either

* ```` ```sh ````: run by this test, or
* ```` ```console ````: not run, and then preceded by ``<!-- not run: <reason> -->`` (``make run``,
  docker compose, a server that runs until stopped, a file you download yourself).

Each page's ``sh`` blocks run in order in one bash (``set -euo pipefail``, so any failing
command fails the page), in the state the docs promise (docs/index.md, "Running the examples"):
a checkout where ``make run`` has set things up once — the database migrated, the demo operator
``admin`` created (its password in ``var/demo-admin.txt``), the demo region ``liechtenstein``
loaded — with the virtualenv first on ``PATH``. Each page gets a fresh copy of that state: its
own PostGIS database (cloned from a template database made once) and its own checkout folder
(the repository's files linked in, its own ``var/``). A page whose blocks talk to the app
(``$GRIDTWIN``) also gets the web app as ``make run`` starts it (``manage.py runserver``), with
``GRIDTWIN`` pointing at it, and a page marked ``<!-- docs-test: worker -->`` (its examples run
jobs) a Celery worker on the serverless broker under its ``var/``, as ``make run`` starts one.
The app starts while the first blocks run; the script waits for it before the first block that
uses it.

The pages run side by side (``DOCS_TEST_JOBS``, default 2); only the pages whose tests were
selected run (``-k routing`` runs docs/routing.md alone).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dj_database_url
import psycopg
import pytest

from config.settings import ENVIRONMENT_VARIABLES
from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>\S.*\S) -->$")
SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"\s*$')
RUN, NOT_RUN_LANG = "sh", "console"
OTHER_SHELLS = {"bash", "shell", "zsh", "shell-session", "sh-session", "ps1", "powershell"}
WORKER_MARK = "<!-- docs-test: worker -->"
SKIP_ENTRIES = {".git", "var", "test-results", "site"}  # not linked into a page's checkout
PAGE_TIMEOUT_S = 420


@dataclass
class Block:
    source: str  # the file the block is written in (a page, or a file it includes)
    line: int
    language: str
    text: str
    not_run_reason: str | None = None


def _lines(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[str, int, str]]:
    """The page's lines as (file, line number, text), with ``--8<--`` includes expanded."""
    out = []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        include = SNIPPET.match(text)
        if include:
            target = (REPO / include["path"]).resolve()
            assert target not in seen, f"{path}: recursive include of {target}"
            out.extend(_lines(target, (*seen, path)))
        else:
            out.append((str(path.relative_to(REPO)), number, text))
    return out


def page_blocks(page: Path) -> list[Block]:
    """Every fenced block of a page, in order; the previous non-blank line of each is checked
    for a ``not run`` marker."""
    blocks, lines, i = [], _lines(page), 0
    while i < len(lines):
        source, number, text = lines[i]
        opening = FENCE.match(text)
        if not opening:
            i += 1
            continue
        fence, indent, start = opening["fence"], len(opening["indent"]), i
        body, i = [], i + 1
        while i < len(lines) and not lines[i][2].strip().startswith(fence):
            body.append(lines[i][2][indent:] if lines[i][2][:indent].isspace() else lines[i][2])
            i += 1
        i += 1
        previous = next((t.strip() for _, _, t in reversed(lines[:start]) if t.strip()), "")
        marker = NOT_RUN.match(previous)
        blocks.append(Block(source, number, opening["info"].lower(), "\n".join(body) + "\n",
                            marker["reason"] if marker else None))
    return blocks


def runnable(page: Path) -> list[Block]:
    return [block for block in page_blocks(page) if block.language == RUN]


# --- the rules, checked without running anything ---------------------------------------------
def test_every_shell_block_is_run_or_marked_not_run():
    problems = []
    for page in PAGES:
        for block in page_blocks(page):
            where = f"{block.source}:{block.line}"
            if not block.language:
                problems.append(f"{where}: a fence needs a language (sh, console, text, python …)")
            elif block.language in OTHER_SHELLS:
                problems.append(f"{where}: ```{block.language}: write ```sh (run by the docs test) "
                                "or ```console after <!-- not run: reason -->")
            elif block.language == NOT_RUN_LANG and not block.not_run_reason:
                problems.append(f"{where}: ```console needs <!-- not run: reason --> before it")
            elif block.language == RUN and block.not_run_reason:
                problems.append(f"{where}: a ```sh block is always run; use ```console")
        if _needs_worker(page) and not any(map(_uses_app, runnable(page))):
            problems.append(f"{page.relative_to(REPO)}: a worker for a page that never calls the app")
    assert problems == [], "\n".join(problems)


def test_the_readme_shows_the_two_commands_and_links_the_docs():
    readme = (REPO / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "docs/index.md" in readme and "make docs" in readme


# --- running the pages -----------------------------------------------------------------------
def _admin_dsn(database_url: str, name: str = "postgres") -> str:
    db = dj_database_url.parse(database_url)
    return (f"host={db['HOST']} port={db['PORT'] or 5432} user={db['USER']} dbname={name}"
            + (f" password={db['PASSWORD']}" if db["PASSWORD"] else ""))


def _sql(database_url: str, *statements: str, dbname: str = "postgres") -> None:
    with psycopg.connect(_admin_dsn(database_url, dbname), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def _drop(database_url: str, name: str) -> None:
    _sql(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _database_url(base_url: str, name: str) -> str:
    prefix, _, _ = base_url.rpartition("/")
    return f"{prefix}/{name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _checkout(folder: Path, var: Path | None) -> Path:
    """A checkout of its own: the repository's entries linked in, a ``var/`` of its own."""
    folder.mkdir(parents=True)
    for entry in REPO.iterdir():
        if entry.name not in SKIP_ENTRIES:
            (folder / entry.name).symlink_to(entry)
    if var is not None:
        shutil.copytree(var, folder / "var", symlinks=True)
    else:
        (folder / "var").mkdir()
    return folder


def _env(checkout: Path, database_url: str, **extra: str) -> dict[str, str]:
    """A fresh machine's environment: none of the project's variables but the database and the
    checkout's var/, the virtualenv first on PATH (as ``. .venv/bin/activate`` does)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ENVIRONMENT_VARIABLES and k not in ("VIRTUAL_ENV", "GRIDTWIN")}
    env.update(PATH=f"{checkout / '.venv' / 'bin'}:{os.environ['PATH']}",
               VIRTUAL_ENV=str(checkout / ".venv"), DATABASE_URL=database_url,
               GRIDTWIN_VAR_DIR=str(checkout / "var"), PYTHONUNBUFFERED="1", **extra)
    return env


def _stop(process: subprocess.Popen) -> None:
    """End a process this test started, and its children (it leads its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@dataclass
class PageRun:
    page: str
    blocks: int
    completed: list[int] = field(default_factory=list)
    returncode: int | None = None
    output: str = ""
    seconds: float = 0.0

    def tail(self, chars: int = 6000) -> str:
        return self.output[-chars:]


def _uses_app(block: Block) -> bool:
    return "$GRIDTWIN" in block.text or "${GRIDTWIN" in block.text


def _needs_worker(page: Path) -> bool:
    """The page has the worker mark on a line of its own (not merely quoted in the text)."""
    return WORKER_MARK in (line.strip() for line in page.read_text().splitlines())


def _script(blocks: list[Block], progress: Path) -> str:
    parts = ["set -euo pipefail"]
    waited = False
    for number, block in enumerate(blocks, 1):
        if _uses_app(block) and not waited:  # the test's plumbing, not the page's
            parts.append('for _ in $(seq 240); do curl -fs "$GRIDTWIN/healthz" >/dev/null && break; '
                         "sleep 0.5; done")
            waited = True
        parts.append(f"# --- block {number}: {block.source}:{block.line}")
        parts.append(f"echo '$ # block {number} ({block.source}:{block.line})'")
        parts.append(block.text.rstrip("\n"))
        parts.append(f"echo {number} >> {shlex.quote(str(progress))}")
    return "\n".join(parts) + "\n"


def run_page(page: Path, template: dict, work: Path) -> PageRun:
    """Run a page's ``sh`` blocks in a checkout and database of its own."""
    started = time.monotonic()
    blocks = runnable(page)
    relative = str(page.relative_to(REPO))
    slug = re.sub(r"[^a-z0-9]+", "_", relative.lower()).strip("_")
    name = f"gridtwin_docs_{slug}"[:63]
    checkout = _checkout(work / slug, template["var"])
    _drop(template["url"], name)
    _sql(template["url"], f'CREATE DATABASE "{name}" TEMPLATE "{template["name"]}"')
    database_url = _database_url(template["url"], name)
    uses_app = any(_uses_app(b) for b in blocks)
    needs_worker = _needs_worker(page)
    extra = {}
    app: list[subprocess.Popen] = []
    log = open(work / f"{slug}.app.log", "wb")
    try:
        if uses_app:
            port = _free_port()
            extra["GRIDTWIN"] = f"http://127.0.0.1:{port}"
            env = _env(checkout, database_url, **extra)
            app.append(subprocess.Popen(
                ["python", "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        if needs_worker:
            app.append(subprocess.Popen(
                ["python", "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
                 "--concurrency=1", "--without-gossip", "--without-mingle"],
                cwd=checkout, env=_env(checkout, database_url, **extra), stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True))
        progress = work / f"{slug}.progress"
        progress.touch()
        script = work / f"{slug}.sh"
        script.write_text(_script(blocks, progress))
        result = PageRun(relative, len(blocks))
        bash = subprocess.Popen(["bash", str(script)], cwd=checkout,
                                env=_env(checkout, database_url, **extra), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = bash.communicate(timeout=PAGE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _stop(bash)
            output = (bash.stdout.read() if bash.stdout else b"") + b"\n[timed out]"
        result.returncode = bash.returncode
        result.output = output.decode(errors="replace")
        result.completed = [int(n) for n in progress.read_text().split()]
    finally:
        for process in app:
            _stop(process)
        log.close()
        _drop(template["url"], name)
    if app and result.returncode != 0:
        result.output += "\n--- app log (tail) ---\n" + (work / f"{slug}.app.log").read_text(
            errors="replace")[-4000:]
    result.seconds = time.monotonic() - started
    return result


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The state ``make run`` leaves behind, made once: a migrated PostGIS database with the
    demo operator and the demo region, and the ``var/`` that goes with it."""
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith("postgis://"):
        pytest.skip("the documentation's commands run on PostGIS (DATABASE_URL=postgis://…)")
    name = "gridtwin_docs_template"
    _drop(base_url, name)
    _sql(base_url, f'CREATE DATABASE "{name}"')
    _sql(base_url, "CREATE EXTENSION postgis", dbname=name)
    url = _database_url(base_url, name)
    checkout = _checkout(tmp_path_factory.mktemp("docs") / "template", None)
    # What scripts/run-embedded.sh does before it starts the processes, in one interpreter.
    setup = ("import django; django.setup(); from django.core.management import call_command; "
             "call_command('migrate', interactive=False, verbosity=0); "
             "call_command('ensure_demo_user'); call_command('load_demo')")
    done = subprocess.run(["python", "-c", setup], cwd=checkout, env=_env(checkout, url),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    yield {"url": url, "name": name, "var": checkout / "var"}
    _drop(base_url, name)


PAGES_TO_RUN = [page for page in PAGES if runnable(page)]


def _weight(page: Path) -> int:
    """A rough cost of running a page: its commands, and the app it needs."""
    blocks = runnable(page)
    text = "".join(block.text for block in blocks)
    return (text.count("manage.py") + 2 * any(_uses_app(b) for b in blocks)
            + 2 * _needs_worker(page))


@pytest.fixture(scope="module")
def page_runs(request, template, tmp_path_factory) -> dict[str, PageRun]:
    """Run every selected page, side by side."""
    selected = {item.callspec.params["page"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_page_commands_run"
                and hasattr(item, "callspec")}
    work = tmp_path_factory.mktemp("docs-pages")
    jobs = max(1, int(os.environ.get("DOCS_TEST_JOBS", "2")))
    pages = [page for page in PAGES_TO_RUN if str(page.relative_to(REPO)) in selected]
    pages.sort(key=_weight, reverse=True)  # the longest first: the pool finishes together
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = list(pool.map(lambda page: run_page(page, template, work), pages))
    for run in runs:
        print(f"{run.page}: {run.blocks} block(s) in {run.seconds:.1f} s")
    return {run.page: run for run in runs}


@pytest.mark.worker
@pytest.mark.timeout(1200)  # the first page's test sets up the template and runs every page
@pytest.mark.parametrize("page", [str(p.relative_to(REPO)) for p in PAGES_TO_RUN])
def test_page_commands_run(page, page_runs):
    run = page_runs[page]
    assert run.returncode == 0, (
        f"{page}: block {len(run.completed) + 1} of {run.blocks} failed "
        f"(exit {run.returncode}):\n{run.tail()}")
    assert run.completed == list(range(1, run.blocks + 1)), f"{page}: not every sh block ran"
