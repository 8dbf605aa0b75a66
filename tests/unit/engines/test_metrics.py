"""A generator that finished between two scrapes waits (bounded) for one more, so its last counts are seen."""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

from datafoundry.engines.metrics import GeneratorMetrics
from datafoundry.engines.server import free_port


def test_linger_returns_at_the_next_scrape_with_the_final_counts() -> None:
    metrics = GeneratorMetrics()
    port = free_port()
    assert metrics.serve(port)
    metrics.completion_tokens.inc(42)
    scraped: list[bytes] = []

    def scrape() -> None:
        time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            scraped.append(resp.read())

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    started = time.monotonic()
    assert metrics.linger(20) is True
    assert time.monotonic() - started < 10, "returned at the scrape, not at the bound"
    scraper.join(10)
    assert b"datafoundry_generator_completion_tokens_total 42.0" in scraped[0]


def test_linger_is_bounded_and_skipped_when_not_serving() -> None:
    metrics = GeneratorMetrics()
    assert metrics.linger(5) is False  # no metrics server: nothing to wait for
    assert metrics.serve(free_port())
    started = time.monotonic()
    assert metrics.linger(0.3) is False  # nobody scraped: gives up at the bound
    assert time.monotonic() - started >= 0.3
    assert metrics.linger(0) is False


def test_linger_returns_only_once_the_scrape_response_is_sent() -> None:
    """Regression: the scrape counted when the registry was read, before the response was written, so a
    generator that exited at once left Prometheus a failed scrape and no counts (CI, twice)."""

    class Slow:  # a collector read after the scrape started, slow to answer on a loaded machine
        def describe(self) -> list[Any]:
            return []

        def collect(self) -> list[Any]:
            time.sleep(1.0)
            return []

    metrics = GeneratorMetrics()
    metrics.registry.register(Slow())
    port = free_port()
    assert metrics.serve(port)
    metrics.completion_tokens.inc(7)
    received: list[float] = []

    def scrape() -> None:
        time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            resp.read()
        received.append(time.monotonic())

    scraper = threading.Thread(target=scrape, daemon=True)
    started = time.monotonic()
    scraper.start()
    assert metrics.linger(20) is True
    returned = time.monotonic()
    assert returned - started >= 1.2, "returned when the registry was read, before the response was sent"
    scraper.join(10)
    assert received and received[0] - returned < 2.0
