"""Prometheus metrics of a generator pod, on a private registry (served on the metrics port)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger("datafoundry.worker.metrics")

BATCH_BUCKETS = (1, 4, 16, 64, 128, 256, 512, 1024, 2048, 4096, 16384, 65536)


#: How long a generator that served metrics waits, at its end, for one more scrape (seconds), so that
#: its final counts reach Prometheus even when it finished between two scrapes.
ENV_METRICS_LINGER = "DATAFOUNDRY_METRICS_LINGER_SECONDS"
DEFAULT_METRICS_LINGER = 30.0


class _ScrapeClock:
    """Counts the scrapes whose response has been sent: a generator about to exit may go once a
    scrape has its final counts on the wire, not merely once the registry was read (a process
    that exits while it writes the response leaves Prometheus a failed scrape and no counts)."""

    def __init__(self) -> None:
        self.scrapes = 0
        self.changed = threading.Condition()

    def sent(self) -> None:
        with self.changed:
            self.scrapes += 1
            self.changed.notify_all()


#: The header in which Prometheus says how long it waits for a scrape's response.
SCRAPE_TIMEOUT_HEADER = "HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS"


def scrape_timeout(environ: dict[str, Any]) -> float | None:
    """The scraper's timeout for this request (seconds), when it said."""
    try:
        return float(environ[SCRAPE_TIMEOUT_HEADER])
    except (KeyError, ValueError):
        return None


class _SentBody:
    """A WSGI response body whose `close` (called by the server after the last byte is written)
    ticks the scrape clock, unless the response took longer than the scraper waits (its
    X-Prometheus-Scrape-Timeout-Seconds): on a busy machine Prometheus gives up on a slow scrape, and
    counting that one would let the generator exit before its final counts were stored."""

    def __init__(self, body: Iterable[bytes], clock: _ScrapeClock, started: float,
                 timeout: float | None = None) -> None:
        self._body = body
        self._clock = clock
        self._started = started
        self._timeout = timeout

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        if self._timeout is None or time.monotonic() - self._started < self._timeout:
            self._clock.sent()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape on stderr."""


class GeneratorMetrics:
    """Counters the engines and the generate worker update; cheap enough to call per request."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.serving = False
        self._clock = _ScrapeClock()
        r = self.registry
        self.prompt_tokens = Counter("datafoundry_generator_prompt_tokens", "Prompt tokens processed.", registry=r)
        self.completion_tokens = Counter(
            "datafoundry_generator_completion_tokens", "Completion tokens generated.", registry=r
        )
        self.tokens_per_second = Gauge(
            "datafoundry_generator_tokens_per_second", "Completion tokens per second over the last batch.", registry=r
        )
        self.requests_in_flight = Gauge(
            "datafoundry_generator_requests_in_flight", "Requests handed to the engine and not answered yet.",
            registry=r,
        )
        self.batch_size = Histogram(
            "datafoundry_generator_batch_size", "Prompts per engine batch.", buckets=BATCH_BUCKETS, registry=r
        )
        self.records = Counter(
            "datafoundry_generator_records", "Records generated, by strategy.", ["strategy"], registry=r
        )
        self.parse_failures = Counter(
            "datafoundry_generator_parse_failures",
            "Completions that gave no record, by strategy and reason.", ["strategy", "reason"], registry=r,
        )
        self.retries = Counter(
            "datafoundry_generator_engine_retries", "Engine requests retried, by reason.", ["reason"], registry=r
        )
        self.chunks = Counter("datafoundry_generator_chunks", "Chunks finished and written.", registry=r)
        self.model_loading = Gauge(
            "datafoundry_generator_model_loading",
            "1 while the generator downloads and loads its model (no tokens are expected then), else 0.",
            registry=r,
        )

    def observe_batch(self, prompts: int, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        self.batch_size.observe(prompts)
        self.prompt_tokens.inc(prompt_tokens)
        self.completion_tokens.inc(completion_tokens)
        if seconds > 0:
            self.tokens_per_second.set(completion_tokens / seconds)

    def serve(self, port: int) -> bool:
        """Expose the registry on `port` (0: don't). A port in use is logged, not fatal."""
        if port <= 0:
            return False
        app = make_wsgi_app(self.registry)
        clock = self._clock

        def counted(environ: dict[str, Any], start_response: Any) -> _SentBody:
            started = time.monotonic()
            return _SentBody(app(environ, start_response), clock, started, scrape_timeout(environ))

        try:
            server = make_server("", port, counted, ThreadingWSGIServer, handler_class=_QuietHandler)
        except OSError as e:
            log.warning("metrics port %d unavailable: %s", port, e)
            return False
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        self.serving = True
        return True

    def linger(self, seconds: float) -> bool:
        """When serving, wait up to `seconds` for one scrape after now (the final counts); True if one came."""
        if not self.serving or seconds <= 0:
            return False
        with self._clock.changed:
            seen = self._clock.scrapes
            return self._clock.changed.wait_for(lambda: self._clock.scrapes > seen, timeout=seconds)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
