"""The report's quality measures: hand-computed values on tiny fixtures, edge cases, cross-checks
against direct (slow) implementations, and the measures telling real text from bad text on the
repository's corpora (real SmolLM2 answers, random-model gibberish, near-copies of real answers)."""

from __future__ import annotations

import gzip
import json
import math
import random
import statistics
from collections import Counter
from pathlib import Path

import pytest

from datafoundry.report.measures import (
    compression_ratio,
    distinct_n,
    domain_similarities,
    label_balance,
    quantiles,
    repeated_ngram_share,
    self_bleu,
    stopword_share,
    words,
)

CORPORA = Path(__file__).resolve().parents[1] / "filters" / "corpora"
SMOLLM2 = CORPORA / "real" / "en" / "smollm2-135m-instruct.jsonl"
GIBBERISH = CORPORA / "defective" / "tiny-random-llama.jsonl"

#: The quickstart example's task (examples/quickstart.yaml): its domain and its four seeds.
KUBERNETES_DOMAIN = [
    "Kubernetes operations Q&A: practical questions an SRE asks while running workloads (scheduling, "
    "rollouts, probes, resource limits, debugging pods) with concise, correct answers.",
    "How do I see why a pod is stuck in Pending?\nRun `kubectl describe pod <name>` and read the Events "
    "section; look for FailedScheduling reasons such as insufficient CPU or unmatched node selectors.",
    "How can I roll back a Deployment to its previous version?\nUse `kubectl rollout undo "
    "deployment/<name>`; `kubectl rollout history` lists earlier revisions.",
    "What is the difference between a liveness and a readiness probe?\nA failing liveness probe restarts "
    "the container; a failing readiness probe only removes the pod from Service endpoints.",
    "How do I limit the memory a container may use?\nSet `resources.limits.memory` in the container spec; "
    "the container is OOM-killed when it exceeds the limit.",
]


