"""A generator that finished between two scrapes waits (bounded) for one more, so its last counts are seen."""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

from datafoundry.engines.metrics import GeneratorMetrics
from datafoundry.engines.server import free_port


class Scraper:
    """One scrape of `port` from another thread, after `delay` seconds: the body and when it arrived."""

    def __init__(self, port: int, delay: float) -> None:
        self.body = b""
        self.received: float | None = None
        self._thread = threading.Thread(target=self._scrape, args=(port, delay), daemon=True)

    def _scrape(self, port: int, delay: float) -> None:
        time.sleep(delay)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            self.body = resp.read()
        self.received = time.monotonic()

    def start(self) -> Scraper:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(10)


def test_linger_returns_at_the_next_scrape_with_the_final_counts() -> None:
    metrics = GeneratorMetrics()
    port = free_port()
    assert metrics.serve(port)
    metrics.completion_tokens.inc(42)
    scraper = Scraper(port, 0.3).start()
    started = time.monotonic()
    assert metrics.linger(20) is True
    assert time.monotonic() - started < 10, "returned at the scrape, not at the bound"
    scraper.join()
    assert b"datafoundry_generator_completion_tokens_total 42.0" in scraper.body


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
    started = time.monotonic()
    scraper = Scraper(port, 0.2).start()
    assert metrics.linger(20) is True
    returned = time.monotonic()
    assert returned - started >= 1.2, "returned when the registry was read, before the response was sent"
    scraper.join()
    assert scraper.received is not None and scraper.received - returned < 2.0


def test_a_scrape_slower_than_the_scrapers_timeout_is_not_counted() -> None:
    """Prometheus gives up on a scrape that takes longer than its X-Prometheus-Scrape-Timeout-Seconds: the
    generator must not take such a scrape as the one that stored its final counts (a loaded CI machine)."""

    class Slow:
        def describe(self) -> list[Any]:
            return []

        def collect(self) -> list[Any]:
            time.sleep(0.5)
            return []

    metrics = GeneratorMetrics()
    metrics.registry.register(Slow())
    port = free_port()
    assert metrics.serve(port)

    def scrape(timeout: str) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"X-Prometheus-Scrape-Timeout-Seconds": timeout})
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    too_slow = threading.Thread(target=scrape, args=("0.2",), daemon=True)
    too_slow.start()
    assert metrics.linger(1.5) is False, "counted a scrape its scraper had given up on"
    too_slow.join(10)
    in_time = threading.Thread(target=scrape, args=("5",), daemon=True)
    in_time.start()
    assert metrics.linger(10) is True
    in_time.join(10)
