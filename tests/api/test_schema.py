"""The OpenAPI 3 schema, the docs pages, and the JSON answer for routes that do not exist."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

from tests.api.conftest import error_of


@pytest.mark.django_db
def test_the_schema_is_valid_openapi_3_json(client):
    response = client.get("/api/v1/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/repositories/{namespace}/{name}/permissions/{kind}/{who}/" in schema["paths"]
    assert set(schema["components"]["securitySchemes"]) == {"apiToken", "basic", "session"}
    assert {"RepositoryRoleEnum", "TeamRoleEnum", "Error"} <= set(schema["components"]["schemas"])
    security = "/api/v1/repositories/{namespace}/{name}/manifests/{digest}/security/"
    assert {security, security + "packages/", security + "rescan/", security + "sbom/",
            "/api/v1/superuser/advisories/", "/api/v1/superuser/advisories/imports/"} <= set(schema["paths"])
    assert {"SecurityReport", "Finding", "ImportRun"} <= set(schema["components"]["schemas"])


@pytest.mark.django_db
def test_the_schema_is_also_yaml(client):
    response = client.get("/api/v1/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content)["info"]["title"] == "Wharf API"


@pytest.mark.django_db
def test_generating_the_schema_gives_no_warnings(tmp_path):
    out = tmp_path / "schema.json"

    call_command("spectacular", "--fail-on-warn", "--validate", "--format", "openapi-json", "--file", str(out))

    assert json.loads(out.read_text())["paths"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_the_docs_pages_are_served_without_a_cdn(client, url):
    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(asset.startswith(("/static/", "/api/v1/redoc/")) for asset in assets)
    assert "cdn." not in page and "unpkg" not in page and "fonts.g" not in page
    assert all(client.get(asset).status_code == 200 for asset in assets)      # served by Wharf itself


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_the_docs_pages_name_no_host_but_the_one_asked(client, settings, url):
    settings.ALLOWED_HOSTS = ["wharf.example"]
    response = client.get(url, HTTP_HOST="wharf.example")
    page = response.content.decode()

    assert response.status_code == 200

    assert set(re.findall(r"https?://([^/\"'\s)]+)", page)) <= {"wharf.example"}


def test_the_redoc_bundle_is_served_without_redoclys_outside_logo(client):
    response = client.get("/api/v1/redoc/redoc.standalone.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"Redoc" in response.content and b"cdn.redoc.ly" not in response.content
    assert client.get("/api/v1/redoc/redoc.standalone.js", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/nothing/", "/api/v1/repositories", "/api/v1/user/tokens/abc/"])
def test_a_route_that_does_not_exist_is_a_json_404(client, url):
    response = client.post(url)

    assert response.status_code == 404
    assert "API paths end in a slash" in error_of(response)["message"]


def test_options_describes_a_route_without_touching_the_repository(world, as_):
    private = as_("outsider").options("/api/v1/repositories/acme/tools/builder/permissions/users/rita/")
    missing = as_("outsider").options("/api/v1/repositories/acme/gone/permissions/users/rita/")

    assert private.status_code == missing.status_code == 200
    assert private.json() == missing.json()
    assert set(private.json()) == {"name", "description", "renders", "parses"}
