"""`spec.output.addressingStyle` on the wire, against the test bed's SeaweedFS: stores built from a
spec exactly as the workers and the operator build them send path-style requests (and work) or
virtual-hosted ones (the bucket in the host name, which a store without wildcard DNS cannot serve:
why S3-compatible stores want `path`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import EndpointConnectionError

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import live_reader, staging
from datafoundry.pipeline import layout
from datafoundry.pipeline.output_env import output_env
from datafoundry.storage import open_store
from datafoundry.storage.s3 import ENV_RETRY_SECONDS, S3Store
from datafoundry.testing.testbed import S3

pytestmark = pytest.mark.integration


def job_spec(s3: S3, prefix: str, **output: Any) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "input": {"uris": [f"s3://{s3.bucket}/{prefix}in/"]}, "target": {"records": 5},
        "output": {"uri": f"s3://{s3.bucket}/{prefix}out", "endpointURL": s3.endpoint_url,
                   "region": s3.env.get("AWS_DEFAULT_REGION", "us-east-1"),
                   "credentials": {"secretRef": {"name": "s3"}}, **output},
    })


def record_urls(store: object) -> list[str]:
    assert isinstance(store, S3Store)
    urls: list[str] = []
    store.client.meta.events.register("before-send.s3", lambda request, **_: urls.append(request.url))
    return urls


def credentials(s3: S3) -> dict[str, str]:
    return {k: v for k, v in s3.env.items() if k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


def test_path_style_from_the_spec_works_against_seaweedfs(
    s3: S3, s3_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = job_spec(s3, s3_prefix, addressingStyle="path")
    # A worker's store: the pod's environment (credentials) plus the plan's output settings.
    store = open_store(spec.output.uri, output_env(spec, credentials(s3)))
    assert isinstance(store, S3Store) and store.client.meta.config.s3 == {"addressing_style": "path"}
    urls = record_urls(store)
    store.put("a/part-0.jsonl", b'{"text": "hello"}\n', "application/x-ndjson")
    assert store.get("a/part-0.jsonl") == b'{"text": "hello"}\n'
    assert store.exists("a/part-0.jsonl") and list(store.list("a/")) == ["a/part-0.jsonl"]
    # The object is where anyone else finds it.
    body = s3.client.get_object(Bucket=s3.bucket, Key=f"{s3_prefix}out/a/part-0.jsonl")["Body"].read()
    assert body == b'{"text": "hello"}\n'
    # Every request named the bucket in the path: http://host:port/<bucket>/<key>.
    endpoint = urlsplit(s3.endpoint_url).netloc
    assert urls and all(urlsplit(u).netloc == endpoint and urlsplit(u).path.startswith(f"/{s3.bucket}")
                        for u in urls), urls

    # The operator's stores (its own credentials, the job's endpoint and style): cleanup and live progress.
    for var, value in credentials(s3).items():
        monkeypatch.setenv(var, value)
    store.put(f"{layout.staging_prefix('uid-1')}/x.json", b"{}")
    assert staging.remove_staging(spec, "uid-1") == 1
    assert not store.exists(f"{layout.staging_prefix('uid-1')}/x.json")
    found = live_reader.output_bucket(spec)
    assert found is not None
    bucket_store, prefix = found
    assert bucket_store.client.meta.config.s3 == {"addressing_style": "path"}
    live_urls = record_urls(bucket_store)
    assert bucket_store.get(f"{prefix}/a/part-0.jsonl") == b'{"text": "hello"}\n'
    assert urlsplit(live_urls[0]).path.startswith(f"/{s3.bucket}/"), live_urls
    store.delete_prefix("")


def test_virtual_style_puts_the_bucket_in_the_host_name(s3: S3, s3_prefix: str) -> None:
    # By IP, botocore always falls back to the path: name the same SeaweedFS by host name.
    endpoint = s3.endpoint_url.replace("127.0.0.1", "localhost")
    spec = job_spec(s3, s3_prefix, addressingStyle="virtual", endpointURL=endpoint)
    store = open_store(spec.output.uri, {**output_env(spec, credentials(s3)), ENV_RETRY_SECONDS: "0"})
    assert isinstance(store, S3Store) and store.client.meta.config.s3 == {"addressing_style": "virtual"}
    urls = record_urls(store)
    # <bucket>.localhost does not resolve here (no wildcard DNS), so the request cannot even connect.
    with pytest.raises(EndpointConnectionError):
        store.put("a/part-0.jsonl", b"{}")
    port = urlsplit(endpoint).port
    assert urls and all(urlsplit(u).netloc == f"{s3.bucket}.localhost:{port}" for u in urls), urls
    assert all(urlsplit(u).path == f"/{s3_prefix}out/a/part-0.jsonl" for u in urls), urls