def _responses(path: Path) -> list[str]:
    return [json.loads(line)["response"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- words --------------------------------------------------------------------------------------


def test_words_casefolds_and_splits_on_punctuation_in_every_script() -> None:
    assert words("Hello, WORLD! Straße don't x_1 42") == ["hello", "world", "strasse", "don", "t", "x_1", "42"]
    assert words("서울은 아름다운 도시입니다.") == ["서울은", "아름다운", "도시입니다"]
    assert words("") == []
    assert words(" \n\t ... !!") == []


# --- quantiles ----------------------------------------------------------------------------------


def test_quantiles_nearest_rank_mean_and_histogram_by_hand() -> None:
    q = quantiles([10, 4, 3, 2, 1, 0], bins=5)
    # sorted 0 1 2 3 4 10 (N = 6); nearest rank ceil(P/100 * 6): p10 -> rank 1 (0), p50 -> rank 3 (2),
    # p90 -> ceil(5.4) = rank 6 (10); mean 20 / 6 = 3.3333
    # 5 bins of width (10 - 0) / 5 = 2: [0,2) 0 1 | [2,4) 2 3 | [4,6) 4 | [6,8) - | [8,10] 10
    assert q == {
        "min": 0,
        "p10": 0,
        "p50": 2,
        "p90": 10,
        "max": 10,
        "mean": 3.3333,
        "histogram": {"edges": [0.0, 2.0, 4.0, 6.0, 8.0, 10.0], "counts": [2, 2, 1, 0, 1]},
    }


def test_quantiles_ranks_are_computed_in_integers() -> None:
    q = quantiles([float(v) for v in range(1, 31)])
    assert q is not None
    # N = 30: p10 -> rank 3, p50 -> rank 15, p90 -> rank 27 (in floats 0.1 * 30 = 3.0000000000000004
    # would round up to rank 4)
    assert (q["p10"], q["p50"], q["p90"]) == (3.0, 15.0, 27.0)
    assert q["mean"] == 15.5  # (1 + 30) / 2
    assert len(q["histogram"]["edges"]) == 21
    assert sum(q["histogram"]["counts"]) == 30


def test_quantiles_edge_cases() -> None:
    assert quantiles([]) is None
    one = quantiles([7])
    assert one == {
        "min": 7,
        "p10": 7,
        "p50": 7,
        "p90": 7,
        "max": 7,
        "mean": 7.0,
        "histogram": {"edges": [7.0, 7.0], "counts": [1]},
    }
    same = quantiles([2.5, 2.5, 2.5], bins=4)
    assert same is not None
    assert same["histogram"] == {"edges": [2.5, 2.5], "counts": [3]}  # all equal: one bin
    assert quantiles([1, 2], bins=1) == {
        "min": 1,
        "p10": 1,
        "p50": 1,
        "p90": 2,
        "max": 2,
        "mean": 1.5,
        "histogram": {"edges": [1.0, 2.0], "counts": [2]},
    }
    with pytest.raises(ValueError, match="bins"):
        quantiles([1, 2], bins=0)


def test_quantiles_histogram_matches_a_direct_count_on_200k_values() -> None:
    rng = random.Random(3)
    values = [rng.randint(0, 5000) for _ in range(200_000)]
    q = quantiles(values, bins=20)
    assert q is not None
    lo, hi = min(values), max(values)
    width = (hi - lo) / 20
    direct = Counter(min(int((v - lo) / width), 19) for v in values)
    assert q["histogram"]["counts"] == [direct[i] for i in range(20)]
    ordered = sorted(values)
    assert q["p50"] == ordered[100_000 - 1]  # rank ceil(0.5 * 200000)
    assert q["p90"] == ordered[180_000 - 1]
    assert q["mean"] == round(sum(values) / len(values), 4)


# --- distinct-n ---------------------------------------------------------------------------------


def test_distinct_n_by_hand() -> None:
    texts = ["The cat sat", "the cat ran."]
    # unigrams: the cat sat the cat ran -> 4 unique (the, cat, sat, ran) / 6 = 0.6667
    assert distinct_n(texts, 1) == 0.6667
    # bigrams: (the cat) (cat sat) (the cat) (cat ran) -> 3 unique / 4 = 0.75
    assert distinct_n(texts, 2) == 0.75
    # trigrams: one per text, different: 2 / 2; n-grams never span two texts
    assert distinct_n(texts, 3) == 1.0
    assert distinct_n(texts, 4) == 0.0  # no 4-grams at all


def test_distinct_n_edge_cases() -> None:
    assert distinct_n([], 1) == 0.0
    assert distinct_n(["", "!!"], 1) == 0.0
    assert distinct_n(["a a a a"], 1) == 0.25  # 1 unique / 4
    assert distinct_n(["서울은 서울은 부산은"], 1) == 0.6667  # 2 / 3
    with pytest.raises(ValueError, match="n must be at least 1"):
        distinct_n(["a"], 0)


# --- compression ratio --------------------------------------------------------------------------


def test_compression_ratio_is_bytes_over_deterministic_gzip_bytes() -> None:
    texts = ["Kubernetes schedules pods onto nodes.", "서울은 한국의 수도입니다."]
    data = "\n".join(texts).encode("utf-8")
    assert len(data) == 37 + 1 + 36  # 11 Hangul syllables of 3 UTF-8 bytes, 2 spaces, a full stop
    expected = round(len(data) / len(gzip.compress(data, compresslevel=9, mtime=0)), 4)
    assert compression_ratio(texts) == expected
    assert compression_ratio(iter(texts)) == expected  # any iterable, the same every time
    assert compression_ratio(["abc " * 500]) > 20 * compression_ratio(["abc"])


def test_compression_ratio_edge_cases() -> None:
    assert compression_ratio([]) == 0.0
    assert compression_ratio([""]) == 0.0
    assert compression_ratio(["a"]) == round(1 / len(gzip.compress(b"a", compresslevel=9, mtime=0)), 4)


# --- repeated n-grams ---------------------------------------------------------------------------


def test_repeated_ngram_share_by_hand() -> None:
    texts = [
        "a b c d",  # (a b c) also in text 2 -> repeated
        "x a b c",  # (a b c) also in text 1 -> repeated
        "a b a b a b",  # (a b a), (b a b) repeat only within this text -> not repeated
        "p q",  # shorter than n = 3 -> cannot repeat
    ]
    assert repeated_ngram_share(texts, n=3) == 0.5  # 2 of 4
    assert repeated_ngram_share(texts, n=2) == 0.75  # (a b) is in texts 1, 2 and 3
    assert repeated_ngram_share(texts, n=5) == 0.0


def test_repeated_ngram_share_edge_cases() -> None:
    assert repeated_ngram_share([]) == 0.0
    assert repeated_ngram_share(["one two three four five six seven eight nine ten"]) == 0.0  # one text
    same = "one two three four five six seven eight nine ten"
    assert repeated_ngram_share([same, same.upper(), "short text"]) == 0.6667  # casefolded: 2 of 3
    assert repeated_ngram_share(["서울은 정말 크다", "부산은 정말 크다", "대구"], n=2) == 0.6667
    with pytest.raises(ValueError, match="n must be at least 1"):
        repeated_ngram_share(["a"], n=0)


def test_repeated_ngram_share_matches_a_direct_computation() -> None:
    rng = random.Random(5)
    vocab = ["a", "b", "c", "d", "e"]
    for _ in range(200):
        texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(1, 6))]
        n = rng.randint(1, 4)
        grams = [{tuple(t[i : i + n]) for i in range(len(t) - n + 1)} for t in map(words, texts)]
        shared = sum(1 for i, g in enumerate(grams) if any(g & other for j, other in enumerate(grams) if j != i))
        assert repeated_ngram_share(texts, n) == round(shared / len(texts), 4), (texts, n)


