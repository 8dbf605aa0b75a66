"""hack/bench/corpus.py, the MinHash benchmark's corpus: deterministic per seed, planted pairs with
the stated edits and their exact Jaccard, hard negatives below the threshold, unplanted records far
apart, and the scoring."""

from __future__ import annotations

import itertools
import re
import sys
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hack" / "bench"))

from corpus import THRESHOLD, Corpus, Pair, make_corpus, score, unplanted_similarity


@cache
def small() -> Corpus:
    return make_corpus(400, seed=3)


def shingles(text: str) -> set[str]:
    """5-word shingles, computed here without the module's helpers."""
    w = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return {" ".join(w[i : i + 5]) for i in range(len(w) - 4)}


def direct_jaccard(a: str, b: str) -> float:
    return jaccard_of(shingles(a), shingles(b))


def jaccard_of(sa: set[str], sb: set[str]) -> float:
    return len(sa & sb) / len(sa | sb)


def word_edit_distance(a: list[str], b: list[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def test_the_corpus_is_deterministic_per_seed() -> None:
    again = make_corpus(400, seed=3)
    assert again.records == small().records
    assert again.pairs == small().pairs
    assert make_corpus(400, seed=4).records != small().records


def test_records_are_instruction_response_prose_of_60_to_200_words() -> None:
    c = small()
    assert len(c.records) == 400
    assert len({r["id"] for r in c.records}) == 400
    originals = {p.a for p in c.pairs}
    lengths = [len(words(t)) for i, t in enumerate(c.texts()) if i not in {p.b for p in c.pairs}]
    assert min(lengths) >= 55 and max(lengths) <= 230, (min(lengths), max(lengths))
    assert all(set(r) == {"id", "instruction", "response"} and r["response"].endswith((".", "?", "!"))
               for r in c.records)
    assert len(originals) == len(c.pairs)  # every planted record has its own original: pairs never chain


def test_near_copies_carry_exactly_their_stated_word_edits() -> None:
    near = [p for p in small().pairs if p.kind == "near"]
    assert {p.edits for p in near} == {1, 2, 3, 4}
    texts = small().texts()
    for p in near:
        assert sum(p.ops.values()) == p.edits
        assert word_edit_distance(words(texts[p.a]), words(texts[p.b])) == p.edits


def test_every_planted_jaccard_is_exact() -> None:
    texts = small().texts()
    for p in small().pairs:
        assert abs(p.jaccard - direct_jaccard(texts[p.a], texts[p.b])) < 1e-12


def test_hard_negatives_share_much_text_but_stay_below_the_threshold() -> None:
    hard = [p for p in small().pairs if p.kind == "hard"]
    assert len(hard) == 16
    assert all(0.5 <= p.jaccard < THRESHOLD - 0.02 for p in hard)
    assert any(p.ops.get("sub") for p in hard) and any(p.ops.get("appended_sentences") for p in hard)


def test_there_are_true_pairs_and_near_copies_on_both_sides_of_the_threshold() -> None:
    near = [p for p in small().pairs if p.kind == "near"]
    assert all(p.jaccard >= THRESHOLD for p in near if p.edits == 1)
    assert any(p.jaccard < THRESHOLD for p in near) and sum(p.jaccard >= THRESHOLD for p in near) > len(near) / 2


def test_unplanted_records_are_far_apart() -> None:
    c = small()
    sets = [shingles(t) for t in c.texts()]
    partner = {p.a: p.b for p in c.pairs} | {p.b: p.a for p in c.pairs}
    overall = max(jaccard_of(sets[i], sets[j]) for i, j in itertools.combinations(range(400), 2)
                  if partner.get(i) != j)
    assert overall < 0.35
    measured = unplanted_similarity(c, sample=400, seed=0)  # every record: the same maximum overall
    assert abs(measured["max_jaccard"] - round(overall, 4)) < 1e-9
    assert measured["above_0.5"] == 0
    assert unplanted_similarity(c, sample=50, seed=1)["max_jaccard"] <= measured["max_jaccard"]


def test_scoring_on_a_hand_made_case() -> None:
    pairs = [
        Pair(a=0, b=1, kind="near", edits=1, ops={"sub": 1}, jaccard=0.9),  # true, found (1 removed)
        Pair(a=2, b=3, kind="near", edits=2, ops={"sub": 2}, jaccard=0.85),  # true, missed
        Pair(a=4, b=5, kind="near", edits=3, ops={"del": 3}, jaccard=0.7),  # below: 5 removed -> merged
        Pair(a=6, b=7, kind="hard", edits=5, ops={"sub": 5}, jaccard=0.75),  # hard: 6 removed -> merged
        Pair(a=8, b=9, kind="hard", edits=0, ops={"appended_sentences": 2}, jaccard=0.6),  # kept apart
    ]
    result = score({1, 5, 6, 10}, pairs, 0.8)
    assert result["removed"] == 4
    assert result["recall"] == 0.5
    assert result["precision"] == 0.25  # only 1 belongs to a true pair; 10 belongs to none
    assert result["negatives_merged"] == 2
    assert result["hard_negatives_merged"] == 1
    assert result["recall_by_edits"] == {"1": 1.0, "2": 0.0}
    assert score(set(), pairs, 0.8)["precision"] is None
