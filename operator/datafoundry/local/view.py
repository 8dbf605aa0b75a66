"""The live view of `datafoundry run`: the funnel (generated, drops per filter, accepted), tokens/s,
ETA and shard states, redrawn while the workers run; plain lines when stdout is not a terminal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from datafoundry.api.stages import Stage
from datafoundry.local.runner import LocalJob, funnel, live_progress


def render(job: LocalJob, started: float) -> Group:
    f = funnel(job)
    elapsed = max(1e-6, time.monotonic() - started)
    target = job.spec.target.records
    accepted = f.accepted
    eta = "-"
    if 0 < accepted < target:
        eta = f"{elapsed / accepted * (target - accepted):.0f}s"
    head = Table.grid(padding=(0, 2))
    head.add_row(f"[bold]{job.name}[/]", f"[cyan]{job.stage}[/]", f"round {len(job.rounds) or 1}",
                 f"{elapsed:.0f}s elapsed", f"ETA {eta}")
    fun = Table(title="funnel", show_header=False, box=None)
    fun.add_row("generated", str(f.generated))
    for name, n in sorted(f.rejected.items()):
        fun.add_row(f"  dropped by {name}", f"-{n}")
    fun.add_row("accepted (before global dedup)", f"{accepted} / {target}")
    fun.add_row("tokens/s", f"{f.completion_tokens / elapsed:.1f}")
    if f.parse_failures:
        fun.add_row("parse failures", str(f.parse_failures))
    shards = Table(title="shards", box=None)
    for col in ("stage", "round", "shard", "state", "records"):
        shards.add_column(col)
    for (stage, round_, shard), p in sorted(live_progress(job).items()):
        state = "running" if (stage, round_, shard) in job.running else p.state
        count = p.generated if stage == Stage.GENERATE else p.accepted
        shards.add_row(stage, str(round_), str(shard), state, str(count))
    return Group(head, fun, shards)


@contextmanager
def live_view(job: LocalJob, console: Console | None = None) -> Iterator[None]:
    console = console or Console()
    started = time.monotonic()
    if not console.is_terminal:
        last: list[str] = [""]

        def log_line(j: LocalJob) -> None:
            f = funnel(j)
            line = f"{j.stage}: generated {f.generated}, accepted {f.accepted}/{j.spec.target.records}"
            if line != last[0]:
                console.print(line)
                last[0] = line

        job.on_update = log_line
        yield
        return
    stop = threading.Event()
    with Live(render(job, started), console=console, refresh_per_second=2) as live:
        def refresh() -> None:
            while not stop.wait(0.5):
                live.update(render(job, started))

        thread = threading.Thread(target=refresh, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            live.update(render(job, started))
