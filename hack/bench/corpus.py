"""A seeded natural-text corpus with planted near-duplicates and hard negatives, for MinHash benchmarks.

    from corpus import make_corpus, score
    corpus = make_corpus(200_000, seed=0)   # records (instruction/response dicts) and planted pairs

Records are English prose of ~60-200 words: sentences from templates whose subject, verb, object,
place and time slots are filled from word lists of eight topics, plus (about every second record)
one real sentence of the English test corpora (tests/unit/filters/corpora/real/en). The slots
combine into so many sentences that unplanted records share next to no 5-word shingle.

Planted pairs (each from its own original, so pairs never chain), placed anywhere in the shuffled
corpus:
- ``near``: a copy with a KNOWN number of word edits (1-4 substitutions, insertions or deletions
  of single alphabetic words, at least 6 words apart), so the word-level edit distance of the
  normalised texts is exactly that number;
- ``hard``: a hard negative that shares most of its text with the original but whose true Jaccard
  is below the threshold: spread substitutions, or new sentences appended, one at a time until the
  Jaccard falls below a target drawn in [0.6, threshold - 0.02) (so ~0.5-0.78).
Every pair carries its exact Jaccard of 5-word shingles (lower-cased ASCII alphanumeric words, what
the product's MinHash and :func:`words` see); the ground truth is "Jaccard >= threshold".
Everything is ASCII so that every tokenizer agrees on what a word is.
"""

from __future__ import annotations

import random
import re
import string
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import real_texts, sentences

T = TypeVar("T")


def _w(words: str) -> list[str]:
    return words.split()


THRESHOLD = 0.8
NGRAM = 5
NEAR_SHARE = 0.08  # of all records: planted near copies
HARD_SHARE = 0.04  # of all records: planted hard negatives
MIN_GAP = 6  # words between two edits of one copy

TOPICS: dict[str, dict[str, list[str]]] = {
    "logistics": {
        "people": _w("driver dispatcher clerk planner courier mechanic supervisor inspector forklift-operator "
                  "warehouse-manager customs-agent shift-leader"),
        "things": _w("pallet shipment invoice container parcel manifest truck crate label scanner route "
                  "timesheet delivery order shelf"),
        "verbs": _w("load:loaded unload:unloaded check:checked weigh:weighed label:labelled track:tracked "
                 "store:stored sort:sorted deliver:delivered reschedule:rescheduled inspect:inspected "
                 "count:counted"),
        "places": _w("warehouse loading-dock depot harbour yard back-office cold-store main-gate"),
    },
    "kitchen": {
        "people": _w("baker cook chef waiter dishwasher pastry-chef sous-chef owner apprentice caterer"),
        "things": _w("bread dough sauce oven recipe tray knife soup cake menu pan onion butter kettle"),
        "verbs": _w("bake:baked stir:stirred slice:sliced taste:tasted season:seasoned chop:chopped "
                 "wash:washed serve:served heat:heated cool:cooled peel:peeled roast:roasted"),
        "places": _w("kitchen pantry bakery dining-room market cellar garden canteen"),
    },
    "software": {
        "people": _w("developer tester maintainer reviewer designer intern architect operator analyst "
                  "support-engineer"),
        "things": _w("database server release patch branch script dashboard backup ticket cluster cache "
                  "config report module"),
        "verbs": _w("deploy:deployed test:tested review:reviewed merge:merged restart:restarted "
                 "debug:debugged migrate:migrated document:documented monitor:monitored "
                 "refactor:refactored upgrade:upgraded archive:archived"),
        "places": _w("staging-environment data-centre office repository sandbox lab cloud-account "
                  "build-farm"),
    },
    "garden": {
        "people": _w("gardener neighbour farmer volunteer beekeeper landscaper grower florist"),
        "things": _w("tomato hedge seedling compost rose lawn fence hose shed pond ladder soil bulb "
                  "greenhouse"),
        "verbs": _w("water:watered prune:pruned plant:planted dig:dug rake:raked mow:mowed harvest:harvested "
                 "fertilise:fertilised repot:repotted cover:covered mulch:mulched trim:trimmed"),
        "places": _w("allotment orchard greenhouse vegetable-bed meadow courtyard nursery riverbank"),
    },
    "clinic": {
        "people": _w("nurse doctor pharmacist receptionist patient surgeon midwife paramedic therapist "
                  "dentist"),
        "things": _w("prescription chart bandage sample appointment vaccine thermometer file dressing "
                  "referral wheelchair inhaler"),
        "verbs": _w("examine:examined treat:treated record:recorded prescribe:prescribed clean:cleaned "
                 "measure:measured refer:referred bandage:bandaged discharge:discharged "
                 "monitor:monitored schedule:scheduled explain:explained"),
        "places": _w("ward waiting-room pharmacy surgery reception ambulance clinic laboratory"),
    },
    "school": {
        "people": _w("teacher pupil headmaster librarian tutor coach student caretaker parent "
                  "examiner"),
        "things": _w("essay exam timetable textbook project homework lesson poster experiment report "
                  "laptop whiteboard"),
        "verbs": _w("mark:marked grade:graded explain:explained read:read write:wrote present:presented "
                 "correct:corrected prepare:prepared discuss:discussed collect:collected "
                 "revise:revised print:printed"),
        "places": _w("classroom library gym playground staff-room science-lab hall canteen"),
    },
    "finance": {
        "people": _w("accountant auditor banker cashier broker treasurer bookkeeper advisor investor "
                  "controller"),
        "things": _w("budget ledger loan payment receipt statement forecast account tax-return pension "
                  "spreadsheet cheque"),
        "verbs": _w("approve:approved audit:audited balance:balanced calculate:calculated file:filed "
                 "reject:rejected transfer:transferred review:reviewed sign:signed estimate:estimated "
                 "reconcile:reconciled pay:paid"),
        "places": _w("bank branch-office head-office vault trading-floor tax-office boardroom archive"),
    },
    "travel": {
        "people": _w("pilot guide traveller conductor porter tourist ranger captain steward "
                  "hotel-manager"),
        "things": _w("ticket suitcase passport map itinerary booking train ferry tent compass visa "
                  "guidebook"),
        "verbs": _w("book:booked pack:packed cancel:cancelled pack-up:packed-up confirm:confirmed "
                 "board:boarded photograph:photographed rent:rented carry:carried follow:followed "
                 "explore:explored plan:planned"),
        "places": _w("airport station campsite hotel lobby border-crossing mountain-hut platform"),
    },
}
ADJECTIVES = _w("new old careful tired patient busy quiet young experienced local small heavy broken "
              "urgent second spare damaged missing clean wet")
