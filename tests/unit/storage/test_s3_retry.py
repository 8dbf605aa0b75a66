"""S3Store rides out a store that is down for a while (time budget per call), and fails at once on
errors that waiting cannot fix. The end-to-end proof (SeaweedFS stopped for 30 s mid-job) is in
tests/e2e/test_faults.py."""

from __future__ import annotations

import socket

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, SSLError

from datafoundry.storage.s3 import ENV_RETRY_SECONDS, S3Store, retryable


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def store(retry_seconds: float | None = None, env: dict[str, str] | None = None) -> S3Store:
    return S3Store("bucket", "prefix", env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
                                            "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", **(env or {})},
                   retry_seconds=retry_seconds)


def test_which_failures_are_retried() -> None:
    assert retryable(EndpointConnectionError(endpoint_url="http://x"))
    assert retryable(client_error("SlowDown", 503))
    assert retryable(client_error("InternalError", 500))
    assert retryable(client_error("Whatever", 502))
    assert not retryable(client_error("NoSuchKey", 404))
    assert not retryable(client_error("AccessDenied", 403))
    assert not retryable(client_error("InvalidAccessKeyId", 403))
    assert not retryable(SSLError(endpoint_url="https://x", error="bad certificate"))
    assert not retryable(ValueError("a bug"))


@pytest.mark.slow  # waits out the outage
def test_a_call_is_retried_until_it_succeeds() -> None:
    s = store(retry_seconds=30)
    seen: list[str] = []
    s.on_retry = seen.append
    outcomes: list[Exception | None] = [EndpointConnectionError(endpoint_url="http://x"), client_error("SlowDown", 503),
                                        None]

    def flaky() -> str:
        e = outcomes.pop(0)
        if e is not None:
            raise e
        return "ok"

    assert s._call("put", flaky) == "ok"
    assert seen == ["put", "put"]


def test_errors_that_waiting_cannot_fix_are_raised_at_once() -> None:
    s = store(retry_seconds=30)
    seen: list[str] = []
    s.on_retry = seen.append

    def denied() -> None:
        raise client_error("AccessDenied", 403)

    with pytest.raises(ClientError):
        s._call("get", denied)
    assert seen == []


@pytest.mark.slow  # waits out the budget
def test_a_store_that_stays_down_fails_once_the_budget_is_spent() -> None:
    s = store(env={ENV_RETRY_SECONDS: "1.5"})
    assert s.retry_seconds == 1.5
    seen: list[str] = []
    s.on_retry = seen.append
    with pytest.raises(EndpointConnectionError):
        s.put("k", b"x")
    assert seen and set(seen) == {"put"}


def test_best_effort_stores_do_not_wait() -> None:
    s = store(retry_seconds=0)
    seen: list[str] = []
    s.on_retry = seen.append
    with pytest.raises(EndpointConnectionError):
        s.get("k")
    assert seen == []
