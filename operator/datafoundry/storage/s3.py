"""S3 storage through boto3, for AWS and S3-compatible stores (endpoint URL, custom CA)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# Standard retry mode backs off on throttling, 5xx and connection errors; 10 attempts ride out
# a store that is briefly down (about 30 s with the jittered exponential backoff).
RETRIES = {"mode": "standard", "max_attempts": 10}


class S3Store:
    def __init__(self, bucket: str, prefix: str, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        kwargs: dict[str, Any] = {
            "config": Config(retries=RETRIES, connect_timeout=5, read_timeout=60),
            "region_name": env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
        }
        if env.get("AWS_ENDPOINT_URL"):
            kwargs["endpoint_url"] = env["AWS_ENDPOINT_URL"]
        if env.get("AWS_CA_BUNDLE"):
            kwargs["verify"] = env["AWS_CA_BUNDLE"]
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            kwargs["aws_access_key_id"] = env["AWS_ACCESS_KEY_ID"]
            kwargs["aws_secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
            if env.get("AWS_SESSION_TOKEN"):
                kwargs["aws_session_token"] = env["AWS_SESSION_TOKEN"]
        self.client = boto3.client("s3", **kwargs)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def get(self, key: str) -> bytes | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise

    def list(self, prefix: str) -> Iterator[str]:
        full = self._key(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]

    def delete_prefix(self, prefix: str) -> int:
        keys = [self._key(k) for k in self.list(prefix)]
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"