DETERMINERS = tuple(_w("the the the a one our their every that another"))
TIMES = _w("on-Monday on-Tuesday on-Wednesday on-Thursday on-Friday at-dawn before-lunch after-lunch "
         "in-the-evening late-at-night last-week next-month during-the-storm after-the-holidays "
         "before-the-audit at-the-end-of-the-shift")
NUMBERS = _w("two three four five six seven eight nine ten twelve")
UNITS = _w("minutes hours days weeks")
CONNECTIVES = _w("because so although while after before since once until whenever")

SENTENCE_TEMPLATES = [
    "{S} {past} {O} in the {P} {T}.",
    "{T}, {S} {past} {O} because {S2} {past2} {O2}.",
    "When {S} {past} {O}, {S2} had to {base2} {O2} in the {P}.",
    "{S} will {base} {O} {T} and then {base2} {O2}.",
    "It took {N} {U} for {S} to {base} {O} in the {P}.",
    "{S} asked {S2} to {base} {O} {C} {S3} {past3} {O3}.",
    "Although {S} {past} {O}, {S2} still wanted to {base2} {O2} {T}.",
    "The {A} part was that {S} {past} {O} near the {P}.",
    "If {S} cannot {base} {O} {T}, {S2} should {base2} {O2} in the {P}.",
    "{S} and {S2} {past} {O} together {C} {S3} {past3} {O3}.",
    "Nobody expected {S} to {base} {O} {T}, {C} {S2} had {past2} {O2}.",
    "{S} {past} {N} of the {A} {thing}s in the {P} {T}.",
]
QUESTION_TEMPLATES = [
    "How should {S} {base} {O} in the {P}?",
    "Why did {S} {base} {O} {T}?",
    "Write a short note explaining how {S} can {base} {O}.",
    "What should {S} do if {S2} {past2} {O2} in the {P}?",
    "Describe the best way to {base} {O} {T}.",
    "Summarise what {S} did after {S2} {past2} {O2}.",
]

_WORD_RE = re.compile(r"[a-z0-9]+")
_ALPHA_TOKEN_RE = re.compile(r"([A-Za-z]+)([.,;:!?]?)")


def words(text: str) -> list[str]:
    """Normalised words: lower-cased ASCII alphanumeric runs (what the product's MinHash hashes)."""
    return _WORD_RE.findall(text.lower())