# --- Self-BLEU ----------------------------------------------------------------------------------


def _bleu(log_precisions: list[float], brevity_penalty: float) -> float:
    return brevity_penalty * math.exp(sum(log_precisions) / len(log_precisions))


def test_self_bleu_by_hand() -> None:
    texts = ["the cat sat on the mat", "the cat sat on a mat", "a dog ran"]
    # text 1 against texts 2 and 3 (clip = largest count in any other text):
    #   1-grams the x2 (clip 1: text 2 has one) cat sat on mat -> 5/6
    #   2-grams (the cat)(cat sat)(sat on) match, (on the)(the mat) do not -> 3/5
    #   3-grams (the cat sat)(cat sat on) of 4 -> 2/4;  4-grams (the cat sat on) of 3 -> 1/3
    #   length 6, closest other length 6 -> BP 1
    bleu1 = _bleu([math.log(5 / 6), math.log(3 / 5), math.log(2 / 4), math.log(1 / 3)], 1.0)
    # text 2: 1-grams all 6 match (a: text 3) -> 6/6; 2-grams (on a)(a mat) miss -> 3/5; 3/4-grams 2/4, 1/3
    bleu2 = _bleu([math.log(6 / 6), math.log(3 / 5), math.log(2 / 4), math.log(1 / 3)], 1.0)
    # text 3: 1-grams only "a" matches -> 1/3; no 2-, 3- or 4-gram matches: smoothing method1 puts
    #   0.1 over the n-gram count, at least 1 -> 0.1/2, 0.1/1, 0.1/1; length 3, closest other 6 ->
    #   BP exp(1 - 6/3)
    bleu3 = _bleu([math.log(1 / 3), math.log(0.1 / 2), math.log(0.1 / 1), math.log(0.1 / 1)], math.exp(1 - 6 / 3))
    assert self_bleu(texts) == round((bleu1 + bleu2 + bleu3) / 3, 4) == 0.3805


def test_self_bleu_clips_with_a_tied_largest_count_and_zero_unigram_matches() -> None:
    # "a a" twice: the largest count of (a) is 2 in both, so each one's other-text clip is 2 -> 2/2;
    # (a a) 1/1; no 3- or 4-grams -> 0.1/1 each; BP 1 (closest other length 2): exp((0+0+2 ln 0.1)/4)
    # "b" shares no unigram with the others -> 0 (NLTK's rule, before smoothing)
    tied = math.exp((2 * math.log(0.1)) / 4)
    assert self_bleu(["a a", "a a", "b"]) == round((tied + tied + 0) / 3, 4) == 0.2108
    # with max_n = 2 the same texts give exp((0 + 0) / 2) = 1 for the copies
    assert self_bleu(["a a", "a a", "b"], max_n=2) == round(2 / 3, 4)


def test_self_bleu_edge_cases() -> None:
    assert self_bleu([]) == 0.0
    assert self_bleu(["only one text here"]) == 0.0
    assert self_bleu(["", ""]) == 0.0  # empty texts score 0
    same = "kubectl rollout undo deployment web"
    assert self_bleu([same, same, same]) == 1.0
    # 3 words: BLEU-4 has no 4-gram, smoothed to 0.1/1 -> exp(ln 0.1 / 4) = 0.5623; BLEU-3 is 1
    assert self_bleu(["서울은 아름다운 도시", "서울은 아름다운 도시"]) == round(0.1**0.25, 4) == 0.5623
    assert self_bleu(["서울은 아름다운 도시", "서울은 아름다운 도시"], max_n=3) == 1.0
    assert self_bleu(["alpha beta gamma", "delta epsilon zeta"]) == 0.0
    with pytest.raises(ValueError, match="max_n must be at least 1"):
        self_bleu(["a", "b"], max_n=0)


