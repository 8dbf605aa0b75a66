"""The PNG pictures of a quality report: right size, not blank, titled and labelled (PNG text chunks),
byte-identical across calls, and absent when the report has nothing to draw."""

from __future__ import annotations

import copy
import io
import struct
import zlib
from typing import Any

import pytest

from datafoundry.report import plots

pytestmark = pytest.mark.skipif(not plots.available(), reason="matplotlib (the `report` extra) is not installed")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_text(data: bytes) -> dict[str, str]:
    """The tEXt/zTXt/iTXt chunks of a PNG as {keyword: text}; checks every chunk's CRC on the way."""
    assert data.startswith(PNG_SIGNATURE)
    out: dict[str, str] = {}
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        pos += 12 + length
        if kind == b"tEXt":
            key, _, text = body.partition(b"\0")
            out[key.decode("latin-1")] = text.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            out[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\0")
            _translated, _, text = rest.partition(b"\0")
            out[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        elif kind == b"IEND":
            break
    return out


def pixels(data: bytes) -> Any:
    from matplotlib.image import imread

    return imread(io.BytesIO(data), format="png")


def histogram(edges: list[float], counts: list[int]) -> dict[str, Any]:
    return {"edges": edges, "counts": counts}


def dist(edges: list[float], counts: list[int]) -> dict[str, Any]:
    return {"min": edges[0], "p10": edges[1], "p50": edges[len(edges) // 2], "p90": edges[-2], "max": edges[-1],
            "mean": sum(edges) / len(edges), "histogram": histogram(edges, counts)}


@pytest.fixture
def report() -> dict[str, Any]:
    return {
        "apiVersion": "datafoundry.io/quality/v1",
        "kind": "QualityReport",
        "sample": {"records": 40, "of": 40, "seed": 7},
        "size": {"records": 40, "bytes": 31_200, "bySource": {"generated": 40},
                 "tokens": {"total": 7_800, "method": "estimate", "tokenizer": None}},
        "fields": {
            "instruction": {"records": 40,
                            "chars": dist([20, 40, 60, 80, 100, 120], [3, 9, 14, 10, 4]),
                            "tokens": dist([5, 10, 15, 20, 25, 30], [3, 9, 14, 10, 4])},
            "response": {"records": 40,
                         "chars": dist([100, 300, 500, 700, 900], [5, 17, 12, 6]),
                         "tokens": dist([25, 75, 125, 175, 225], [5, 17, 12, 6])},
        },
        "diversity": None,
        "domain": None,
        "coverage": {
            "strategies": {"self-instruct": 40},
            "taxonomy": {"nodes": {"billing": 18, "billing / refunds": 12, "shipping": 10, "shipping / customs": 0},
                         "empty": ["shipping / customs"]},
            "labels": None,
            "turns": None,
        },
        "scores": {"judge": {"histogram": {str(s): n for s, n in enumerate([0, 0, 1, 1, 2, 3, 5, 9, 11, 6, 2])},
                             "threshold": 7, "mean": 7.1}},
        "process": {"funnel": {"prompts": 60, "generated": 58, "accepted": 44, "published": 40},
                    "strategies": {}, "drops": {"filter": {"judge": 14}}, "languages": {"en": 1.0}},
        "samples": [],
        "findings": [],
        "plots": [],
    }


EXPECTED = {
    "plots/lengths.png": ("characters", "records"),
    "plots/judge-scores.png": ("judge score", "records"),
    "plots/coverage.png": ("records", "taxonomy node"),
    "plots/funnel.png": ("records", "stage"),
}


def test_available() -> None:
    assert plots.available() is True


def test_every_plot_is_a_600x350_non_blank_png_with_title_and_axis_labels(report: dict[str, Any]) -> None:
    rendered = plots.render(report)
    assert list(rendered) == list(EXPECTED)
    for key, (title, data) in rendered.items():
        assert data.startswith(PNG_SIGNATURE), key
        image = pixels(data)
        assert image.shape[:2] == (350, 600), key
        assert float(image[..., :3].var()) > 0, f"{key} is blank"
        text = png_text(data)
        assert text["Title"] == title, key
        assert "Software" not in text, f"{key}: a version string would make reruns differ"
        x, y = EXPECTED[key]
        assert f"x: {x}" in text["Description"], (key, text)
        assert f"y: {y}" in text["Description"], (key, text)


def test_titles_and_what_each_plot_names(report: dict[str, Any]) -> None:
    rendered = plots.render(report)
    assert rendered["plots/lengths.png"][0] == "Record length by field"
    assert "panels: instruction, response" in png_text(rendered["plots/lengths.png"][1])["Description"]
    judge = png_text(rendered["plots/judge-scores.png"][1])
    assert judge["Title"] == "LLM-judge scores"
    assert "threshold: 7" in judge["Description"]
    funnel = png_text(rendered["plots/funnel.png"][1])["Description"]
    assert "bars: prompts=60, generated=58, accepted=44, published=40" in funnel


def test_the_empty_taxonomy_node_is_on_the_coverage_plot(report: dict[str, Any]) -> None:
    title, data = plots.render(report)["plots/coverage.png"]
    assert title == "Records per taxonomy node"
    description = png_text(data)["Description"]
    assert "shipping / customs=0" in description
    assert description.endswith("empty: shipping / customs")
    # A node named only in `empty` (not in `nodes`) is drawn as well.
    report["coverage"]["taxonomy"] = {"nodes": {"billing": 5}, "empty": ["returns"]}
    assert "returns=0" in png_text(plots.render(report)["plots/coverage.png"][1])["Description"]


def test_coverage_falls_back_to_strategies_then_labels(report: dict[str, Any]) -> None:
    report["coverage"]["taxonomy"] = None
    title, data = plots.render(report)["plots/coverage.png"]
    assert title == "Records per strategy"
    assert "bars: self-instruct=40" in png_text(data)["Description"]
    report["coverage"]["strategies"] = {}
    report["coverage"]["labels"] = {"counts": {"positive": 21, "negative": 19}, "balance": 0.99}
    title, data = plots.render(report)["plots/coverage.png"]
    assert title == "Records per label"
    assert "y: label; bars: positive=21, negative=19" in png_text(data)["Description"]


def test_render_is_byte_identical_across_calls(report: dict[str, Any]) -> None:
    first = plots.render(report)
    second = plots.render(copy.deepcopy(report))
    assert first == second


def test_no_judge_plot_without_scores(report: dict[str, Any]) -> None:
    report["scores"] = None
    rendered = plots.render(report)
    assert "plots/judge-scores.png" not in rendered
    assert set(rendered) == set(EXPECTED) - {"plots/judge-scores.png"}


def test_a_report_without_fields_or_coverage_draws_only_what_it_has(report: dict[str, Any]) -> None:
    report["fields"] = {}
    report["coverage"] = {"strategies": {}, "taxonomy": None, "labels": None, "turns": None}
    report["scores"] = None
    assert list(plots.render(report)) == ["plots/funnel.png"]
    report["process"] = None
    report["coverage"] = None
    report["fields"] = None
    assert plots.render(report) == {}
    assert plots.render({}) == {}


def test_malformed_or_degenerate_sections_do_not_crash(report: dict[str, Any]) -> None:
    report["fields"] = {
        "broken": {"chars": {"histogram": {"edges": [1, 2], "counts": [1, 2, 3]}}},  # left out
        "same": {"chars": {"histogram": {"edges": [12, 12], "counts": [40]}}},  # every record 12 characters
        "none": {"chars": None},
    }
    report["process"]["funnel"] = {"generated": 0, "accepted": 0, "published": 0}
    rendered = plots.render(report)
    assert "panels: same" in png_text(rendered["plots/lengths.png"][1])["Description"]
    assert float(pixels(rendered["plots/funnel.png"][1])[..., :3].var()) > 0


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # DejaVu Sans has no CJK glyphs
def test_non_latin1_names_survive_in_the_metadata(report: dict[str, Any]) -> None:
    report["coverage"]["taxonomy"] = {"nodes": {"Zahlung": 3, "支払い": 2}, "empty": []}
    _, data = plots.render(report)["plots/coverage.png"]
    assert "支払い=2" in png_text(data)["Description"]
