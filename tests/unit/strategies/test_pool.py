"""Self-Instruct's instruction pool on real instructions: what it keeps, what it drops and why."""

from __future__ import annotations

import random

import pytest

from datafoundry.strategies.pool import (
    DEFAULT_EXCLUDED_KEYWORDS,
    InstructionPool,
    pooled,
    similarity_bound,
    too_similar,
)
from datafoundry.strategies.screens import rouge_l, words

SEEDS = [
    ("s0", "How do I restart a deployment without downtime?"),
    ("s1", "What is the difference between a Deployment and a StatefulSet?"),
    ("s2", "Explain how a liveness probe differs from a readiness probe."),
]


def test_keeps_new_instructions_and_pools_them_in_order() -> None:
    pool = InstructionPool(SEEDS)
    kept = ["How can I limit the memory a container may use in a pod?",
            "Why does my service return connection refused when the pods are running?",
            "Write a NetworkPolicy that only lets the frontend namespace reach the database."]
    assert [pool.admit(t, f"r{i}") for i, t in enumerate(kept)] == [None, None, None]
    assert [p.text for p in pool.generated] == kept
    assert [p.id for p in pool.generated] == ["r0", "r1", "r2"]


@pytest.mark.parametrize(("text", "reason"), [
    ("Restart deployment.", "too_short"),
    ("Explain " + "the rollout of a deployment and " * 30, "too_long"),
    ("Draw the architecture of a cluster with three nodes.", "excluded_keyword"),
    ("Summarise the attached FILE about node pools.", "excluded_keyword"),
    ("Go  to the dashboard and list the failing pods.", "excluded_keyword"),
    ("Plot CPU usage of each node over the last hour.", "excluded_keyword"),
    ("1. How do I scale a deployment to five replicas?", "not_text"),
    ("- How do I scale a deployment to five replicas?", "not_text"),
    ('"How do I scale a deployment to five replicas?"', "not_text"),
    ("How do I restart a deployment without any downtime?", "similar_to_pool"),  # a seed, reworded
    ("What is the difference between a Deployment and a DaemonSet?", "similar_to_pool"),
])
def test_drops_defective_instructions_by_name(text: str, reason: str) -> None:
    pool = InstructionPool(SEEDS)
    assert pool.admit(text, "x") == reason
    assert len(pool) == 0  # a dropped instruction is not pooled


def test_keywords_match_whole_words_only() -> None:
    pool = InstructionPool(SEEDS)
    # "profile", "mapping", "graphql", "drawback" contain keywords but are other words.
    assert pool.check("Which profile of the scheduler favours mapping pods onto fewer nodes?") is None
    assert pool.check("What is a drawback of exposing a GraphQL API through an ingress?") is None
    assert pool.check("Explain what a ConfigMap is used for.") is None
    assert "go to" in DEFAULT_EXCLUDED_KEYWORDS


def test_generated_instructions_are_compared_too() -> None:
    pool = InstructionPool(SEEDS)
    assert pool.admit("How can I limit the memory a container may use in a pod?") is None
    assert pool.admit("How can I limit the memory that a container may use in a pod?") == "similar_to_pool"
    assert pool.admit("Which CPU limit should the containers of a batch job get?") is None  # F1 below 0.7


def test_options_change_the_bounds() -> None:
    strict = InstructionPool(SEEDS, min_words=5, max_words=10, max_similarity=0.3, excluded_keywords=["helm"])
    assert strict.check("List all namespaces.") == "too_short"
    assert strict.check("How do I roll back a failed Helm release?") == "excluded_keyword"
    assert strict.check("Which command shows the events of a pending pod?") is None
    assert strict.check("Restart a StatefulSet.") == "too_short"
    assert strict.check("Explain how rolling updates replace the old pods of a deployment one by one.") == "too_long"
    assert strict.check("How do I restart a StatefulSet cleanly now?") == "similar_to_pool"  # low threshold
    loose = InstructionPool(SEEDS, excluded_keywords=[])
    assert loose.check("Draw the architecture of a cluster with three nodes.") is None
    with pytest.raises(ValueError, match="maxSimilarity"):
        InstructionPool(SEEDS, max_similarity=1.5)
    with pytest.raises(ValueError, match="minWords"):
        InstructionPool(SEEDS, min_words=10, max_words=5)
    with pytest.raises(ValueError, match="poolSize"):
        InstructionPool(SEEDS, size=-1)


def test_oldest_generated_instruction_is_evicted_seeds_stay() -> None:
    pool = InstructionPool(SEEDS, size=2)
    first = "How can I limit the memory a container may use in a pod?"
    assert pool.admit(first, "a") is None
    assert pool.admit("Why is my persistent volume claim stuck in pending?", "b") is None
    assert pool.admit("Which command prints the logs of a crashed container?", "c") is None
    assert [p.id for p in pool.generated] == ["b", "c"]
    assert pool.check(first) is None  # evicted: no longer compared
    assert pool.check(SEEDS[0][1]) == "similar_to_pool"  # seeds are never evicted
    empty = InstructionPool(SEEDS, size=0)
    assert empty.admit(first, "a") is None and len(empty) == 0


def test_add_pools_without_checking() -> None:
    pool = InstructionPool(SEEDS)
    pool.add("old", SEEDS[0][1])  # accepted earlier by another shard: pooled as it is
    assert [p.id for p in pool.generated] == ["old"]


def test_sample_is_deterministic_distinct_and_bounded() -> None:
    pool = InstructionPool(SEEDS)
    texts = ["How can I limit the memory a container may use in a pod?",
             "Why is my persistent volume claim stuck in pending?",
             "Which command prints the logs of a crashed container?",
             "How do I give a service account permission to list secrets?"]
    for i, t in enumerate(texts):
        assert pool.admit(t, str(i)) is None
    a = pool.sample(random.Random(5), 2)
    assert a == pool.sample(random.Random(5), 2)
    assert len({p.id for p in a}) == 2
    assert {p.id for p in pool.sample(random.Random(5), 10)} == {"0", "1", "2", "3"}
    assert pool.sample(random.Random(5), 0) == []
    assert InstructionPool(SEEDS).sample(random.Random(5), 2) == []


def test_the_bound_never_cuts_a_similar_pair() -> None:
    """The pruning is exact: wherever ROUGE-L reaches the threshold, the bound does too."""
    texts = [t for _, t in SEEDS] + [
        "How do I restart a deployment without any downtime?",
        "restart deployment downtime how do I a without",  # same words, other order: bound high, LCS low
        "What is the difference between a pod and a container?",
        "Explain how a readiness probe differs from a liveness probe.",
    ]
    for a in texts:
        for b in texts:
            pa, pb = pooled("", a), pooled("", b)
            score = rouge_l(words(a), words(b))
            assert similarity_bound(pa, pb) >= score - 1e-12
            assert too_similar(pa, pb, 0.7) == (score >= 0.7)
    shuffled = pooled("", "restart deployment downtime how do I a without")
    assert similarity_bound(shuffled, pooled("", SEEDS[0][1])) >= 0.7 > rouge_l(shuffled.words, words(SEEDS[0][1]))