def shingle_set(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    w = words(text)
    if len(w) < n:
        return {tuple(w)} if w else set()
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: set[Any], b: set[Any]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


# -- prose -----------------------------------------------------------------------------------------


def _spaced(word: str) -> str:
    return word.replace("-", " ")


def _fields(template: str) -> tuple[str, ...]:
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


class Prose:
    """Template sentences of one topic at a time, and real sentences."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.real = [s for s in sentences(real_texts()[1]) if s.isascii()]
        self.topics = [{"people": [_spaced(w) for w in t["people"]], "things": [_spaced(w) for w in t["things"]],
                        "verbs": [tuple(_spaced(x) for x in v.split(":")) for v in t["verbs"]],
                        "places": [_spaced(w) for w in t["places"]]}
                       for _, t in sorted(TOPICS.items())]
        self.substitutes = sorted({w for t in TOPICS.values() for k in ("things", "people") for w in t[k]
                                   if w.isalpha()} | set(ADJECTIVES))
        self.times = [_spaced(t) for t in TIMES]
        self.templates = [(t, _fields(t)) for t in SENTENCE_TEMPLATES]
        self.questions = [(t, _fields(t)) for t in QUESTION_TEMPLATES]

    def _pick(self, bank: Sequence[T]) -> T:
        return bank[int(self.rng.random() * len(bank))]

    def _noun_phrase(self, bank: list[str]) -> str:
        det = self._pick(DETERMINERS)
        noun = self._pick(bank)
        if self.rng.random() < 0.6:
            noun = f"{self._pick(ADJECTIVES)} {noun}"
        if det == "a" and noun[0] in "aeiou":
            det = "an"
        return f"{det} {noun}"

    def _fill(self, template: tuple[str, tuple[str, ...]], topic: dict[str, Any]) -> str:
        text, names = template
        slots: dict[str, str] = {}
        verbs: dict[str, tuple[str, str]] = {}
        for name in names:
            if name in slots:
                continue
            kind, suffix = name.rstrip("23"), name[len(name.rstrip("23")):]
            if kind in ("base", "past"):
                verb = verbs.get(suffix) or verbs.setdefault(suffix, self._pick(topic["verbs"]))
                slots[name] = verb[0] if kind == "base" else verb[1]
            elif kind == "S":
                slots[name] = self._noun_phrase(topic["people"])
            elif kind == "O":
                slots[name] = self._noun_phrase(topic["things"])
            elif kind == "P":
                slots[name] = self._pick(topic["places"])
            elif kind == "thing":
                slots[name] = self._pick(topic["things"])
            else:
                slots[name] = self._pick({"T": self.times, "N": NUMBERS, "U": UNITS, "C": CONNECTIVES,
                                          "A": ADJECTIVES}[kind])
        out = text.format(**slots)
        return out[0].upper() + out[1:]

    def sentence(self, topic: dict[str, Any]) -> str:
        return self._fill(self._pick(self.templates), topic)

    def record_text(self) -> tuple[str, str]:
        """(instruction, response), the two together 60-200 words."""
        rng = self.rng
        topic = rng.choice(self.topics)
        instruction = self._fill(self._pick(self.questions), topic)
        target = rng.randint(60, 200) - len(instruction.split())
        out: list[str] = []
        n = 0
        real_at = rng.randrange(8) if rng.random() < 0.5 else -1
        while n < target:
            s = rng.choice(self.real) if len(out) == real_at else self.sentence(topic)
            if n + len(s.split()) > target + 15 and n >= target - 25:
                break
            out.append(s)
            n += len(s.split())
        return instruction, " ".join(out)


# -- planted pairs ---------------------------------------------------------------------------------


@dataclass
class Pair:
    a: int  # the original's index in the corpus
    b: int  # the planted record's index
    kind: str  # "near" or "hard"
    edits: int  # word edits (near; hard by substitution), 0 for hard by appending
    ops: dict[str, int]  # edit operation -> count
    jaccard: float  # exact Jaccard of the two records' 5-word shingle sets

    def true_duplicate(self, threshold: float = THRESHOLD) -> bool:
        return self.jaccard >= threshold


@dataclass
class Corpus:
    records: list[dict[str, Any]]
    pairs: list[Pair]
    seed: int
    threshold: float = THRESHOLD
    stats: dict[str, Any] = field(default_factory=dict)

    def texts(self) -> list[str]:
        """What the product's MinHash compares: instruction and response, newline-joined."""
        return [record_text(r) for r in self.records]


def record_text(record: dict[str, Any]) -> str:
    return f"{record['instruction']}\n{record['response']}"


def edit(response: str, k: int, rng: random.Random, substitutes: Sequence[str],
         ops: Sequence[str] = ("sub", "ins", "del")) -> tuple[str, dict[str, int]]:
    """`response` with exactly `k` single-word edits at alphabetic tokens at least MIN_GAP apart."""
    tokens = response.split(" ")
    eligible = [i for i, t in enumerate(tokens) if _ALPHA_TOKEN_RE.fullmatch(t)]
    chosen: list[int] = []
    for i in rng.sample(eligible, len(eligible)):
        if all(abs(i - j) >= MIN_GAP for j in chosen):
            chosen.append(i)
            if len(chosen) == k:
                break
    if len(chosen) < k:
        raise ValueError(f"no room for {k} edits")
    counts = {op: 0 for op in ops}
    for i in sorted(chosen, reverse=True):  # from the end, so earlier indices stay valid
        op = rng.choice(ops)
        counts[op] += 1
        m = _ALPHA_TOKEN_RE.fullmatch(tokens[i])
        assert m is not None
        core, punct = m.groups()
        neighbours = {w.lower() for w in tokens[max(0, i - 1) : i + 2]}
        new = _fresh(substitutes, core, neighbours, rng)
        if op == "sub":
            tokens[i] = (new.capitalize() if core[0].isupper() else new) + punct
        elif op == "ins":
            tokens.insert(i + 1, new)
        else:
            del tokens[i]
            if punct and i > 0:  # keep the sentence's full stop on the word before
                tokens[i - 1] = tokens[i - 1].rstrip(".,;:!?") + punct
    return " ".join(tokens), {op: n for op, n in counts.items() if n}


def _fresh(substitutes: Sequence[str], core: str, neighbours: set[str], rng: random.Random) -> str:
    while True:
        w = rng.choice(substitutes)
        if w != core.lower() and w not in neighbours:
            return w


def make_corpus(n: int, seed: int = 0, threshold: float = THRESHOLD) -> Corpus:
    rng = random.Random(seed)
    prose = Prose(rng)
    n_near, n_hard = round(n * NEAR_SHARE), round(n * HARD_SHARE)
    n_base = n - n_near - n_hard
    base = [prose.record_text() for _ in range(n_base)]
    originals = rng.sample(range(n_base), n_near + n_hard)
    texts = list(base)
    pairs: list[Pair] = []
    for j, orig in enumerate(originals):
        instruction, response = base[orig]
        a = shingle_set(f"{instruction}\n{response}")
        if j < n_near:
            k = 1 + j % 4
            new, ops = edit(response, k, rng, prose.substitutes)
            kind, edits = "near", k
            sim = jaccard(a, shingle_set(f"{instruction}\n{new}"))
        else:
            kind, new, edits, ops, sim = "hard", *_hard_negative(a, instruction, response, prose, threshold, rng)
        texts.append((instruction, new))
        pairs.append(Pair(a=orig, b=len(texts) - 1, kind=kind, edits=edits, ops=ops, jaccard=sim))
    # shuffle so that the two of a pair land anywhere (in any shard)
    order = list(range(len(texts)))
    rng.shuffle(order)
    where = {old: new for new, old in enumerate(order)}
    records = [{"id": f"r{i:07d}", "instruction": texts[old][0], "response": texts[old][1]}
               for i, old in enumerate(order)]
    pairs = [Pair(a=where[p.a], b=where[p.b], kind=p.kind, edits=p.edits, ops=p.ops, jaccard=p.jaccard)
             for p in pairs]
    corpus = Corpus(records=records, pairs=pairs, seed=seed, threshold=threshold)
    corpus.stats = pair_stats(pairs, threshold)
    return corpus


def _hard_negative(a: set[tuple[str, ...]], instruction: str, response: str, prose: Prose, threshold: float,
                   rng: random.Random) -> tuple[str, int, dict[str, int], float]:
    """A copy edited until its Jaccard falls below a target in [0.6, threshold - 0.02)."""
    target = rng.uniform(0.6, threshold - 0.02)
    if rng.random() < 0.5:  # spread substitutions, one more at a time
        k = 1
        while True:
            new, ops = edit(response, k, random.Random(rng.random()), prose.substitutes, ops=("sub",))
            sim = jaccard(a, shingle_set(f"{instruction}\n{new}"))
            if sim < target:
                return new, k, ops, sim
            k += 1
    topic = rng.choice(prose.topics)  # new sentences appended: the original is contained in the copy
    new = response
    added = 0
    while True:
        new = f"{new} {prose.sentence(topic)}"
        added += 1
        sim = jaccard(a, shingle_set(f"{instruction}\n{new}"))
        if sim < target:
            return new, 0, {"appended_sentences": added}, sim


def pair_stats(pairs: Iterable[Pair], threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in pairs:
        key = f"{p.kind}-{p.edits}" if p.kind == "near" else p.kind
        row = out.setdefault(key, {"pairs": 0, "true": 0, "min_jaccard": 1.0, "max_jaccard": 0.0})
        row["pairs"] += 1
        row["true"] += p.jaccard >= threshold
        row["min_jaccard"] = round(min(row["min_jaccard"], p.jaccard), 4)
        row["max_jaccard"] = round(max(row["max_jaccard"], p.jaccard), 4)
    return dict(sorted(out.items()))


def unplanted_similarity(corpus: Corpus, sample: int, seed: int = 0) -> dict[str, Any]:
    """The highest exact Jaccard between each of `sample` random records and any record of the corpus
    other than itself and its planted partner (64-bit shingle hashes of the product's MinHash, whose
    words are those of :func:`words` on ASCII text; needs `operator/` on the path)."""
    import numpy as np

    from datafoundry.filters.minhash import MinHasher

    n = len(corpus.records)
    hashes, offsets = MinHasher(ngram=NGRAM).shingles(corpus.texts())
    doc = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    order = np.lexsort((hashes, doc))
    doc, h = doc[order], hashes[order]
    first = np.ones(len(h), dtype=bool)
    first[1:] = (h[1:] != h[:-1]) | (doc[1:] != doc[:-1])
    doc, h = doc[first], h[first]  # each shingle once per record
    size = np.bincount(doc, minlength=n)
    chosen = np.array(sorted(random.Random(seed).sample(range(n), sample)), dtype=np.int64)
    mine = np.isin(doc, chosen)
    order = np.argsort(h[mine], kind="stable")
    s_doc, s_h = doc[mine][order], h[mine][order]
    hit = np.isin(h, s_h)
    o_doc, o_h = doc[hit], h[hit]
    lo, hi = np.searchsorted(s_h, o_h, "left"), np.searchsorted(s_h, o_h, "right")
    reps = hi - lo
    other = np.repeat(o_doc, reps)
    # index lo, lo+1, ..., hi-1 for each hit, without a Python loop
    idx = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps) + np.repeat(lo, reps)
    owner = s_doc[idx]
    key, shared = np.unique(owner * n + other, return_counts=True)
    a, b = key // n, key % n
    partner = np.full(n, -1, dtype=np.int64)
    for p in corpus.pairs:
        partner[p.a], partner[p.b] = p.b, p.a
    keep = (a != b) & (partner[a] != b)
    sim = shared[keep] / (size[a[keep]] + size[b[keep]] - shared[keep])
    best = np.zeros(n)
    np.maximum.at(best, a[keep], sim)
    values = np.sort(best[chosen])
    return {"sample": sample, "max_jaccard": round(float(values[-1]), 4),
            "median_max_jaccard": round(float(values[len(values) // 2]), 4),
            "above_0.5": int((values >= 0.5).sum())}


# -- scoring ---------------------------------------------------------------------------------------


def score(removed: set[int], pairs: Sequence[Pair], threshold: float = THRESHOLD) -> dict[str, Any]:
    """Recall: share of true pairs with a member removed. Precision: share of removed records that
    are a member of a true pair. Negatives merged: planted pairs below the threshold with a member
    removed (hard negatives and near copies whose edits took them below)."""
    true = [p for p in pairs if p.jaccard >= threshold]
    negatives = [p for p in pairs if p.jaccard < threshold]
    members = {x for p in true for x in (p.a, p.b)}
    found = sum(1 for p in true if p.a in removed or p.b in removed)
    by_level: dict[str, float] = {}
    for level in sorted({p.edits for p in true if p.kind == "near"}):
        group = [p for p in true if p.kind == "near" and p.edits == level]
        by_level[str(level)] = round(sum(1 for p in group if p.a in removed or p.b in removed) / len(group), 4)
    return {
        "removed": len(removed),
        "recall": round(found / len(true), 4) if true else None,
        "precision": round(len(removed & members) / len(removed), 4) if removed else None,
        "negatives_merged": sum(1 for p in negatives if p.a in removed or p.b in removed),
        "hard_negatives_merged": sum(1 for p in negatives if p.kind == "hard" and (p.a in removed or p.b in removed)),
        "recall_by_edits": by_level,
    }
