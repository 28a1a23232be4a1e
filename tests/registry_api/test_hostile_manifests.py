"""Manifests built to be read two ways, to point clients elsewhere, or to exhaust the server: refused with
MANIFEST_INVALID, at once, and nothing is stored."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry_api.models import Manifest
from tests.factories import sha256
from tests.registry_api.helpers import (
    DOCKER_LAYER,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    encode,
    index_of,
    oci_image,
    push_blob,
    push_manifest,
    put_manifest,
)

NAME = "alice/app"
pytestmark = pytest.mark.django_db


def refused(response, words):
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert error["code"] == "MANIFEST_INVALID"
    assert words in error["message"]


def pushed_image(client, seed="a"):
    """An image manifest pushed by digest; returns its bytes."""
    body = oci_image(client, NAME, seed)
    push_manifest(client, NAME, sha256(body), body, OCI_MANIFEST)
    return body


def image_document(client, **extra):
    return json.loads(oci_image(client, NAME)) | extra


# --- one document, two readings ---------------------------------------------------------------------------------

def test_an_image_manifest_carrying_manifests_is_refused(client, alice):
    child = pushed_image(client, "child")
    document = image_document(client, manifests=[descriptor(OCI_MANIFEST, child)])

    response = put_manifest(client, NAME, "v1", encode(document), OCI_MANIFEST)

    refused(response, "carries manifests")
    assert Manifest.objects.count() == 1   # only the child


@pytest.mark.parametrize("field", ["layers", "config"])
@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_an_index_carrying_layers_or_config_is_refused(client, alice, field, media_type):
    child = pushed_image(client, "child")
    image = json.loads(child)
    document = json.loads(index_of(media_type, [(OCI_MANIFEST, child)])) | {field: image[field]}

    response = put_manifest(client, NAME, "v1", encode(document), media_type)

    refused(response, f"carries {field}")


def test_a_document_without_a_media_type_that_is_both_index_and_image_is_refused(client, alice):
    child = pushed_image(client, "child")
    document = image_document(client, manifests=[descriptor(OCI_MANIFEST, child)])
    del document["mediaType"]

    response = put_manifest(client, NAME, "v1", encode(document), "application/json")

    refused(response, "carries config and layers")


def test_a_repeated_key_is_refused_because_two_parsers_would_read_two_images(client, alice):
    body = oci_image(client, NAME)
    other_layer = b"the other layer"
    push_blob(client, NAME, other_layer)
    # json.loads keeps the last "layers", Go's decoder too, but a first-wins parser keeps the first.
    twice = body.rstrip()[:-1] + b', "layers": ' + json.dumps([descriptor(OCI_LAYER, other_layer)]).encode() + b"}"

    response = put_manifest(client, NAME, "v1", twice, OCI_MANIFEST)

    refused(response, "'layers' appears more than once")
    assert Manifest.objects.count() == 0


def test_a_repeated_key_inside_a_descriptor_is_refused(client, alice):
    body = oci_image(client, NAME)
    digest = json.loads(body)["config"]["digest"]
    twice = body.replace(f'"digest": "{digest}"'.encode(), f'"digest": "{digest}", "digest": "{digest}"'.encode())

    refused(put_manifest(client, NAME, "v1", twice, OCI_MANIFEST), "'digest' appears more than once")


# --- foreign layer URLs -------------------------------------------------------------------------------------------

FOREIGN_LAYER = b"a layer that lives elsewhere"


def with_foreign_layer(client, urls, media_type=DOCKER_LAYER):
    document = image_document(client)
    document["layers"].append(descriptor(media_type, FOREIGN_LAYER, urls=urls))
    return encode(document)


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "https://mcr.microsoft.com/v2/windows/blobs/sha256:0",
])
def test_a_layer_with_urls_is_refused_when_none_are_allowed(client, alice, url):
    response = put_manifest(client, NAME, "v1", with_foreign_layer(client, [url]), OCI_MANIFEST)

    refused(response, "accepts no foreign layer urls")
    assert Manifest.objects.count() == 0


ALLOW_MCR = r"https://mcr\.microsoft\.com/.*"


def test_an_allowed_foreign_url_is_accepted_and_its_layer_need_not_be_held(client, alice, settings):
    settings.WHARF_FOREIGN_URLS_ALLOW = ALLOW_MCR
    body = with_foreign_layer(client, ["https://mcr.microsoft.com/v2/windows/blobs/sha256:0"])

    assert put_manifest(client, NAME, "v1", body, OCI_MANIFEST).status_code == 201


@pytest.mark.parametrize("url", [
    "https://mcr.microsoft.com.evil.example/x",
    "https://evil.example/?https://mcr.microsoft.com/x",
    "http://mcr.microsoft.com/x",
])
def test_a_url_the_pattern_does_not_match_whole_is_refused(client, alice, settings, url):
    settings.WHARF_FOREIGN_URLS_ALLOW = ALLOW_MCR

    response = put_manifest(client, NAME, "v1", with_foreign_layer(client, [url]), OCI_MANIFEST)

    refused(response, "is not allowed by this registry")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_x", "https://x.example/#frag",
                                 "https:///no-host"])
def test_only_plain_http_and_https_urls_pass_even_a_pattern_that_allows_everything(client, alice, settings, url):
    settings.WHARF_FOREIGN_URLS_ALLOW = ".*"

    response = put_manifest(client, NAME, "v1", with_foreign_layer(client, [url]), OCI_MANIFEST)

    refused(response, "is not allowed by this registry")


def test_urls_on_the_config_are_refused_too(client, alice):
    document = image_document(client)
    document["config"]["urls"] = ["http://169.254.169.254/"]

    refused(put_manifest(client, NAME, "v1", encode(document), OCI_MANIFEST), "accepts no foreign layer urls")


# --- size and nesting of indexes ----------------------------------------------------------------------------------

def test_an_index_listing_more_manifests_than_allowed_is_refused(client, alice, settings):
    settings.WHARF_MAX_INDEX_ENTRIES = 3
    entries = [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + f"{i:064x}", "size": 1} for i in range(4)]
    body = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})

    refused(put_manifest(client, NAME, "v1", body, OCI_INDEX), "at most 3 manifests, this one lists 4")


def test_indexes_nested_deeper_than_allowed_are_refused(client, alice, settings):
    settings.WHARF_MAX_INDEX_DEPTH = 2
    child = (OCI_MANIFEST, pushed_image(client))
    for _level in (1, 2):   # an index of images, then an index of that index: both allowed
        body = index_of(OCI_INDEX, [child])
        push_manifest(client, NAME, sha256(body), body, OCI_INDEX)
        child = (OCI_INDEX, body)

    response = put_manifest(client, NAME, "v3", index_of(OCI_INDEX, [child]), OCI_INDEX)

    refused(response, "indexes nest deeper than 2 levels")
    assert Manifest.objects.count() == 3



def test_an_image_or_an_index_of_images_costs_no_statement_for_the_nesting_check(client, alice):
    # The children's media types come with the statement that finds them; only an index of indexes asks more.
    image = pushed_image(client)
    push_manifest(client, NAME, "v1", image, OCI_MANIFEST)
    index = index_of(OCI_INDEX, [(OCI_MANIFEST, image)])

    with CaptureQueriesContext(connection) as captured:
        push_manifest(client, NAME, "multi", index, OCI_INDEX)

    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    nesting = [sql for sql in reads if "manifest_children" in sql or '"media_type" IN' in sql]
    assert nesting == []

# --- JSON that would exhaust the parser -------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 50_000 + b"]" * 50_000],
                         ids=["open-brackets", "open-objects", "balanced"])
def test_json_nested_a_hundred_thousand_deep_is_refused_without_parsing(client, alice, body):
    response = put_manifest(client, NAME, "v1", body, OCI_MANIFEST)

    refused(response, "nests deeper than 32 levels")


def test_a_manifest_nested_just_past_the_limit_is_refused_and_one_at_it_passes(client, alice):
    def nested(depth):
        value: object = "x"
        for _ in range(depth - 1):   # the manifest itself is the first level
            value = [value]
        return encode(image_document(client, **{"org.example.unknown-field": value}))

    refused(put_manifest(client, NAME, "v1", nested(33), OCI_MANIFEST), "nests deeper than 32 levels")
    assert put_manifest(client, NAME, "v1", nested(32), OCI_MANIFEST).status_code == 201


def test_brackets_inside_strings_do_not_count(client, alice):
    document = image_document(client, annotations={"org.example.brackets": "[{" * 1000})

    assert put_manifest(client, NAME, "v1", encode(document), OCI_MANIFEST).status_code == 201
