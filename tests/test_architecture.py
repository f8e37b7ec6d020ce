"""The house plan holds: imports point one way (towards the twin), each app lists its job kinds
in one file, and the twin's job runner does not import its Celery tasks (no cycle)."""

from __future__ import annotations

import ast
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps

from twin.jobs import JOB_KIND_ALIASES, JOB_KINDS

REPO = Path(__file__).resolve().parents[1]
APPS = ("twin", "markets", "routing", "inspections", "partners", "frontend")
# What each app may never import (docs/architecture.md, "One-way imports").
NEVER = {
    "twin": {"markets", "routing", "inspections", "partners", "frontend"},
    "markets": {"routing", "inspections", "partners", "frontend"},
    "routing": {"markets", "inspections", "partners", "frontend"},
    "inspections": {"markets", "partners", "frontend"},
    "partners": {"routing", "inspections", "frontend"},
    # The front end is a client of the API: it may name other apps' URL modules, nothing else.
    "frontend": {"twin", "markets", "routing", "inspections", "partners"},
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by a Python file, with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def broken_rules(root: Path = REPO) -> list[str]:
    """Every import that breaks :data:`NEVER`, as ``path:line imports module``."""
    broken = []
    for app, banned in NEVER.items():
        for path in sorted((root / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for line, module in imported_modules(path):
                top = module.split(".")[0]
                allowed_url = app == "frontend" and module.endswith((".urls", ".apps"))
                if top in banned and not allowed_url:
                    broken.append(f"{path.relative_to(root)}:{line} imports {module}")
    return broken


def test_imports_point_one_way():
    assert broken_rules() == []


def test_the_rule_check_catches_a_broken_import(tmp_path):
    """The check itself can fail: a twin module importing markets is reported."""
    fake = tmp_path / "twin"
    fake.mkdir()
    (fake / "bad.py").write_text("from markets.models import Market\nimport routing.services\n")
    (tmp_path / "frontend").mkdir()
    (tmp_path / "frontend" / "urls.py").write_text("from twin.api import urls\nimport routing.api.urls\n")
    assert broken_rules(tmp_path) == [
        "twin/bad.py:1 imports markets.models",
        "twin/bad.py:1 imports markets.models.Market",
        "twin/bad.py:2 imports routing.services",
        "frontend/urls.py:1 imports twin.api",  # a URL module by name is fine, its package is not
    ]


def test_job_runner_does_not_import_tasks():
    modules = {module for _, module in imported_modules(REPO / "twin" / "jobs.py")}
    assert not {m for m in modules if m.startswith("twin.tasks")}


@pytest.mark.parametrize("app", ["twin", "markets", "routing"])
def test_job_kinds_are_listed_in_one_file_per_app(app):
    """Every job kind of an app is in its job_kinds.py table, and no service registers one."""
    table = import_module(f"{app}.job_kinds").JOB_KINDS
    assert table and all(name.split(".")[0] in (app, "system") for name in table)
    assert {k: JOB_KINDS[k] for k in table} == table
    assert django_apps.get_app_config(app).role_permissions
    for path in (REPO / app).rglob("*.py"):
        assert "@job_kind(" not in path.read_text(), path


def test_former_job_kind_names_still_run():
    """Kinds that moved to the markets app keep their old ``twin.*`` names as aliases."""
    from twin.jobs import canonical_kind

    assert canonical_kind("twin.import_prices") == "markets.import_prices"
    assert set(JOB_KIND_ALIASES.values()) <= set(JOB_KINDS)
    assert not set(JOB_KIND_ALIASES) & set(JOB_KINDS)


@pytest.mark.django_db
def test_a_job_submitted_under_a_former_name_is_stored_under_the_current_one(operator_client):
    answer = operator_client.post("/api/v1/jobs/", {"kind": "twin.compute_lmps",
                                                    "parameters": {"market": "none"}}, format="json")
    assert answer.status_code == 202, answer.content
    assert answer.json()["kind"] == "markets.compute_lmps"
