"""Build a quality report from records as they stream past (see the package docstring for its layout).

Memory is bounded: every record leaves a few integers (its field lengths) and its counts; the
costly measures (diversity, domain match, languages, token lengths) run on a sample of at most
`sample_size` records chosen by seeded hash of the record id, so the same dataset always gives
the same sample, whatever the order records arrive in.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from typing import Any

from datafoundry.filters.base import text_of
from datafoundry.filters.text import count_tokens
from datafoundry.records.fields import (
    ID_FIELD,
    META_FIELD,
    RESERVED_FIELDS,
    SOURCE_FIELD,
    SOURCE_REPLAY,
    SOURCE_REPLAY_SELF,
)
from datafoundry.report import measures
from datafoundry.strategies import screens

API_VERSION = "datafoundry.io/quality/v1"
KIND = "QualityReport"
#: Not content: the id, the provenance and the mix tag.
NON_CONTENT = frozenset({*RESERVED_FIELDS, SOURCE_FIELD})
SAMPLE_SIZE = 500
SELF_BLEU_SAMPLE = 100
#: Without a language filter (which counts what it keeps), the mix is detected on this many sampled
#: records, this many characters each: language ID walks every byte in Python.
LANGUAGE_SAMPLE = 200
LANGUAGE_CHARS = 300
SAMPLES_SHOWN = 5
LEAST_MATCHING_SHOWN = 3
SNIPPET_CHARS = 300
SAMPLE_STRING_CHARS = 2000
REPEATED_NGRAM = 10
#: Cosine with the domain profile under which a record counts as off-domain (hashed TF-IDF of words
#: and word pairs): on-topic SmolLM2 answers score 0.02-0.12 (median 0.04-0.08), the tiny random model's
#: gibberish a median of 0.012.
DOMAIN_THRESHOLD = 0.02
#: Reference texts at most (domain, seeds, document chunks): enough for a profile, bounded in cost.
MAX_REFERENCES = 500
#: Seeds the novelty measure compares each sampled prompt with (the first ones): ROUGE-L is pairwise.
MAX_NOVELTY_SEEDS = 200


@dataclass(frozen=True)
class ReportContext:
    """What the report knows about the job besides its records; every part is optional."""

    seed: int = 0
    language: str | None = None
    references: Sequence[str] = ()
    reference_sources: Sequence[str] = ()
    taxonomy: Sequence[tuple[str, Sequence[str]]] = ()
    label_field: str | None = None
    labels: Sequence[str] = ()
    judge_threshold: float | None = None
    funnel: Mapping[str, Any] | None = None
    strategies: Mapping[str, Mapping[str, Any]] | None = None
    filters: Mapping[str, Mapping[str, Any]] | None = None
    near_duplicates: Mapping[str, Any] | None = None
    decontamination: Mapping[str, Any] | None = None
    tokenizer: Callable[[str], int] | None = None
    tokenizer_name: str | None = None
    #: The seeds' prompt texts (see `prompt_text`): novelty is measured against them.
    seed_prompts: Sequence[str] = ()


@dataclass
class _FieldLengths:
    records: int = 0
    chars: array[int] = field(default_factory=lambda: array("L"))  # 8 bytes a record, not a Python int


def _column(rows: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """`row.get(key)` of every row, looped in C (map over dict.get), not in Python bytecode."""
    return list(map(dict.get, rows, repeat(key)))  # type: ignore[arg-type]


_is_str = partial(type.__instancecheck__, str)
_is_list = partial(type.__instancecheck__, list)
_is_dict = partial(type.__instancecheck__, dict)


def _field_text(value: Any) -> str | None:
    """The text of one content field: a string, or the contents of a list of chat turns."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [m.get("content") for m in value if isinstance(m, Mapping)]
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    return None


