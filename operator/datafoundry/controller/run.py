"""`datafoundry operator`: the kopf operator with metrics, probes, namespace scoping and peering."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import random
import threading
import time
from collections.abc import Sequence

import kopf
from prometheus_client import start_http_server

from datafoundry.controller import leadership, metrics

# glibc's mallopt parameter: the number of malloc arenas.
_M_ARENA_MAX = -8


def _tame_malloc(arenas: int = 2, trim_every: float = 60.0) -> None:
    """Keep the resident size close to what is in use (glibc only; elsewhere a no-op).

    glibc gives threads that allocate their own arenas (up to 8 per core) and keeps freed memory in
    them; the client threads' requests and a restart's listing of thousands of children left hundreds
    of megabytes resident that nothing used. Two arenas and a periodic trim return it to the system.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, arenas)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return

    def trim_forever() -> None:
        while True:
            time.sleep(trim_every)
            trim(0)

    threading.Thread(target=trim_forever, name="malloc-trim", daemon=True).start()


def run_operator(
    *,
    namespaces: Sequence[str] = (),
    metrics_port: int = 8080,
    health_port: int = 8081,
    bind: str = "0.0.0.0",  # noqa: S104 - in a pod the probes and Prometheus come from outside
    peering: str | None = None,
    peering_priority: int | None = None,
    verbose: bool = False,
) -> None:
    """Watch all namespaces (no `namespaces`) or only the listed ones; blocks until stopped.

    With `peering`, replicas sharing that KopfPeering/ClusterKopfPeering name elect one active
    replica and the others stand by; without it the operator runs standalone. kopf pauses every
    replica that shares the top priority, so without `peering_priority` each process draws its own.
    """
    if peering is not None and peering_priority is None:
        peering_priority = random.SystemRandom().randint(1, 2**31 - 1)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not verbose:
        # kopf logs every handler run at INFO; our own Events and metrics say what matters.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Importing registers the handlers with kopf's default registry.
    from datafoundry.controller import handlers  # noqa: F401

    _tame_malloc()
    metrics.install_runtime_collectors()
    leadership.follow(peering is not None, lambda active: metrics.leader.set(1 if active else 0))
    start_http_server(metrics_port, addr=bind, registry=metrics.REGISTRY)
    asyncio.run(kopf.operator(
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=peering is None,
        peering_name=peering,
        priority=peering_priority or 0,
        liveness_endpoint=f"http://{bind}:{health_port}/healthz",
        memo=kopf.Memo(namespaces=tuple(namespaces)),
    ))
