"""S3 storage through boto3, for AWS and S3-compatible stores (endpoint URL, custom CA)."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError, SSLError
from botocore.exceptions import ConnectionError as BotoConnectionError

from datafoundry.pipeline.contract import ENV_ADDRESSING_STYLE

log = logging.getLogger(__name__)
T = TypeVar("T")

# botocore's standard mode retries throttling, 5xx and connection errors, but (botocore >= 1.36)
# backs off from 50 ms: its attempts are spent within seconds of a store going down. So each call
# is also retried here, with backoff, until a time budget is spent: long enough to ride out an S3
# restart (fault tests stop SeaweedFS for 30 s) before a worker fails and its pod is retried.
RETRIES = {"mode": "standard", "max_attempts": 3}
ENV_RETRY_SECONDS = "DATAFOUNDRY_S3_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 120.0
RETRYABLE_CODES = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
                             "ThrottlingException", "RequestLimitExceeded"})


def retryable(e: Exception) -> bool:
    """A failure that a later attempt may not see: the store down, slow, throttling or failing."""
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code")
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in RETRYABLE_CODES or status >= 500 or status == 429
    if isinstance(e, SSLError):
        return False  # a certificate problem does not go away by waiting
    return isinstance(e, BotoConnectionError | ConnectionClosedError | ReadTimeoutError)


ADDRESSING_STYLES = ("auto", "path", "virtual")


def client_config(env: Mapping[str, str]) -> Config:
    """The botocore config of every client: retries, timeouts and `spec.output.addressingStyle`
    ($DATAFOUNDRY_S3_ADDRESSING_STYLE: path puts the bucket in the URL path, virtual in the host name;
    auto, or unset, leaves it to botocore)."""
    style = (env.get(ENV_ADDRESSING_STYLE) or "auto").strip()
    if style not in ADDRESSING_STYLES:
        raise ValueError(f"{ENV_ADDRESSING_STYLE}={style!r}: must be one of {', '.join(ADDRESSING_STYLES)} "
                         "(spec.output.addressingStyle)")
    s3 = {"addressing_style": style} if style != "auto" else None
    return Config(retries=RETRIES, connect_timeout=5, read_timeout=60, s3=s3)


class S3Store:
    def __init__(self, bucket: str, prefix: str, env: Mapping[str, str] | None = None,
                 retry_seconds: float | None = None) -> None:
        """`retry_seconds`: how long a failing store is retried per call (default: $DATAFOUNDRY_S3_RETRY_SECONDS
        or 120 s; 0 leaves only botocore's own quick attempts, for best-effort reads)."""
        env = os.environ if env is None else env
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if retry_seconds is None:
            retry_seconds = float(env.get(ENV_RETRY_SECONDS) or DEFAULT_RETRY_SECONDS)
        self.retry_seconds = retry_seconds
        #: Called with the operation's name before each retry (the operator counts them).
        self.on_retry: Callable[[str], None] | None = None
        kwargs: dict[str, Any] = {
            "config": client_config(env),
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

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as e:
                left = deadline - time.monotonic()
                if left <= 0 or not retryable(e):
                    raise
                delay = min(left, min(8.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                log.warning("S3 %s failed (%s); retrying in %.1fs (%.0fs left)", operation, e, delay, left)
                if self.on_retry is not None:
                    self.on_retry(operation)
                time.sleep(delay)
                attempt += 1

    def get(self, key: str) -> bytes | None:
        def read() -> bytes:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read())

        try:
            return self._call("get", read)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def open(self, key: str) -> BinaryIO | None:
        try:
            return cast(BinaryIO, self._call(
                "get", lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._call("put", lambda: self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type))

    def exists(self, key: str) -> bool:
        try:
            self._call("get", lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise

    def list(self, prefix: str) -> Iterator[str]:
        full = self._key(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
        while True:  # page by page, so that a retry repeats one page
            page = self._call("list", lambda: self.client.list_objects_v2(**kwargs))
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def delete_prefix(self, prefix: str) -> int:
        keys = [self._key(k) for k in self.list(prefix)]
        def delete(batch: list[dict[str, str]]) -> None:
            self._call("delete", lambda: self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}))

        for i in range(0, len(keys), 1000):
            delete([{"Key": k} for k in keys[i : i + 1000]])
        return len(keys)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"