def _direct_sentence_bleu(hyp: list[str], refs: list[list[str]], max_n: int) -> float:
    """NLTK's sentence_bleu (uniform weights, method1 smoothing with epsilon 0.1), written out."""
    if not hyp:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        counts = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
        ref_counts = [Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1)) for r in refs]
        clipped = sum(min(c, max(rc[g] for rc in ref_counts)) for g, c in counts.items())
        if n == 1 and clipped == 0:
            return 0.0
        logs.append(math.log((clipped or 0.1) / max(1, sum(counts.values()))))
    closest = min((len(r) for r in refs), key=lambda r: (abs(r - len(hyp)), r))
    bp = 1.0 if len(hyp) > closest else math.exp(1 - closest / len(hyp))
    return _bleu(logs, bp)


def test_self_bleu_matches_a_direct_quadratic_computation() -> None:
    rng = random.Random(11)
    vocab = ["a", "b", "c", "d", "e", "f"]
    for _ in range(150):
        texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 9))) for _ in range(rng.randint(2, 6))]
        max_n = rng.randint(1, 4)
        toks = [words(t) for t in texts]
        direct = [_direct_sentence_bleu(h, toks[:i] + toks[i + 1 :], max_n) for i, h in enumerate(toks)]
        assert self_bleu(texts, max_n) == pytest.approx(sum(direct) / len(direct), abs=1e-4), (texts, max_n)


def test_self_bleu_on_300_texts_of_100_words() -> None:
    rng = random.Random(2)
    vocab = [f"w{i}" for i in range(1500)]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(90, 110))) for _ in range(300)]
    value = self_bleu(texts)
    # independent random words: unigrams mostly match, higher orders almost never
    assert 0.0 < value < 0.05


# --- domain similarity --------------------------------------------------------------------------


def test_domain_similarities_by_hand_one_reference() -> None:
    # documents: "a b" (text), "a c" (reference), N = 2. Features: a, b, "a b" | a, c, "a c".
    # idf(a) = ln(3/3) + 1 = 1 (in both); idf of the others = ln(3/2) + 1 = k (df 1); tf 1 -> weight idf.
    # text = (a 1, b k, ab k), reference = (a 1, c k, ac k): cosine = 1 / (1 + 2k^2)
    k = math.log(3 / 2) + 1
    assert domain_similarities(["a b"], ["a c"]) == [round(1 / (1 + 2 * k * k), 4)] == [0.202]


def test_domain_similarities_by_hand_sublinear_tf_and_centroid() -> None:
    # documents: "x x y" (text), "x", "y" (references), N = 3.
    # df: x 2, y 2, "x x" 1, "x y" 1 -> idf(x) = idf(y) = ln(4/3) + 1 = i1; idf(bigrams) = ln(4/2) + 1 = i2
    # text weights: x (1 + ln 2) * i1, y i1, "x x" i2, "x y" i2
    # references normalised: (x 1), (y 1); centroid (x 1/2, y 1/2), normalised (x 1/sqrt2, y 1/sqrt2)
    i1, i2 = math.log(4 / 3) + 1, math.log(4 / 2) + 1
    wx, wy = (1 + math.log(2)) * i1, i1
    norm = math.sqrt(wx * wx + wy * wy + 2 * i2 * i2)
    expected = (wx + wy) / math.sqrt(2) / norm
    assert domain_similarities(["x x y"], ["x", "y"]) == [round(expected, 4)] == [0.7036]


def test_domain_similarities_edge_cases() -> None:
    refs = ["kubectl rollout undo deployment", "readiness probe endpoints"]
    sims = domain_similarities(["kubectl rollout undo deployment", "bananas and apples", "", "서울은 크다"], refs)
    assert sims[1:] == [0.0, 0.0, 0.0]  # no shared word, no words, another script
    assert 0.5 < sims[0] < 1.0  # the same words as one of two references
    assert domain_similarities([], refs) == []
    assert domain_similarities(["서울은 크다"], ["서울은 크다"]) == [1.0]
    assert domain_similarities(["a b c"], ["a b c"], buckets=1) == [1.0]  # every feature in one bucket
    with pytest.raises(ValueError, match="at least one reference"):
        domain_similarities(["text"], [])
    with pytest.raises(ValueError, match="no words"):
        domain_similarities(["text"], ["...", ""])


# --- stop words ---------------------------------------------------------------------------------