def _clip(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= SAMPLE_STRING_CHARS else value[:SAMPLE_STRING_CHARS] + "…"
    if isinstance(value, list):
        return [_clip(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _clip(v) for k, v in value.items()}
    return value


def prompt_text(record: Mapping[str, Any]) -> str | None:
    """What a record asks: its prompt field (`screens.PROMPT_FIELDS`), else its first user turn."""
    prompt = screens.first_field(record, screens.PROMPT_FIELDS)
    if prompt is not None:
        return prompt
    messages = record.get("messages")
    if isinstance(messages, list):
        for m in messages:
            if isinstance(m, Mapping) and m.get("role") == "user" and isinstance(m.get("content"), str):
                return str(m["content"])
    return None


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"


class ReportBuilder:
    """Feed records with `add_many` (or `add`), then `finish` once; see the module docstring.

    `ordered`: the caller gives records in an order the job's seed already randomised (publish
    does: the published order is the seeded selection key's), so the sample is simply the first
    `sample_size` records; otherwise each record id is hashed with the seed.
    """

    def __init__(self, context: ReportContext, *, sample_size: int = SAMPLE_SIZE, ordered: bool = False) -> None:
        self.ctx = context
        self.sample_size = sample_size
        self.ordered = ordered
        self.records = 0
        self.chars_total = 0
        self.by_source: Counter[str] = Counter()
        self.fields: dict[str, _FieldLengths] = {}
        self.strategies: Counter[str] = Counter()
        self.nodes: Counter[str] = Counter()
        self.labels: Counter[str] = Counter()
        self.turns: list[int] = []
        self.judge: Counter[int] = Counter()
        #: meta.source.margin of preference pairs: how far the judge's scores of chosen and rejected are apart.
        self.margins: list[float] = []
        self.generator_tokens = 0
        # max-heap on the key (negated) holding the `sample_size` smallest keys (or, ordered, the first records)
        self._sample: list[tuple[int, int, dict[str, Any]]] = []
        self._hasher = hashlib.blake2b(f"{context.seed}:".encode(), digest_size=8)

    def add(self, record: Mapping[str, Any]) -> None:
        self.add_many((record,))

    def add_many(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Count a batch column by column: comprehensions and Counter updates run at C speed, which
        matters at hundreds of thousands of records; nothing is copied but the sampled records."""
        if not records:
            return
        first = self.records
        self.records += len(records)
        for source, n in Counter(_column(records, SOURCE_FIELD)).items():
            self.by_source[str(source or "unknown")] += n
        names: set[str] = set().union(*map(dict.keys, records)) - NON_CONTENT  # type: ignore[arg-type]
        for name in sorted(names):
            values = _column(records, name)
            lengths = list(map(len, filter(_is_str, values)))
            for value in filter(_is_list, values):
                text = _field_text(value)
                if text is not None:
                    lengths.append(len(text))
                    self.turns.append(len(value))
            if lengths:
                field_lengths = self.fields.get(name)
                if field_lengths is None:
                    field_lengths = self.fields[name] = _FieldLengths()
                field_lengths.records += len(lengths)
                field_lengths.chars.extend(lengths)
                self.chars_total += sum(lengths)
        metas = list(filter(_is_dict, _column(records, META_FIELD)))
        if metas:
            self._add_metas(metas)
        if self.ctx.label_field:
            self.labels.update(filter(_is_str, _column(records, self.ctx.label_field)))
        if self.ordered:
            room = self.sample_size - len(self._sample)
            self._sample += [(0, first + i, dict(r)) for i, r in enumerate(records[:max(room, 0)])]
            return
        for i, record in enumerate(records):
            hasher = self._hasher.copy()
            hasher.update(str(record.get(ID_FIELD, first + i + 1)).encode())
            key = int.from_bytes(hasher.digest(), "big")
            if len(self._sample) < self.sample_size:
                heapq.heappush(self._sample, (-key, first + i, dict(record)))
            elif -key > self._sample[0][0]:
                heapq.heapreplace(self._sample, (-key, first + i, dict(record)))

    def _add_metas(self, metas: list[dict[str, Any]]) -> None:
        """The generate worker's `meta` of each record, in one pass: each meta is read while it is in
        the CPU cache (a pass per key missed the cache on every one of 200k scattered dicts)."""
        strategies: list[str] = []
        nodes: list[str] = []
        judged: list[Any] = []
        tokens = 0
        margins = self.margins
        for meta in metas:
            get = meta.get
            if isinstance(strategy := get("strategy"), str):
                strategies.append(strategy)
            if isinstance(source := get("source"), dict):
                if isinstance(topic := source.get("topic"), str):
                    sub = source.get("subtopic")
                    nodes.append(topic + f" / {sub}" if isinstance(sub, str) else topic)
                if isinstance(m := source.get("margin"), int | float) and not isinstance(m, bool):
                    margins.append(m)
            if isinstance(judge := get("judge"), dict):
                judged.append(judge.get("score"))
            if type(n := get("completionTokens")) is int:
                tokens += n
        self.strategies.update(strategies)
        self.nodes.update(nodes)
        for score, n in Counter(judged).items():
            if isinstance(score, int | float) and not isinstance(score, bool):
                self.judge[round(score)] += n
        self.generator_tokens += tokens

    # ------------------------------------------------------------------------------------ finish
    def sample(self) -> list[dict[str, Any]]:
        """The sampled records, in sample-key order (the job's seed decides which and in what order)."""
        return [r for _, _, r in sorted(self._sample, key=lambda item: (-item[0], item[1]))]

    def finish(self, *, data_bytes: int | None = None) -> dict[str, Any]:
        sample = self.sample()
        texts = [text_of(r, [k for k in r if k not in NON_CONTENT]) for r in sample]
        count = self.ctx.tokenizer or count_tokens
        # per field: (characters, tokens) of each sampled record that has it, counted once
        sampled = {name: [(len(t), count(t)) for r in sample if (t := _field_text(r.get(name))) is not None]
                   for name in sorted(self.fields)}
        report: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "sample": {"records": len(sample), "of": self.records, "seed": self.ctx.seed},
            "size": self._size(sampled, data_bytes),
            "fields": self._fields(sampled),
            "diversity": self._diversity(texts),
            "domain": self._domain(sample, texts),
            "novelty": self._novelty(sample),
            "coverage": self._coverage(),
            "scores": self._scores(),
            "process": self._process(texts),
            "samples": [_clip(r) for r in sample[:SAMPLES_SHOWN]],
            "plots": [],
        }
        report["findings"] = findings(report, self.ctx.language)
        return report

    def _size(self, sampled: Mapping[str, Sequence[tuple[int, int]]], data_bytes: int | None) -> dict[str, Any]:
        sample_chars = sum(c for pairs in sampled.values() for c, _ in pairs)
        sample_tokens = sum(t for pairs in sampled.values() for _, t in pairs)
        total = round(self.chars_total * sample_tokens / sample_chars) if sample_chars else 0
        return {
            "records": self.records,
            "bytes": data_bytes,
            "characters": self.chars_total,
            "bySource": dict(sorted(self.by_source.items())),
            "tokens": {"total": total, "method": "tokenizer" if self.ctx.tokenizer else "estimate",
                       "tokenizer": self.ctx.tokenizer_name if self.ctx.tokenizer else None,
                       "generatorCompletionTokens": self.generator_tokens or None},
        }

    def _fields(self, sampled: Mapping[str, Sequence[tuple[int, int]]]) -> dict[str, Any]:
        return {name: {"records": lengths.records, "chars": measures.quantiles(lengths.chars),
                       "tokens": measures.quantiles([t for _, t in sampled[name]])}
                for name, lengths in sorted(self.fields.items())}

    def _diversity(self, texts: Sequence[str]) -> dict[str, Any]:
        bleu_texts = list(texts[:SELF_BLEU_SAMPLE])
        return {
            "distinct1": measures.distinct_n(texts, 1),
            "distinct2": measures.distinct_n(texts, 2),
            "distinct3": measures.distinct_n(texts, 3),
            "compressionRatio": measures.compression_ratio(texts),
            "repeatedNgram": {"n": REPEATED_NGRAM, "share": measures.repeated_ngram_share(texts, REPEATED_NGRAM)},
            "selfBleu": {"value": measures.self_bleu(bleu_texts), "sample": len(bleu_texts)},
        }

    def _domain(self, sample: Sequence[Mapping[str, Any]], texts: Sequence[str]) -> dict[str, Any] | None:
        references = [t for t in self.ctx.references if t.strip()][:MAX_REFERENCES]
        if not references or not texts:
            return None
        sims = measures.domain_similarities(texts, references)
        below = sum(1 for s in sims if s < DOMAIN_THRESHOLD)
        order = sorted(range(len(sims)), key=lambda i: (sims[i], i))[:LEAST_MATCHING_SHOWN]
        return {
            "reference": list(self.ctx.reference_sources),
            "similarity": measures.quantiles(sims),
            "threshold": DOMAIN_THRESHOLD,
            "belowThreshold": round(below / len(sims), 4),
            "leastMatching": [{"id": str(sample[i].get(ID_FIELD, "")), "similarity": sims[i],
                               "text": _snippet(texts[i])} for i in order],
        }

    def _novelty(self, sample: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """Each sampled prompt's highest ROUGE-L F1 with a seed's prompt (Self-Instruct's novelty test);
        null without seeds or without a sampled record that has a prompt."""
        seeds = [w for t in self.ctx.seed_prompts if (w := screens.words(t))][:MAX_NOVELTY_SEEDS]
        prompts = [screens.words(p) for r in sample if (p := prompt_text(r)) is not None]
        if not seeds or not prompts:
            return None
        best = [round(max(screens.rouge_l(p, s) for s in seeds), 4) for p in prompts]
        copies = sum(1 for b in best if b >= screens.NOVELTY_THRESHOLD)
        return {"maxRougeLToSeeds": measures.quantiles(best), "copiesSeed": round(copies / len(best), 4),
                "threshold": screens.NOVELTY_THRESHOLD, "seeds": len(seeds), "records": len(best)}

    def _coverage(self) -> dict[str, Any]:
        taxonomy = None
        if self.ctx.taxonomy:
            names = [t + (f" / {s}" if s else "") for t, subs in self.ctx.taxonomy for s in (list(subs) or [""])]
            nodes = {n: self.nodes.get(n, 0) for n in names}
            nodes.update({n: c for n, c in self.nodes.items() if n not in nodes})
            taxonomy = {"nodes": nodes, "empty": [n for n, c in nodes.items() if c == 0]}
        labels = None
        if self.ctx.label_field:
            counts = {label: self.labels.get(label, 0) for label in self.ctx.labels}
            counts.update({k: v for k, v in sorted(self.labels.items()) if k not in counts})
            labels = {"field": self.ctx.label_field, "counts": counts, "balance": measures.label_balance(counts)}
        return {"strategies": dict(sorted(self.strategies.items())), "taxonomy": taxonomy, "labels": labels,
                "turns": measures.quantiles(self.turns) if self.turns else None}

    def _scores(self) -> dict[str, Any] | None:
        if not self.judge and not self.margins:
            return None
        judge = None
        if self.judge:
            n = sum(self.judge.values())
            judge = {"histogram": {str(s): self.judge.get(s, 0) for s in range(11)},
                     "threshold": self.ctx.judge_threshold,
                     "mean": round(sum(s * c for s, c in self.judge.items()) / n, 4)}
        return {"judge": judge, "preferenceMargin": measures.quantiles(self.margins)}

    def _languages(self, texts: Sequence[str]) -> dict[str, Any]:
        """The language mix: counted by the job's language filters on every record they kept, else
        detected on a part of the sample."""
        counted: Counter[str] = Counter()
        for f in (self.ctx.filters or {}).values():
            if f.get("type") == "language":
                counted.update(f.get("stats") or {})
        if counted:
            return {"languages": _shares(counted), "languagesFrom": "languageFilter"}
        return {"languages": languages(texts[:LANGUAGE_SAMPLE]), "languagesFrom": "sample"}

    def _process(self, texts: Sequence[str]) -> dict[str, Any]:
        filters = self.ctx.filters or {}
        drops = {name: dict(f.get("reasons") or {}) for name, f in filters.items() if f.get("dropped")}
        pii: Counter[str] = Counter()
        for f in filters.values():
            if f.get("type") == "pii" or "pii" in str(f.get("name", "")):
                pii.update(f.get("stats") or {})
        near = self.ctx.near_duplicates
        decontam = self.ctx.decontamination or {}
        replay = self.by_source.get(SOURCE_REPLAY, 0) + self.by_source.get(SOURCE_REPLAY_SELF, 0)
        return {
            "funnel": dict(self.ctx.funnel) if self.ctx.funnel else None,
            "strategies": {name: {"truncationRate": s.get("truncationRate", 0.0),
                                  "parseFailureRate": s.get("parseFailureRate", 0.0)}
                           for name, s in sorted((self.ctx.strategies or {}).items())},
            "drops": drops,
            **self._languages(texts),
            "stopwordShare": measures.stopword_share(texts, self.ctx.language or "en"),
            "pii": dict(sorted(pii.items())),
            "nearDuplicates": dict(near) if near else None,
            "decontamination": {name: int(s.get("records", 0))
                                for name, s in (decontam.get("evalSets") or {}).items()},
            "replayShare": round(replay / self.records, 4) if self.records else 0.0,
        }


def _shares(counts: Mapping[str, int]) -> dict[str, float]:
    n = sum(counts.values())
    return {k: round(c / n, 4) for k, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))} if n else {}


def languages(texts: Iterable[str]) -> dict[str, float]:
    """Share of the texts per detected language (py3langid on each text's first characters)."""
    from datafoundry.filters.language import identify

    return _shares(Counter(identify(t[:LANGUAGE_CHARS])[0] for t in texts if t.strip()))


#: Indicator thresholds behind the findings: calibrated on SmolLM2 output (kept) against the tiny
#: random model's output, shuffled words and near-copies (flagged); see tests/unit/report.
LOW_STOPWORDS = 0.2
LOW_DISTINCT2 = 0.25
HIGH_SELF_BLEU = 0.5
HIGH_REPEATED = 0.3
HIGH_OFF_DOMAIN = 0.3
HIGH_TRUNCATION = 0.3
HIGH_COPIES_SEED = 0.2
OTHER_LANGUAGE = 0.1


def findings(report: Mapping[str, Any], language: str | None) -> list[dict[str, str]]:
    """Plain-language verdicts on the indicators (warnings first)."""
    out: list[dict[str, str]] = []

    def warn(indicator: str, message: str) -> None:
        out.append({"level": "warning", "indicator": indicator, "message": message})

    process, diversity, domain = report["process"], report["diversity"], report["domain"]
    if not report["sample"]["records"]:
        return [{"level": "warning", "indicator": "size", "message": "The dataset has no records."}]
    stop = process.get("stopwordShare")
    if stop is not None and stop < LOW_STOPWORDS:
        warn("stopwordShare", f"Only {stop:.0%} of the words are common function words (natural "
                              f"{language or 'en'} prose has 30-50%): much of the text may not be language.")
    if diversity["distinct2"] < LOW_DISTINCT2:
        warn("distinct2", f"Distinct-2 is {diversity['distinct2']:.2f}: records reuse the same word pairs.")
    if diversity["selfBleu"]["value"] > HIGH_SELF_BLEU:
        warn("selfBleu", f"Self-BLEU is {diversity['selfBleu']['value']:.2f}: records read like copies of each other.")
    if diversity["repeatedNgram"]["share"] > HIGH_REPEATED:
        warn("repeatedNgram", f"{diversity['repeatedNgram']['share']:.0%} of records share a "
                              f"{diversity['repeatedNgram']['n']}-word phrase with another record.")
    if domain is not None and domain["belowThreshold"] > HIGH_OFF_DOMAIN:
        warn("domain", f"{domain['belowThreshold']:.0%} of records barely share vocabulary with the domain "
                       f"(similarity under {domain['threshold']}).")
    novelty = report.get("novelty")
    if novelty is not None and novelty["copiesSeed"] > HIGH_COPIES_SEED:
        warn("novelty", f"{novelty['copiesSeed']:.0%} of sampled prompts restate a seed (ROUGE-L "
                        f"{novelty['threshold']} or more with one of the {novelty['seeds']} seeds).")
    langs = process.get("languages") or {}
    if language and langs:
        want = language.split("-")[0].lower()
        other = 1.0 - langs.get(want, 0.0)
        if other > OTHER_LANGUAGE:
            warn("languages", f"{other:.0%} of the sampled records are not detected as {want}.")
    for name, s in (process.get("strategies") or {}).items():
        if s["truncationRate"] > HIGH_TRUNCATION:
            out.append({"level": "info", "indicator": "truncationRate",
                        "message": f"{name}: {s['truncationRate']:.0%} of prompts hit the token limit "
                                    "(raise generator.sampling.maxTokens to keep more)."})
    if not any(f["level"] == "warning" for f in out):
        out.insert(0, {"level": "info", "indicator": "overall",
                       "message": "No indicator crossed a warning threshold."})
    return out


def encode(report: Mapping[str, Any]) -> bytes:
    """Canonical bytes (sorted keys): a rerun over the same records writes the same object."""
    return (json.dumps(report, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def funnel(strategies: Mapping[str, Mapping[str, Any]] | None, *, generated: int, accepted: int,
           published: int) -> dict[str, int]:
    """The report's funnel: prompts (when a generator counted them), generated, accepted, published."""
    prompts = sum(int(s.get("prompts", 0)) for s in (strategies or {}).values())
    return {**({"prompts": prompts} if prompts else {}), "generated": generated, "accepted": accepted,
            "published": published}


def example(record: Mapping[str, Any], *, kept: bool) -> dict[str, Any]:
    """A near-duplicate cluster member as the report shows it."""
    text = text_of(record, [k for k in record if k not in NON_CONTENT])
    return {"id": str(record.get(ID_FIELD, "")), "kept": kept, "text": _snippet(text)}


def summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """The headline indicators (`status.output.quality`, the operator's quality gauge)."""
    diversity, domain, process = report["diversity"], report["domain"], report["process"]
    return {
        "distinct2": diversity["distinct2"],
        "selfBleu": diversity["selfBleu"]["value"],
        "repeatedNgramShare": diversity["repeatedNgram"]["share"],
        "compressionRatio": diversity["compressionRatio"],
        "stopwordShare": process.get("stopwordShare"),
        "domainSimilarity": domain["similarity"]["p50"] if domain and domain["similarity"] else None,
        "offDomainShare": domain["belowThreshold"] if domain else None,
        "warnings": sum(1 for f in report["findings"] if f["level"] == "warning"),
    }


def objects(report: dict[str, Any]) -> list[tuple[str, str | None, bytes, str]]:
    """(key, title, bytes, content type) of `quality.json` and its plots; lists the plots in the report.
    Without matplotlib there are no plots (said in the log, not an error)."""
    from datafoundry.pipeline.layout import QUALITY
    from datafoundry.report import plots

    pictures: dict[str, tuple[str, bytes]] = {}
    if plots.available():
        pictures = plots.render(report)
    else:
        import logging

        logging.getLogger("datafoundry.report").warning(
            "matplotlib is not installed: no plots (pip install 'datafoundry[report]')")
    report["plots"] = [{"key": key, "title": title} for key, (title, _) in sorted(pictures.items())]
    out: list[tuple[str, str | None, bytes, str]] = [(QUALITY, None, encode(report), "application/json")]
    out += [(key, title, data, "image/png") for key, (title, data) in sorted(pictures.items())]
    return out


def schema() -> dict[str, Any]:
    """The JSON Schema of `quality.json` (kept in the package beside this module)."""
    from importlib.resources import files

    loaded: dict[str, Any] = json.loads(files("datafoundry.report").joinpath("quality.schema.json").read_text())
    return loaded
