"""The lenient readers of stored manifests and image configs (registry_api.content): whatever they are given,
they read what they can and never raise."""

from __future__ import annotations

import pytest

from registry_api import content

IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 100_000])
def test_anything_but_a_json_object_reads_as_an_empty_one(body):
    assert content.read_object(body) == {}


def test_an_index_lists_its_entries_and_skips_what_is_no_descriptor():
    document = {"manifests": [
        {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        "junk", {"digest": "sha256:b", "platform": "junk"}, {}]}

    assert content.index_entries(document) == [
        content.IndexEntry("sha256:a", "linux", "arm64", "v8"), content.IndexEntry("sha256:b", "", "", ""),
        content.IndexEntry("", "", "", "")]
    assert content.index_entries({"manifests": "junk"}) == []


def test_layers_are_matched_to_the_history_steps_that_made_a_layer():
    document = {"layers": [{"digest": "sha256:1", "mediaType": "t", "size": 5}, "junk",
                           {"digest": "sha256:2", "size": True}, {"digest": "sha256:3"}]}
    image = {"history": [{"created_by": "/bin/sh -c #(nop) ADD file:x in / "},
                         {"created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
                         {"comment": "  buildkit step  "}, "junk"]}

    assert content.layers(document, image) == [
        content.Layer("sha256:1", "t", 5, "ADD file:x in /"), content.Layer("sha256:2", "", 0, "buildkit step"),
        content.Layer("sha256:3", "", 0, "")]


def test_only_an_image_config_with_a_valid_digest_is_worth_reading():
    digest = "sha256:" + "a" * 64

    assert content.image_config_digest({"config": {"mediaType": IMAGE_CONFIG, "digest": digest}}) == digest
    assert content.image_config_digest({"config": {"mediaType": "application/x-sbom", "digest": digest}}) == ""
    assert content.image_config_digest({"config": {"mediaType": IMAGE_CONFIG, "digest": "sha256:no"}}) == ""
    assert content.config_digest({"config": {"mediaType": "application/x-sbom", "digest": digest}}) == digest
    assert content.config_digest({"config": "junk"}) == ""


def test_labels_and_annotations_read_as_strings():
    assert content.labels({"config": {"Labels": {"a": 1, "b": None}}}) == {"a": "1", "b": "None"}
    assert content.labels({"config": {"Labels": ["junk"]}}) == {}
    assert content.strings(None) == {}