def test_stopword_share_by_hand() -> None:
    # the cat and the dog: the, and, the are English stop words -> 3 / 5
    assert stopword_share(["The cat and", "the dog."], "en") == 0.6
    assert stopword_share(["The cat and the dog."], "en-US") == 0.6
    # 서울은 (ends with the particle 은 after 서울), 아름다운 (no), 도시 (no), 입니다 (a listed word) -> 2/4
    assert stopword_share(["서울은 아름다운 도시 입니다"], "ko") == 0.5
    # a particle counts only after at least one other syllable: 친구에게 yes, 에게 alone no -> 1/2
    assert stopword_share(["친구에게 에게"], "ko") == 0.5
    # French elisions split into listed single letters: l, homme, et, la, femme -> l, et, la = 3/5
    assert stopword_share(["L'homme et la femme"], "fr") == 0.6


def test_stopword_share_edge_cases() -> None:
    assert stopword_share(["any text"], "xx") is None  # no list for the language
    assert stopword_share(["日本語のテキスト"], "ja") is None  # no spaces, no list
    assert stopword_share([], "en") == 0.0
    assert stopword_share(["", "!!"], "en") == 0.0


# --- label balance ------------------------------------------------------------------------------


def test_label_balance_by_hand() -> None:
    assert label_balance({"pos": 5, "neg": 5}) == 1.0
    assert label_balance({"pos": 10, "neg": 0}) == 0.0
    # p = 3/4, 1/4: H = -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.5623; / ln 2 = 0.8113
    assert label_balance({"pos": 3, "neg": 1}) == 0.8113
    # p = 1/2, 1/4, 1/4: H = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2; / ln 3 = 0.9464
    assert label_balance({"a": 2, "b": 1, "c": 1}) == round(1.5 * math.log(2) / math.log(3), 4) == 0.9464
    # a label without records lowers the balance: p = 1/2, 1/2, 0 -> ln 2 / ln 3
    assert label_balance({"a": 4, "b": 4, "c": 0}) == round(math.log(2) / math.log(3), 4)


def test_label_balance_edge_cases() -> None:
    assert label_balance({}) == 1.0  # fewer than 2 labels: defined as balanced
    assert label_balance({"only": 12}) == 1.0
    assert label_balance({"a": 0, "b": 0}) == 1.0  # no records
    assert label_balance({"긍정": 1, "부정": 1}) == 1.0
    with pytest.raises(ValueError, match="negative"):
        label_balance({"a": -1, "b": 3})


# --- real corpora -------------------------------------------------------------------------------


def _near_copies(texts: list[str]) -> list[str]:
    """12 records: the first 3 real answers, 4 copies each, each copy with one word changed."""
    out = []
    for k in range(12):
        tokens = texts[k % 3].split(" ")
        tokens[k // 3 + 1] = f"variant{k}"
        out.append(" ".join(tokens))
    return out


def test_measures_separate_real_answers_from_gibberish_and_near_copies() -> None:
    real = _responses(SMOLLM2)
    gibberish = _responses(GIBBERISH)
    copies = _near_copies(real)
    assert len(real) == len(copies) == 12
    assert len(gibberish) == 160

    # measured: real 0.3765, gibberish 0.0195 (English instructions, random-model answers)
    sw_real, sw_gib = stopword_share(real, "en"), stopword_share(gibberish, "en")
    assert sw_real is not None and sw_gib is not None
    assert sw_real > 0.3 > 0.05 > sw_gib

    # measured: distinct-2 real 0.5687, copies 0.2024 (12 records each)
    assert distinct_n(real, 2) > 0.45
    assert distinct_n(copies, 2) < 0.3
    assert distinct_n(copies, 1) < distinct_n(real, 1)
    assert distinct_n(copies, 3) < distinct_n(real, 3) / 2

    # measured: Self-BLEU real 0.1165, copies 0.9417
    assert self_bleu(real) < 0.25
    assert self_bleu(copies) > 0.85

    # measured: repeated 10-grams real 0.0, copies 1.0 (every copy shares 10-grams with its siblings)
    assert repeated_ngram_share(real) < 0.2
    assert repeated_ngram_share(copies) == 1.0

    # measured: compression real 3.23, copies 8.58
    assert compression_ratio(copies) > 2 * compression_ratio(real)

    # measured medians: real 0.0649 (min 0.0432), gibberish 0.0 (max 0.0126)
    sim_real = domain_similarities(real, KUBERNETES_DOMAIN)
    sim_gib = domain_similarities(gibberish, KUBERNETES_DOMAIN)
    assert statistics.median(sim_real) > 0.04
    assert statistics.median(sim_gib) < 0.01
    assert sum(s > 0.03 for s in sim_real) >= 10
    assert sum(s > 0.03 for s in sim_gib) == 0
