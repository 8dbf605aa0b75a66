"""`datafoundry check-operator`: is a running operator healthy, asked from outside (the chart's `helm test`).

The operator is healthy when its kopf liveness endpoint answers 200 and its /metrics endpoint serves
the operator's own metric families. Standby replicas (kopf peering) pass too: they are healthy.
Only the standard library: the check runs in the operator image with nothing else.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

#: A line every operator /metrics page has, whatever jobs exist (family headers come without samples).
METRICS_MARKER = "# TYPE datafoundry_"


@dataclass(frozen=True)
class Answer:
    url: str
    status: int | None  # None: no HTTP answer at all
    body: str = ""
    error: str = ""


def problems(health: Answer, metrics: Answer) -> list[str]:
    """What is wrong with the two answers; empty when the operator is healthy."""
    out = []
    for answer in (health, metrics):
        if answer.status is None:
            out.append(f"{answer.url}: no answer ({answer.error})")
        elif answer.status != 200:
            out.append(f"{answer.url}: HTTP {answer.status}")
    if metrics.status == 200 and METRICS_MARKER not in metrics.body:
        out.append(f"{metrics.url}: answers, but serves no datafoundry_* metric family (another process?)")
    return out


def fetch(url: str, timeout: float) -> Answer:
    if not url.startswith(("http://", "https://")):
        return Answer(url, None, error="not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (scheme checked above)
            return Answer(url, resp.status, resp.read(4 << 20).decode("utf-8", errors="replace"))
    except urllib.error.HTTPError as e:
        return Answer(url, e.code)
    except (urllib.error.URLError, OSError) as e:
        return Answer(url, None, error=str(getattr(e, "reason", e)))


def check(health_url: str, metrics_url: str, timeout: float = 5.0) -> list[str]:
    return problems(fetch(health_url, timeout), fetch(metrics_url, timeout))
