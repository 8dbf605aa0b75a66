#!/usr/bin/env python3
"""Filter benchmark: records/s per core of the default chain, and MinHash near-dup side by side
with DataTrove's MinHash (stages 1-3: signatures, buckets, clusters) on the same corpus.

    .venv/bin/python hack/bench/filters.py [--records 200000] [--chain-records 20000] [--json OUT]
    .venv/bin/python hack/bench/filters.py --chain-only [--profile 25]   # the chain alone

Needs the `bench` extra (`pip install -e '.[bench]'`: datatrove[processing]==0.10.1).

The chain is the product's (built from a spec by workers.recipe_filters, see CHAIN_FILTERS) and runs
over natural English: the report benchmark's records of recombined real sentences (hack/bench/report.py,
from tests/unit/filters/corpora/real/en). Records/s per core = records / CPU seconds of one process.

The MinHash corpus is generated (seeded): English-like instruction/response records of ~60-200 words from
a 1,500-word vocabulary, of which `--dup-fraction` are planted near-duplicates of another record
(1-3 words substituted, or a short sentence appended: Jaccard of 5-word shingles ~0.75-0.95),
placed far from their original. Recall = planted copies whose pair was detected (one of the
two removed); false positives = removed records that belong to no planted pair.

Both sides use 14 bands x 8 rows (ours: num_perm=112, bands=14; DataTrove's default config),
5-word shingles, one process. DataTrove's English word tokenizer needs spaCy; this benchmark gives
it a whitespace tokenizer on its own normalised text instead (cheaper than spaCy, so the
comparison favours DataTrove).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]

BASE_WORDS = (
    "time year people way day man thing woman life child world school state family student group country "
    "problem hand part place case week company system program question work government number night point "
    "home water room mother area money story fact month lot right study book eye job word business issue "
    "side kind head house service friend father power hour game line end member law car city community "
    "name president team minute idea kid body information back parent face others level office door health "
    "person art war history party result change morning reason research girl guy moment air teacher force "
    "education foot boy age policy process music market sense nation plan college interest death experience "
    "effect use class control care field development role effort rate heart drug show leader light voice "
    "wife police mind price report decision son view relationship town road arm difference value building "
    "action model season society tax director position player record paper space ground form event official "
    "matter center couple site project activity star table need court oil situation cost industry figure "
    "street image phone data picture practice piece land product doctor wall patient worker news test movie "
    "north love support technology step baby computer type attention film tree source organization hair "
    "window evidence population site truck shipment warehouse invoice supplier contract delivery schedule "
    "make know take see come think look want give find tell ask seem feel try leave call keep provide hold "
    "turn follow begin bring like write start run set help play move live believe happen carry talk appear "
    "produce sit offer consider expect suggest let read require continue lose add change fall remain remember "
    "buy speak stand build reach stop send receive decide win understand describe develop agree open reflect "
    "good new first last long great little own other old right big high different small large next early "
    "young important few public bad same able local sure free better true whole clear recent certain "
    "personal open red difficult available likely short single medical current wrong private past foreign "
    "fine common poor natural significant similar hot dead central happy serious ready simple left physical "
    "general environmental financial blue democratic dark various entire close legal religious cold final "
    "main green nice huge popular traditional cultural quickly really often always never usually carefully "
    "the a of to in for with on at from by about into over after before under between through and or but"
)
SUFFIXES = ("", "s", "ed", "ing", "er", "ly")


def vocabulary() -> list[str]:
    words = BASE_WORDS.split()
    out = sorted({w + s for w in words for s in SUFFIXES if len(w) > 2 or not s})
    return out


def make_corpus(n: int, dup_fraction: float, seed: int) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """Records and the planted (original, copy) pairs."""
    rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary())
    n_dups = int(n * dup_fraction)
    n_base = n - n_dups
    lengths = rng.integers(60, 200, size=n_base)
    words = rng.integers(0, len(vocab), size=int(lengths.sum()))
    texts: list[str] = []
    pos = 0
    for length in lengths:
        chunk = vocab[words[pos : pos + length]]
        pos += length
        sentences = [" ".join(chunk[i : i + 12]).capitalize() + "." for i in range(0, len(chunk), 12)]
        texts.append(" ".join(sentences))
    records = [{"id": i, "instruction": "Explain the following notes.", "response": t} for i, t in enumerate(texts)]
    pairs: list[tuple[int, int]] = []
    originals = rng.choice(n_base, size=n_dups, replace=False)
    for orig in originals:
        tokens = records[orig]["response"].split(" ")
        kind = rng.integers(0, 4)
        if kind < 3:  # substitute 1-3 words
            for j in rng.choice(len(tokens), size=int(kind) + 1, replace=False):
                tokens[j] = str(vocab[rng.integers(0, len(vocab))])
        else:  # append a short sentence
            tokens += [str(w) for w in vocab[rng.integers(0, len(vocab), size=6)]]
        records.append({"id": len(records), "instruction": "Explain the following notes.",
                        "response": " ".join(tokens)})
        pairs.append((int(orig), len(records) - 1))
    # Shuffle so that copies land far from (and in other "shards" than) their originals.
    order = rng.permutation(len(records))
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    shuffled = [records[i] for i in order]
    for new_id, r in enumerate(shuffled):
        r["id"] = new_id
    return shuffled, [(int(inverse[a]), int(inverse[b])) for a, b in pairs]


def score(removed: set[int], pairs: list[tuple[int, int]]) -> dict[str, Any]:
    found = sum(1 for a, b in pairs if a in removed or b in removed)
    planted = {x for pair in pairs for x in pair}
    return {"removed": len(removed), "recall": round(found / len(pairs), 4) if pairs else None,
            "false_positives": len(removed - planted)}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the default filter chain ------------------------------------------------------------------


#: The chain the benchmark measures: every per-record and dedup filter of the product at its spec
#: defaults (as examples/quickstart.yaml and the report benchmark's job list them). A job without
#: spec.filters gets no filtering at all, so "the default chain" is this list, built as the filter
#: worker builds it (workers.recipe_filters.build_chain), not by hand.
CHAIN_FILTERS: list[dict[str, Any]] = [
    {"type": "length", "minChars": 20}, {"type": "language"}, {"type": "quality"}, {"type": "pii"},
    {"type": "exactDedup"}, {"type": "minhash"},
]


def chain_records(n: int, seed: int) -> list[dict[str, Any]]:
    """Natural English records: the report benchmark's recombined real sentences (hack/bench/report.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from report import Corpus  # type: ignore[import-not-found]

    corpus = Corpus(seed)
    return [corpus.record(i % 4, i // 4) for i in range(n)]


def default_chain() -> Any:
    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.workers.recipe_filters import build_chain

    spec = DataFoundryJobSpec.model_validate({
        "target": {"records": 1}, "input": {"uris": ["file:///in"]}, "output": {"uri": "file:///out"},
        "filters": CHAIN_FILTERS,
    })
    return build_chain(spec, {})


def bench_chain(records: list[dict[str, Any]], profile: int = 0) -> dict[str, Any]:
    from datafoundry.filters import LanguageFilter, MinHashFilter
    from datafoundry.filters.base import Observer

    chain = default_chain()
    next(f for f in chain.filters if isinstance(f, LanguageFilter)).apply({"text": "warm up the model once"})
    c0, t0 = cpu_seconds(), time.perf_counter()
    kept = sum(1 for _ in chain.run(records))
    next(f for f in chain.filters if isinstance(f, MinHashFilter)).finish()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    per_filter = {}
    for f in default_chain().filters:  # each filter alone, fresh, over the same records (CPU ms per record)
        if isinstance(f, LanguageFilter):
            f.apply({"text": "warm up the model once"})
        c1 = cpu_seconds()
        for r in records:
            f.apply(r)
            if isinstance(f, Observer):  # MinHash works on the records kept: signatures in batches
                f.observe(r)
        if isinstance(f, MinHashFilter):
            f.finish()
        per_filter[f.name] = round((cpu_seconds() - c1) / len(records) * 1000, 4)
    out = {"records": len(records), "kept": kept, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
           "records_per_s": round(len(records) / wall, 1), "records_per_cpu_s": round(len(records) / cpu, 1),
           "dropped_by": {k: v for k, v in chain.funnel.dropped_by.items() if v},
           "cpu_ms_per_record_by_filter": per_filter, "filters": [type(f).__name__ for f in chain.filters]}
    if profile:
        out["profile_top"] = profile_chain(records, profile)
    return out


def profile_chain(records: list[dict[str, Any]], top: int) -> list[str]:
    """cProfile of a fresh chain over the records: the `top` entries by own time."""
    import cProfile
    import io
    import pstats

    chain = default_chain()
    prof = cProfile.Profile()
    prof.enable()
    for _ in chain.run(records):
        pass
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return [line for line in buf.getvalue().splitlines() if line.strip()][-top - 1 :]


# -- MinHash: ours ----------------------------------------------------------------------------------


def bench_ours(texts: list[str], shards: int, num_perm: int, bands: int) -> tuple[dict[str, Any], set[int]]:
    from datafoundry.filters import MinHasher, ShardSignatures, cluster_duplicates

    c0, t0 = cpu_seconds(), time.perf_counter()
    hasher = MinHasher(ngram=5, num_perm=num_perm, bands=bands, seed=1)
    per_shard: dict[int, ShardSignatures] = {}
    bounds = np.linspace(0, len(texts), shards + 1).astype(int)
    batch = 1024
    for s in range(shards):
        keys = []
        for i in range(bounds[s], bounds[s + 1], batch):
            sigs = hasher.signatures(texts[i : min(i + batch, bounds[s + 1])])
            keys.append(hasher.band_keys(sigs))
        per_shard[s] = ShardSignatures(band_keys=np.concatenate(keys))
    t_sig = time.perf_counter() - t0
    result = cluster_duplicates(per_shard)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    removed = {int(bounds[s] + i) for s, idx in result.drop.items() for i in idx}
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "signatures_s": round(t_sig, 3),
            "cluster_s": round(wall - t_sig, 3), "clusters": result.clusters}, removed


# -- MinHash: DataTrove -----------------------------------------------------------------------------


def bench_datatrove(texts: list[str], shards: int, workdir: Path) -> tuple[dict[str, Any], set[int]]:
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )
    from datatrove.utils.word_tokenizers import WordTokenizer

    class WhitespaceTokenizer(WordTokenizer):  # type: ignore[misc]
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            raise NotImplementedError

    config = MinhashConfig()  # 5-grams, 14 buckets x 8 hashes, 64-bit xxhash
    bounds = np.linspace(0, len(texts), shards + 1).astype(int)

    def reader(data: Any, rank: int = 0, world_size: int = 1) -> Any:
        """Rank r's share of the corpus, as DataTrove Documents."""
        for i in range(bounds[rank], bounds[rank + 1]):
            yield Document(text=texts[i], id=str(i))

    sigs, buckets, clusters = workdir / "sigs", workdir / "buckets", workdir / "remove"
    logs = workdir / "logs"
    c0, t0 = cpu_seconds(), time.perf_counter()
    LocalPipelineExecutor(pipeline=[reader, MinhashDedupSignature(output_folder=str(sigs), config=config,
                                                                    language=WhitespaceTokenizer())],
                          tasks=shards, workers=1, logging_dir=str(logs / "1"), skip_completed=False).run()
    t1 = time.perf_counter()
    LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=str(sigs), output_folder=str(buckets),
                                                        config=config)],
                          tasks=config.num_buckets, workers=1, logging_dir=str(logs / "2"), skip_completed=False).run()
    t2 = time.perf_counter()
    LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=str(buckets), output_folder=str(clusters),
                                                        config=config)],
                          tasks=1, workers=1, logging_dir=str(logs / "3"), skip_completed=False).run()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    removed: set[int] = set()
    for f in clusters.glob("*.remove"):
        rank = int(f.name.split(".")[0])
        ids = np.frombuffer(f.read_bytes(), dtype="<u4")
        removed.update(int(bounds[rank] + i) for i in ids)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "signatures_s": round(t1 - t0, 3),
            "buckets_s": round(t2 - t1, 3), "cluster_s": round(wall - (t2 - t0), 3)}, removed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--dup-fraction", type=float, default=0.1)
    parser.add_argument("--chain-records", type=int, default=20_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--chain-only", action="store_true", help="only the default chain, not MinHash")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile the chain (cProfile) and report its top N entries by own time")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    out: dict[str, Any] = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "processes": 1}}
    out["default_chain"] = bench_chain(chain_records(args.chain_records, args.seed), args.profile)
    print(f"default chain: {out['default_chain']['records_per_cpu_s']} records/s per core", flush=True)
    if args.chain_only:
        return finish(out, args.json)

    t0 = time.perf_counter()
    records, pairs = make_corpus(args.records, args.dup_fraction, args.seed)
    from datafoundry.filters.base import text_of

    texts = [text_of(r) for r in records]
    out["corpus"] = {"records": len(records), "planted_pairs": len(pairs), "seed": args.seed,
                     "generate_s": round(time.perf_counter() - t0, 2)}
    print(f"corpus: {len(records)} records, {len(pairs)} planted near-duplicates", flush=True)

    ours, removed = bench_ours(texts, args.shards, num_perm=112, bands=14)
    out["minhash_ours"] = {**ours, **score(removed, pairs), "num_perm": 112, "bands": 14, "ngram": 5}
    print(f"ours: {out['minhash_ours']}", flush=True)
    if not args.skip_datatrove:
        workdir = Path(tempfile.mkdtemp(prefix="dt-bench-"))
        try:
            theirs, removed = bench_datatrove(texts, args.shards, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        import datatrove

        out["minhash_datatrove"] = {**theirs, **score(removed, pairs), "version": getattr(datatrove, "__version__",
                                                                                         "0.10.1"),
                                    "buckets": 14, "hashes_per_bucket": 8, "ngram": 5}
        print(f"datatrove: {out['minhash_datatrove']}", flush=True)
        out["minhash_speedup"] = round(out["minhash_datatrove"]["wall_s"] / out["minhash_ours"]["wall_s"], 2)
        out["minhash_ours_faster"] = out["minhash_speedup"] > 1.0
        out["minhash_recall_ours_ge_datatrove"] = (out["minhash_ours"]["recall"] >= out["minhash_datatrove"]["recall"])
    return finish(out, args.json)


def finish(out: dict[str, Any], path: Path | None) -> int:
    print(json.dumps(out, indent=1))
    if path:
        path.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
