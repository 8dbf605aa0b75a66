"""The Prometheus test bed itself: a real server scrapes a real prometheus_client endpoint, and
promtool lints exposition text and rule files."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server

pytestmark = pytest.mark.prometheus

BUCKETS = (0.1, 0.5, 1.0, 5.0)
# 4 observations in (0, 0.1], 4 in (0.1, 0.5], 2 in (0.5, 1]: the median lies in the second
# bucket at rank 5 of 10, so histogram_quantile interpolates 0.1 + 0.4 * (5 - 4) / 4 = 0.2.
OBSERVATIONS = (0.05, 0.05, 0.05, 0.05, 0.2, 0.3, 0.3, 0.4, 0.75, 0.75)


class Exporter:
    """A prometheus_client HTTP server on a free loopback port with its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("dftest_requests", "Requests handled.", ["result"], registry=self.registry)
        self.latency = Histogram(
            "dftest_request_duration_seconds", "Request latency.", buckets=BUCKETS, registry=self.registry
        )
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    exp = Exporter()
    try:
        yield exp
    finally:
        exp.close()


def run_promtool(promtool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def sample(result: list[dict[str, Any]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_scrape_and_query_exact_values(prometheus: Any, exporter: Exporter) -> None:
    job = f"exporter-{uuid.uuid4().hex[:8]}"
    exporter.requests.labels(result="ok").inc(3)
    for v in OBSERVATIONS:
        exporter.latency.observe(v)

    target = prometheus.add_target(job, exporter.address)
    assert target["health"] == "up"
    assert target["scrapeUrl"] == f"http://{exporter.address}/metrics"

    sel = f'job="{job}"'
    assert sample(prometheus.wait_for(f'dftest_requests_total{{{sel},result="ok"}}')) == 3.0
    assert sample(prometheus.query(f"up{{{sel}}}")) == 1.0
    assert sample(prometheus.query(f"dftest_request_duration_seconds_count{{{sel}}}")) == 10.0
    assert sample(prometheus.query(f"dftest_request_duration_seconds_sum{{{sel}}}")) == pytest.approx(
        sum(OBSERVATIONS)
    )
    buckets = {
        r["metric"]["le"]: float(r["value"][1])
        for r in prometheus.query(f"dftest_request_duration_seconds_bucket{{{sel}}}")
    }
    assert buckets == {"0.1": 4.0, "0.5": 8.0, "1.0": 10.0, "5.0": 10.0, "+Inf": 10.0}
    p50 = prometheus.value(
        f"histogram_quantile(0.5, sum by (le) (dftest_request_duration_seconds_bucket{{{sel}}}))"
    )
    assert p50 == pytest.approx(0.2)

    # Counter moves: the new value is scraped and rate() sees the increase.
    exporter.requests.labels(result="ok").inc(7)
    prometheus.wait_for(f'dftest_requests_total{{{sel},result="ok"}} == 10')
    rate = prometheus.wait_for(f'rate(dftest_requests_total{{{sel},result="ok"}}[1m]) > 0')
    assert sample(rate) > 0
    # A rate over a histogram (the dashboard shape) evaluates without error.
    prometheus.query(
        f"histogram_quantile(0.9, sum by (le) (rate(dftest_request_duration_seconds_bucket{{{sel}}}[1m])))"
    )

    prometheus.remove_target(job)
    assert not [t for t in prometheus.targets() if t["labels"].get("job") == job]


def test_bad_promql_raises_with_prometheus_error(prometheus: Any) -> None:
    from fixtures.prometheus import PrometheusQueryError

    with pytest.raises(PrometheusQueryError, match=r"bad_data: .*parse error"):
        prometheus.query("sum(rate(dftest_requests_total[1m])")
    with pytest.raises(PrometheusQueryError, match=r"unknown function with name \\?\"no_such_fn\\?\""):
        prometheus.query("no_such_fn(up)")


def test_promtool_check_metrics(promtool: str, exporter: Exporter) -> None:
    exporter.requests.labels(result="ok").inc()
    exporter.latency.observe(0.3)
    good = generate_latest(exporter.registry).decode()
    res = run_promtool(promtool, "check", "metrics", stdin=good)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (res.stdout + res.stderr).strip() == ""

    bad_registry = CollectorRegistry()
    Histogram("dftest_latency_milliseconds", "Latency in ms.", registry=bad_registry).observe(300)
    bad = generate_latest(bad_registry).decode() + (
        # prometheus_client always appends _total to counters; write a bad one by hand.
        "# HELP dftest_records Records generated.\n# TYPE dftest_records counter\ndftest_records 5\n"
    )
    res = run_promtool(promtool, "check", "metrics", stdin=bad)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert 'dftest_records counter metrics should have "_total" suffix' in out
    assert 'dftest_latency_milliseconds use base unit "seconds" instead of "milliseconds"' in out


VALID_RULES = """\
groups:
  - name: dftest.rules
    interval: 1s
    rules:
      - record: dftest:up:sum
        expr: sum(up)
      - alert: DftestAlwaysFiring
        expr: vector(1) > 0
        labels:
          severity: info
        annotations:
          summary: always firing, for the test bed
"""

INVALID_RULES = """\
groups:
  - name: dftest.broken
    rules:
      - record: dftest:broken
        expr: sum(rate(up[1m])
"""


def test_promtool_check_rules(promtool: str, tmp_path: Path) -> None:
    valid = tmp_path / "valid.rules.yml"
    valid.write_text(VALID_RULES)
    res = run_promtool(promtool, "check", "rules", str(valid))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS: 2 rules found" in res.stdout

    invalid = tmp_path / "invalid.rules.yml"
    invalid.write_text(INVALID_RULES)
    res = run_promtool(promtool, "check", "rules", str(invalid))
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "FAILED" in out
    assert "parse error" in out


def test_server_loads_rule_files(prometheus: Any, tmp_path: Path) -> None:
    from fixtures.prometheus import PrometheusError

    valid = tmp_path / "valid.rules.yml"
    valid.write_text(VALID_RULES)
    groups = prometheus.add_rule_file(valid)
    assert [g["name"] for g in groups] == ["dftest.rules"]
    try:
        # The recording rule is evaluated (every 1s) and the alert fires.
        assert sample(prometheus.wait_for("dftest:up:sum")) >= 0
        firing = prometheus.wait_for('ALERTS{alertname="DftestAlwaysFiring",alertstate="firing"}')
        assert firing[0]["metric"]["severity"] == "info"
    finally:
        prometheus.remove_rule_file(valid)

    invalid = tmp_path / "invalid.rules.yml"
    invalid.write_text(INVALID_RULES)
    with pytest.raises(PrometheusError, match="parse error"):
        prometheus.add_rule_file(invalid)
    # The server keeps working after a rejected reload.
    assert prometheus.query("vector(1)")[0]["value"][1] == "1"

    # PrometheusRule-style groups (the chart's spec.groups) load the same way.
    groups = prometheus.add_rule_groups(
        f"dftest-{uuid.uuid4().hex[:8]}",
        [{"name": "dftest.cr", "interval": "1s", "rules": [{"record": "dftest:one", "expr": "vector(1)"}]}],
    )
    try:
        assert [g["name"] for g in groups] == ["dftest.cr"]
        assert sample(prometheus.wait_for("dftest:one")) == 1.0
    finally:
        prometheus.remove_rule_file(groups[0]["file"])
