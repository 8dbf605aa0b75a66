"""PNG pictures of a quality report (`quality.json`), for the published dataset card.

matplotlib is an optional extra (`pip install datafoundry[report]`): the publish image ships it, the
operator image does not. Nothing here imports it at module level; call `available()` first.

Every picture is drawn on its own `matplotlib.figure.Figure` with the Agg canvas (never pyplot, so
no global backend or figure registry is touched), at a fixed size (600x350 pixels), and saved
without the "Software" text chunk, so the same report always gives byte-identical PNGs (a rerun of
publish writes identical objects). Each PNG carries its title and axis labels as PNG text chunks
("Title", "Description") so the picture can be checked without looking at it.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 6.0, 3.5, 100  # 600 x 350 pixels
MAX_LABEL = 40  # characters of a bar label before it is cut with an ellipsis
FUNNEL_STAGES = ("prompts", "generated", "accepted", "published")
BAR = "#4C72B0"
EMPTY = "#C44E52"
THRESHOLD = "#C44E52"


def available() -> bool:
    """True when matplotlib can be imported (the `report` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError:
        return False
    return True


def render(report: Mapping[str, Any]) -> dict[str, tuple[str, bytes]]:
    """The report's pictures: {"plots/<name>.png": (title, png bytes)}; a picture whose data the report
    lacks (no fields, no judge scores, no coverage, no funnel) is left out."""
    out: dict[str, tuple[str, bytes]] = {}
    for key, draw in (
        ("plots/lengths.png", _lengths),
        ("plots/judge-scores.png", _judge_scores),
        ("plots/coverage.png", _coverage),
        ("plots/funnel.png", _funnel),
    ):
        drawn = draw(report)
        if drawn is not None:
            out[key] = drawn
    return out


# --- the four pictures ------------------------------------------------------------------------------


def _lengths(report: Mapping[str, Any]) -> tuple[str, bytes] | None:
    fields = _mapping(report.get("fields"))
    panels: list[tuple[str, list[float], list[float]]] = []
    for name, field in fields.items():
        hist = _mapping(_mapping(_mapping(field).get("chars")).get("histogram"))
        edges, counts = _numbers(hist.get("edges")), _numbers(hist.get("counts"))
        if counts and len(edges) == len(counts) + 1:
            panels.append((str(name), edges, counts))
    if not panels:
        return None
    title = "Record length by field"
    fig = _figure()
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    small = len(panels) > 1
    for i, (name, edges, counts) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        lefts = edges[:-1]
        widths = [max(b - a, 0.0) for a, b in itertools.pairwise(edges)]
        if not any(widths):  # every record the same length: one visible bar
            widths = [1.0] * len(widths)
        ax.bar(lefts, counts, width=widths, align="edge", color=BAR, edgecolor="white", linewidth=0.5)
        ax.set_title(_cut(name), fontsize=9 if small else 11)
        ax.set_xlabel("characters", fontsize=8 if small else 10)
        ax.set_ylabel("records", fontsize=8 if small else 10)
        ax.tick_params(labelsize=7 if small else 9)
        _whole_counts(ax, "y")
    # Fixed margins, not a layout engine: constrained layout draws each figure several times (2x the cost).
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.14 if rows == 1 else 0.1, top=0.9, wspace=0.32, hspace=0.6)
    fields_text = ", ".join(name for name, _, _ in panels)
    return title, _png(fig, title, f"x: characters; y: records; panels: {fields_text}")


def _judge_scores(report: Mapping[str, Any]) -> tuple[str, bytes] | None:
    judge = _mapping(_mapping(report.get("scores")).get("judge"))
    hist = _mapping(judge.get("histogram"))
    bins: list[tuple[float, float]] = []
    for score, n in hist.items():
        s, c = _number(score), _number(n)
        if s is not None and c is not None:
            bins.append((s, c))
    if not bins:
        return None
    bins.sort()
    threshold = _number(judge.get("threshold"))
    title = "LLM-judge scores"
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar([s for s, _ in bins], [c for _, c in bins], width=0.8, color=BAR)
    ax.set_xticks(range(0, 11))
    ax.set_xlim(-0.6, 10.6)
    ax.set_xlabel("judge score")
    ax.set_ylabel("records")
    _whole_counts(ax, "y")
    ax.set_title(title)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.14, top=0.9)
    description = "x: judge score; y: records"
    if threshold is not None:
        ax.axvline(threshold, color=THRESHOLD, linestyle="--", linewidth=1.5, label=f"threshold {threshold:g}")
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        description += f"; threshold: {threshold:g}"
    return title, _png(fig, title, description)


