"""The quality filter decides every corpus record as recorded in ``corpora/quality_decisions.json``.

The speed work on the filter (one tokenisation per field, fewer passes) must not change a single
decision: every record of the real and defective corpora and of the generated gibberish is checked
against the reasons the filter gave before that work. When a rule changes on purpose, rewrite the
file and review its diff:

    PYTHONPATH=operator .venv/bin/python -m tests.unit.filters.test_quality_decisions --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from datafoundry.filters import QualityFilter

from .filter_corpus import (
    CORPORA,
    as_records,
    handwritten,
    instruction_of,
    keyboard_mash,
    random_hangul,
    random_model_outputs,
    repeated_phrases,
    response_of,
    shuffled_records,
)

DECISIONS = CORPORA / "quality_decisions.json"


def corpora() -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """(language, records) by name: every JSONL file of the corpora, and the tests' gibberish."""
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for path in sorted(CORPORA.glob("**/*.jsonl")):
        language = path.parent.name if path.parent.parent.name == "real" else "en"
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        out[str(path.relative_to(CORPORA))] = (language, records)
    en, ko = handwritten("en"), handwritten("ko")
    en_texts = [response_of(r) for r in en]
    en_prompts, ko_prompts = [instruction_of(r) for r in en], [instruction_of(r) for r in ko]
    out["gibberish/random_model"] = ("en", list(as_records(random_model_outputs(en_texts, 400, seed=1), en_prompts)))
    out["gibberish/shuffled_words"] = ("en", [r for seed in (2, 3, 4) for r in shuffled_records(en, seed)])
    out["gibberish/keyboard_mash"] = ("en", list(as_records(keyboard_mash(300, seed=5), en_prompts)))
    out["gibberish/keyboard_mash_ko"] = ("ko", list(as_records(keyboard_mash(300, seed=6, hangul=True), ko_prompts)))
    out["gibberish/repeated_phrases"] = ("en", list(as_records(repeated_phrases(en_texts, 400, seed=7), en_prompts)))
    out["gibberish/random_hangul"] = ("ko", list(as_records(random_hangul(400, seed=8), ko_prompts)))
    return out


def decisions() -> dict[str, list[str]]:
    """The drop reason of every record ("" for kept), by corpus."""
    filters: dict[str, QualityFilter] = {}
    out: dict[str, list[str]] = {}
    for name, (language, records) in corpora().items():
        f = filters.setdefault(language, QualityFilter(language=language))
        out[name] = [f.apply(r).reason or "" for r in records]
    return out


def test_every_record_is_decided_as_recorded() -> None:
    recorded = json.loads(DECISIONS.read_text(encoding="utf-8"))
    now = decisions()
    assert sorted(now) == sorted(recorded)
    for name, reasons in now.items():
        changed = [(i, was, new) for i, (was, new) in enumerate(zip(recorded[name], reasons, strict=True))
                   if was != new]
        assert not changed, f"{name}: (record, recorded, now) {changed[:10]}"


def test_the_recorded_decisions_cover_keeps_and_drops() -> None:
    recorded = json.loads(DECISIONS.read_text(encoding="utf-8"))
    reasons = {r for rs in recorded.values() for r in rs}
    assert "" in reasons and len(reasons) >= 10 and sum(map(len, recorded.values())) >= 2000


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    DECISIONS.write_text(json.dumps(decisions(), indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {Path(DECISIONS).relative_to(Path.cwd())}")
