"""The status patch's retries: bounded exponential backoff with full jitter, Retry-After honoured on
429 and 5xx (pure retry logic: the calls are fakes, the API server is not)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from kubernetes.client import ApiException

from datafoundry.controller import kube
from datafoundry.engines.retry import Backoff


class Headers(dict[str, str]):
    """What urllib3 gives: a mapping with get()."""


def api_error(status: int, retry_after: str | None = None) -> ApiException:
    e = ApiException(status=status, reason="x")
    e.headers = Headers({"Retry-After": retry_after} if retry_after is not None else {})
    return e


def flaky(errors: list[ApiException]) -> tuple[Any, list[int]]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    return call, calls


def test_retry_after_sets_the_wait_on_throttling_and_server_errors() -> None:
    call, calls = flaky([api_error(429, "3"), api_error(503, "1"), api_error(500)])
    sleeps: list[float] = []
    backoff = Backoff(base=0.2, cap=10.0)
    result = kube.with_retries(call, verb="patch", attempts=5, backoff=backoff, retryable=kube.PATCH_RETRYABLE,
                               sleep=sleeps.append, rng=random.Random(1))
    assert result == "ok" and len(calls) == 4
    assert sleeps[:2] == [3.0, 1.0]
    assert 0 <= sleeps[2] <= 0.2 * 2**2  # no header: exponential backoff with full jitter


def test_retry_after_is_capped_and_ignored_on_a_conflict() -> None:
    sleeps: list[float] = []
    call, _ = flaky([api_error(429, "600"), api_error(409, "5")])
    kube.with_retries(call, verb="patch", attempts=5, backoff=Backoff(base=0.2, cap=10.0),
                      retryable=kube.PATCH_RETRYABLE, sleep=sleeps.append, rng=random.Random(2))
    assert sleeps[0] == 10.0 and sleeps[1] <= 0.4


def test_backoff_grows_and_gives_up_after_the_attempts() -> None:
    sleeps: list[float] = []
    call, calls = flaky([api_error(503) for _ in range(10)])
    with pytest.raises(ApiException):
        kube.with_retries(call, verb="patch", attempts=5, backoff=Backoff(base=1.0, cap=100.0),
                          retryable=kube.PATCH_RETRYABLE, sleep=sleeps.append, rng=random.Random(3))
    assert len(calls) == 5 and len(sleeps) == 4
    assert all(0 <= s <= 2**k for k, s in enumerate(sleeps))
    assert sum(sleeps) > 0


def test_errors_no_retry_fixes_are_raised_at_once() -> None:
    for status in (400, 403, 404, 422):
        sleeps: list[float] = []
        call, calls = flaky([api_error(status)])
        with pytest.raises(ApiException):
            kube.with_retries(call, verb="patch", attempts=5, backoff=Backoff(), retryable=kube.PATCH_RETRYABLE,
                              sleep=sleeps.append)
        assert len(calls) == 1 and sleeps == []


def test_patch_status_sleeps_between_attempts_and_ignores_a_deleted_job(monkeypatch: pytest.MonkeyPatch) -> None:
    errors = [api_error(429, "2"), api_error(404)]
    requests: list[str] = []

    def request(method: str, path: str, body: Any = None, content_type: str = "") -> bytes:
        requests.append(f"{method} {path} {content_type}")
        if errors:
            raise errors.pop(0)
        return b"{}"

    monkeypatch.setattr(kube, "raw_request", request)
    sleeps: list[float] = []
    kube._patch_status("ns", "job", {"phase": "Generating"}, sleep=sleeps.append)  # 404 at the end: no error
    assert sleeps == [2.0] and len(requests) == 2
    assert requests[0].endswith("/namespaces/ns/datafoundryjobs/job/status application/merge-patch+json")
