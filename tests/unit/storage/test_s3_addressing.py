"""How an S3 store reads the addressing style and endpoint from its environment
(`DATAFOUNDRY_S3_ADDRESSING_STYLE`, `AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`). No network: boto3
builds clients and signs URLs offline."""

from __future__ import annotations

import pytest

from datafoundry.pipeline.contract import ENV_ADDRESSING_STYLE
from datafoundry.storage.s3 import S3Store

KEYS = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}


def url(store: S3Store, key: str = "k") -> str:
    """The URL boto3 addresses for `key` (signed offline: the bucket in the path or in the host)."""
    return str(store.client.generate_presigned_url(
        "get_object", Params={"Bucket": store.bucket, "Key": store._key(key)})).split("?")[0]


@pytest.mark.parametrize(("style", "aws", "custom"), [
    ("auto", "https://bucket.s3.amazonaws.com/out/k", "https://s3.example.com/bucket/out/k"),
    ("path", "https://s3.eu-west-1.amazonaws.com/bucket/out/k", "https://s3.example.com/bucket/out/k"),
    ("virtual", "https://bucket.s3.eu-west-1.amazonaws.com/out/k", "https://bucket.s3.example.com/out/k"),
])
def test_the_addressing_style_decides_where_the_bucket_goes(style: str, aws: str, custom: str) -> None:
    env = {**KEYS, "AWS_DEFAULT_REGION": "eu-west-1"}
    if style != "auto":
        env[ENV_ADDRESSING_STYLE] = style
    store = S3Store("bucket", "out", env=env)
    assert store.client.meta.config.s3 == (None if style == "auto" else {"addressing_style": style})
    assert url(store) == aws
    custom_store = S3Store("bucket", "out", env={**env, "AWS_ENDPOINT_URL": "https://s3.example.com"})
    assert url(custom_store) == custom


def test_an_unknown_style_is_refused_naming_the_variable_and_the_field() -> None:
    with pytest.raises(ValueError, match=rf"{ENV_ADDRESSING_STYLE}='sideways'.*spec.output.addressingStyle"):
        S3Store("bucket", "", env={**KEYS, ENV_ADDRESSING_STYLE: "sideways"})