def _coverage(report: Mapping[str, Any]) -> tuple[str, bytes] | None:
    coverage = _mapping(report.get("coverage"))
    taxonomy = _mapping(coverage.get("taxonomy"))
    bars: dict[str, float] = {}
    what = ""
    if taxonomy:
        for node, n in _mapping(taxonomy.get("nodes")).items():
            bars[str(node)] = _number(n) or 0.0
        for node in taxonomy.get("empty") or ():
            bars.setdefault(str(node), 0.0)
        what = "taxonomy node"
    if not bars:
        bars = {str(k): _number(v) or 0.0 for k, v in _mapping(coverage.get("strategies")).items()}
        what = "strategy"
    if not bars:
        bars = {str(k): _number(v) or 0.0 for k, v in _mapping(_mapping(coverage.get("labels")).get("counts")).items()}
        what = "label"
    if not bars:
        return None
    title = f"Records per {what}"
    fig = _figure()
    ax = fig.add_subplot()
    _hbars(ax, bars, zero_label="0 (empty)")
    ax.set_xlabel("records")
    ax.set_title(title)
    empty = [name for name, n in bars.items() if n == 0]
    description = f"x: records; y: {what}; bars: " + ", ".join(f"{k}={v:g}" for k, v in bars.items())
    if empty:
        description += "; empty: " + ", ".join(empty)
    return title, _png(fig, title, description)


def _funnel(report: Mapping[str, Any]) -> tuple[str, bytes] | None:
    funnel = _mapping(_mapping(report.get("process")).get("funnel"))
    bars: dict[str, float] = {}
    for stage in FUNNEL_STAGES:
        n = _number(funnel.get(stage))
        if n is not None:
            bars[stage] = n
    if not bars:
        return None
    title = "Record funnel"
    fig = _figure()
    ax = fig.add_subplot()
    _hbars(ax, bars, zero_label="0")
    ax.set_xlabel("records")
    ax.set_title(title)
    description = "x: records; y: stage; bars: " + ", ".join(f"{k}={v:g}" for k, v in bars.items())
    return title, _png(fig, title, description)


# --- drawing helpers --------------------------------------------------------------------------------


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor="white")


def _png(fig: Figure, title: str, description: str) -> bytes:
    """The figure as PNG bytes, deterministic: no Software chunk, no timestamp; title and labels as text."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # attaches itself to the figure: no pyplot, no global backend
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None, "Title": title, "Description": description})
    return buf.getvalue()


def _whole_counts(ax: Axes, axis: str) -> None:
    """Record counts are whole numbers: no 2.5 ticks."""
    from matplotlib.ticker import MaxNLocator

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(integer=True))


def _hbars(ax: Axes, bars: Mapping[str, float], zero_label: str) -> None:
    """Horizontal bars top to bottom in the given order, each labelled with its count; a zero bar is
    invisible by itself, so its row is labelled `zero_label` in red and its tick label turns red too."""
    names = list(bars)
    values = [bars[n] for n in names]
    rows = list(range(len(names)))
    # room on the left for the longest row name (about 6.5 px a character at 9 pt, in a 600 px figure)
    widest = max((len(_cut(n)) for n in names), default=0)
    ax.figure.subplots_adjust(left=min(0.5, (widest * 6.5 + 30) / (WIDTH_IN * DPI)), right=0.96, bottom=0.14, top=0.9)
    ax.barh(rows, values, color=[EMPTY if v == 0 else BAR for v in values], height=0.7)
    ax.set_yticks(rows, [_cut(n) for n in names])
    ax.invert_yaxis()
    fontsize = 9 if len(names) <= 12 else max(5, 9 - (len(names) - 12) // 4)
    ax.tick_params(axis="y", labelsize=fontsize)
    top = max(values) if values else 0.0
    ax.set_xlim(0, (top or 1.0) * 1.15)
    _whole_counts(ax, "x")
    pad = (top or 1.0) * 0.01
    for row, value, tick in zip(rows, values, ax.get_yticklabels(), strict=True):
        if value == 0:
            tick.set_color(EMPTY)
            ax.text(pad, row, zero_label, va="center", ha="left", fontsize=fontsize, color=EMPTY)
        else:
            ax.text(value + pad, row, f"{value:g}", va="center", ha="left", fontsize=fontsize)


# --- reading the report defensively (sections may be null or absent) ---------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def _numbers(value: Any) -> list[float]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    out: list[float] = []
    for v in value:
        n = _number(v)
        if n is None:
            return []  # a malformed histogram is left out, not half drawn
        out.append(n)
    return out


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"
