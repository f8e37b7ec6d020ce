"""The OpenAPI schema groups every operation under one declared, described tag (config/openapi.py)."""

from __future__ import annotations

import json

import pytest

from config.openapi import tag_for_path

pytestmark = pytest.mark.django_db

EXPECTED_TAGS = {"twin", "markets", "routing", "jobs", "auth"}


@pytest.fixture
def schema(crew_client) -> dict:
    response = crew_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, operation) for path, operations in schema["paths"].items()
            for method, operation in operations.items() if method in
            ("get", "put", "post", "patch", "delete", "head", "options", "trace")]


def test_the_schema_declares_exactly_the_tags_each_with_a_description(schema):
    declared = {tag["name"]: tag.get("description", "") for tag in schema["tags"]}
    assert set(declared) == EXPECTED_TAGS
    assert len(schema["tags"]) == len(EXPECTED_TAGS)
    for name, description in declared.items():
        assert len(description.strip()) > 20, f"tag {name} has no real description"


def test_every_operation_has_exactly_one_declared_tag(schema):
    declared = {tag["name"] for tag in schema["tags"]}
    operations = _operations(schema)
    assert len(operations) > 50
    untagged = [(m, p, o.get("tags")) for p, m, o in operations
                if len(o.get("tags") or []) != 1 or o["tags"][0] not in declared]
    assert untagged == []
    used = {o["tags"][0] for _, _, o in operations}
    assert used == EXPECTED_TAGS  # no declared tag is left empty


@pytest.mark.parametrize(("method", "path", "tag"), [
    ("post", "/api/v1/auth/token/", "auth"),
    ("get", "/api/v1/jobs/", "jobs"),
    ("post", "/api/v1/jobs/{id}/cancel/", "jobs"),
    ("post", "/api/v1/imports/", "jobs"),
    ("get", "/api/v1/markets/", "markets"),
    ("get", "/api/v1/pricing-nodes/{id}/", "markets"),
    ("get", "/api/v1/prices/at/", "markets"),
    ("get", "/api/v1/carbon/", "markets"),
    ("get", "/api/v1/overlays/", "markets"),
    ("post", "/api/v1/computed-prices/", "markets"),
    ("get", "/api/v1/forward-curves/", "markets"),
    ("get", "/api/v1/no-fly-zones/", "routing"),
    ("get", "/api/v1/drones/", "routing"),
    ("get", "/api/v1/drone-ports/", "routing"),
    ("post", "/api/v1/flight-graphs/build/", "routing"),
    ("get", "/api/v1/flight-plans/{id}/export.{fmt}", "routing"),
    ("get", "/api/v1/substations/", "twin"),
    ("get", "/api/v1/lines/{id}/", "twin"),
    ("get", "/api/v1/supports/", "twin"),
    ("get", "/api/v1/chargers/", "twin"),
    ("get", "/api/v1/regions/", "twin"),
    ("get", "/api/v1/exports/{kind}.{fmt}", "twin"),
])
def test_operations_are_tagged_by_their_path(schema, method, path, tag):
    assert schema["paths"][path][method]["tags"] == [tag]


def test_prefixes_match_whole_path_segments():
    # /api/v1/drones/ must not swallow /api/v1/drone-ports/ (or the reverse)
    assert tag_for_path("/api/v1/drone-ports/") == "routing"
    assert tag_for_path("/api/v1/pricing-nodes/") == "markets"
    assert tag_for_path("/api/v1/pricesx/") == "twin"
