"""`datafoundry check-operator` (the chart's `helm test` Pod): the pure verdict, and the command against
a local HTTP server that answers like a healthy operator, a sick one, or another process."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from datafoundry.cli import main
from datafoundry.controller.healthcheck import METRICS_MARKER, Answer, problems

METRICS = "# HELP datafoundry_reconcile_total Reconciles.\n# TYPE datafoundry_reconcile_total counter\n"
HEALTH, METRICS_URL = "http://op/healthz", "http://op/metrics"


def test_a_healthy_operator_has_no_problems() -> None:
    assert METRICS_MARKER in METRICS
    assert problems(Answer(HEALTH, 200, "{}"), Answer(METRICS_URL, 200, METRICS)) == []


def test_each_failure_is_named_with_its_url() -> None:
    found = problems(Answer(HEALTH, 503), Answer(METRICS_URL, None, error="connection refused"))
    assert found == [f"{HEALTH}: HTTP 503", f"{METRICS_URL}: no answer (connection refused)"]


def test_a_metrics_page_without_the_operators_families_fails() -> None:
    """Something answers on the port, but it is not the operator (a wrong port, another Service)."""
    found = problems(Answer(HEALTH, 200), Answer(METRICS_URL, 200, "# TYPE go_goroutines gauge\ngo_goroutines 7\n"))
    assert len(found) == 1 and "no datafoundry_* metric family" in found[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str]]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, "not found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, tuple[int, str]]]]:
    routes: dict[str, tuple[int, str]] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()


def _check(base: str) -> int:
    return main(["check-operator", f"--health-url={base}/healthz", f"--metrics-url={base}/metrics", "--timeout=2"])


def test_the_command_passes_a_healthy_operator(server: tuple[str, dict[str, tuple[int, str]]],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    base, routes = server
    routes.update({"/healthz": (200, "{}"), "/metrics": (200, METRICS)})
    assert _check(base) == 0
    assert "operator healthy" in capsys.readouterr().out


def test_the_command_fails_a_sick_operator_and_says_why(server: tuple[str, dict[str, tuple[int, str]]],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    base, routes = server
    routes.update({"/healthz": (500, "kopf is not ready"), "/metrics": (200, METRICS)})
    assert _check(base) == 1
    assert f"{base}/healthz: HTTP 500" in capsys.readouterr().err


def test_the_command_fails_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    from datafoundry.engines.server import free_port

    base = f"http://127.0.0.1:{free_port()}"
    assert _check(base) == 1
    err = capsys.readouterr().err
    assert f"{base}/healthz: no answer" in err and f"{base}/metrics: no answer" in err


def test_the_command_refuses_a_non_http_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-operator", "--health-url=file:///etc/passwd", "--metrics-url=file:///etc/passwd"]) == 1
    assert "not an http(s) URL" in capsys.readouterr().err
