"""A real S3 API server for the tests: moto's standalone server (the S3 REST API with multipart uploads and
presigned URLs) in its own process on a free loopback port, with one bucket. Each test gets a prefix of its
own in that bucket, so tests never see each other's keys. The credentials are dummies, set in this
process's environment (boto3's standard chain reads them) and handed to the live servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

BUCKET = "wharf-test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "wharf-test", "AWS_SECRET_ACCESS_KEY": "wharf-test-secret"}
REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint: str
    bucket: str

    def client(self) -> Any:
        return boto3.session.Session().client("s3", endpoint_url=self.endpoint, region_name=REGION)

    def storage_settings(self, prefix: str, redirect: bool = True) -> dict[str, Any]:
        """WHARF_STORAGE for the s3 backend under `prefix`."""
        return {"BACKEND": "s3", "ENDPOINT_URL": self.endpoint, "REGION": REGION, "BUCKET": self.bucket,
                "PREFIX": prefix, "ADDRESSING_STYLE": "path", "REDIRECT": redirect, "REDIRECT_SECONDS": 300}

    def env(self, prefix: str) -> dict[str, str]:
        """The environment of a Wharf process that stores its blobs under `prefix`."""
        return {**CREDENTIALS, "WHARF_STORAGE_BACKEND": "s3", "WHARF_S3_ENDPOINT_URL": self.endpoint,
                "WHARF_S3_REGION": REGION, "WHARF_S3_BUCKET": self.bucket, "WHARF_S3_PREFIX": prefix,
                "WHARF_S3_ADDRESSING_STYLE": "path"}

    def keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [entry["Key"] for page in pages for entry in page.get("Contents", [])]

    def multipart_uploads(self, prefix: str) -> list[str]:
        response = self.client().list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return [upload["Key"] for upload in response.get("Uploads", [])]


def unique_prefix(label: str = "t") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}/"


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto_server did not answer at {url} within {timeout}s")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's server on loopback (it starts in about a second), with the dummy credentials in the env."""
    from tests.conftest import ARTIFACTS, free_port

    patch = pytest.MonkeyPatch()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        patch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        patch.setenv(name, value)
    port = free_port()
    executable = Path(sys.executable).with_name("moto_server")
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "moto-server.log", "ab")  # noqa: SIM115
    process = subprocess.Popen([str(executable), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                               stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS})
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait_for(endpoint, process)
        server = S3Server(endpoint, BUCKET)
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        patch.undo()


@pytest.fixture
def s3_storage(settings, storage, s3_server):  # type: ignore[no-untyped-def]
    """The registry's storage is the moto bucket, under a prefix of this test's own."""
    from registry_api import storage as storage_module

    settings.WHARF_STORAGE = s3_server.storage_settings(unique_prefix())
    storage_module.backend.cache_clear()
    yield storage_module.backend()
    storage_module.backend.cache_clear()
