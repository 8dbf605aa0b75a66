#!/usr/bin/env python3
"""MinHash near-duplicate detection, like for like: the product's default end to end, our hashing
schemes in memory, and DataTrove 0.10.1, on ONE natural-text corpus (hack/bench/corpus.py) with
planted near-duplicates and hard negatives, 5-word shingles, threshold 0.8, 4 shards, one process.

    PYTHONPATH=operator .venv/bin/python hack/bench/minhash.py [--records 200000] [--json OUT]
        [--skip-datatrove] [--seed 0]

Rows (every row gets the same texts: instruction + "\\n" + response):
- product_default: the job's path with a spec whose only filter is `minhash` (its defaults: 128
  permutations, 16 bands, threshold 0.8, candidates verified at the threshold). Generated parts are
  staged on a real S3 store (a private SeaweedFS `weed mini`, not timed); then the filter worker
  (`workers.filter.filter_shard`, in process, one call per shard: read + parse the parts, hash,
  write accepted parts, band keys and signatures) and the global pass (`workers.dedup.dedup_rounds`:
  read keys + signatures, cluster, verify). The S3 server's own CPU is reported apart.
- ours_oph_112x14 / ours_oph_112x14_verified: `MinHasher` (one-permutation hashing with
  densification) at 112 permutations, 14 bands x 8 rows, in memory, then `cluster_duplicates`
  (without / with verification at the threshold).
- ours_classic_112x14: bench-only classic MinHash: our vectorised tokenizer and 64-bit shingle hash,
  then 112 universal-hash permutations (a*h + b) mod (2**61 - 1) in wrapping uint64 arithmetic as
  DataTrove computes them, min per permutation, 14 bands x 8 rows, `cluster_duplicates`, no
  verification: DataTrove's algorithm, in memory and vectorised.
- datatrove_whitespace / datatrove_spacy: DataTrove's 3-stage disk pipeline (signatures, buckets,
  clusters; `LocalPipelineExecutor`, 4 tasks then 14 then 1, one worker), MinhashConfig defaults
  (5-grams, 14 buckets x 8 hashes, 64-bit xxhash), with a whitespace split of its simplified text,
  and with its default English tokenizer: `load_word_tokenizer("en")` is a `SpaCyTokenizer("en")`,
  i.e. `spacy.blank("en")` plus a sentencizer. That needs the `spacy` package (not pulled in by
  `datatrove[processing]` 0.10.1) but no model data: `pip install spacy` works offline from a
  wheel cache. Without spaCy the row is skipped and says so.
Per row: wall and CPU seconds (this process and its children; the S3 server's apart), parts,
removed, recall, precision, negatives merged (see corpus.score), and the speedups (wall and CPU)
over each DataTrove row; `decomposition` divides rows that differ in one thing. One run; ratios,
not absolutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Corpus, Pair, make_corpus, score, unplanted_similarity

REPO = Path(__file__).resolve().parents[2]
SHARDS = 4
PART_RECORDS = 10_000
MERSENNE = np.uint64((1 << 61) - 1)


def cpu_seconds() -> float:
    out = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        out += usage.ru_utime + usage.ru_stime
    return out


class Clock:
    """Wall and CPU seconds since creation, and named laps."""

    def __init__(self) -> None:
        self.t0, self.c0 = time.perf_counter(), cpu_seconds()
        self.parts: dict[str, float] = {}
        self._last = self.t0

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.parts[name] = round(now - self._last, 3)
        self._last = now

    def done(self) -> dict[str, Any]:
        return {"wall_s": round(time.perf_counter() - self.t0, 3), "cpu_s": round(cpu_seconds() - self.c0, 3),
                "parts": self.parts}


def bounds(n: int) -> npt.NDArray[np.int64]:
    return np.linspace(0, n, SHARDS + 1).astype(np.int64)


def removed_from(drop: dict[int, npt.NDArray[np.int64]], b: npt.NDArray[np.int64]) -> set[int]:
    return {int(b[s] + i) for s, idx in drop.items() for i in idx}


# -- ours, in memory -----------------------------------------------------------------------------------


def bench_ours(texts: list[str], method: str, verify: float | None) -> tuple[dict[str, Any], set[int]]:
    from datafoundry.filters import MinHasher, ShardSignatures, cluster_duplicates

    b = bounds(len(texts))
    clock = Clock()
    hasher = MinHasher(ngram=5, num_perm=112, bands=14, threshold=0.8, seed=1)
    shards: dict[int, ShardSignatures] = {}
    for s in range(SHARDS):
        keys, sigs = [], []
        for i in range(b[s], b[s + 1], 1024):
            chunk = texts[i : min(i + 1024, b[s + 1])]
            if method == "oph":
                sig = hasher.signatures(chunk)
            else:
                sig = classic_signatures(hasher, chunk, _classic_params(112))
            keys.append(hasher.band_keys(sig))
            sigs.append(sig)
        shards[s] = ShardSignatures(band_keys=np.concatenate(keys),
                                    signatures=np.concatenate(sigs) if verify is not None else None)
    clock.lap("signatures_and_band_keys_s")
    result = cluster_duplicates(shards, verify_threshold=verify)
    clock.lap("cluster_s" if verify is None else "cluster_and_verify_s")
    return {**clock.done(), "clusters": result.clusters}, removed_from(result.drop, b)


def _classic_params(num_perm: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    rng = np.random.RandomState(1)
    return (rng.randint(1, MERSENNE, dtype=np.uint64, size=num_perm),
            rng.randint(0, MERSENNE, dtype=np.uint64, size=num_perm))


def classic_signatures(hasher: Any, texts: list[str],
                       params: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]) -> npt.NDArray[np.uint32]:
    """(len(texts), num_perm) uint32: the top 32 of the 61 bits of min((a*h + b) mod p) per permutation."""
    shingles, offsets = hasher.shingles(texts)
    a, c = params
    n = len(texts)
    mins = np.full((n, len(a)), MERSENNE, dtype=np.uint64)
    starts, ends = offsets[:-1], offsets[1:]
    nonempty = np.flatnonzero(ends > starts)
    nz_starts, nz_ends = starts[nonempty], ends[nonempty]
    block = 2048
    for s0 in range(0, len(shingles), block):
        s1 = min(s0 + block, len(shingles))
        buf = shingles[s0:s1, None] * a[None, :]
        buf += c[None, :]
        buf %= MERSENNE
        lo = int(np.searchsorted(nz_ends, s0, side="right"))
        hi = int(np.searchsorted(nz_starts, s1, side="left"))
        rows = nonempty[lo:hi]
        local = np.maximum(starts[rows], s0) - s0
        mins[rows] = np.minimum(mins[rows], np.minimum.reduceat(buf, local, axis=0))
    sig = (mins >> np.uint64(29)).astype(np.uint32)
    sig[ends == starts] = np.iinfo(np.uint32).max
    return sig


# -- the product's default, end to end on S3 -------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@contextmanager
def seaweedfs(workdir: Path) -> Iterator[tuple[dict[str, str], int]]:
    """A private SeaweedFS (`weed mini`) with one bucket: its AWS_* environment and its pid."""
    weed = shutil.which("weed", path=os.path.dirname(sys.executable)) or shutil.which("weed")
    if not weed:
        raise RuntimeError("SeaweedFS 'weed' not found next to the Python interpreter")
    s3, grpc, master, master_grpc, vol, vol_grpc, filer, filer_grpc, admin, admin_grpc = _free_ports(10)
    key, secret = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    ids = workdir / "s3-identities.json"
    ids.write_text(json.dumps({"identities": [{"name": "bench", "credentials": [{"accessKey": key,
                                                                             "secretKey": secret}],
                                               "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (workdir / "s3").mkdir()
    log = open(workdir / "weed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [weed, "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={workdir / 's3'}", f"-s3.port={s3}",
         f"-s3.port.grpc={grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-master.port={master}",
         f"-master.port.grpc={master_grpc}", f"-volume.port={vol}", f"-volume.port.grpc={vol_grpc}",
         f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-admin.port={admin}",
         f"-admin.port.grpc={admin_grpc}", "-admin.ui=false", "-webdav=false", f"-s3.config={ids}"],
        stdout=log, stderr=subprocess.STDOUT)
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3}",
           "AWS_DEFAULT_REGION": "us-east-1", "S3_BUCKET": "bench"}
    env_file = workdir / "s3.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([sys.executable, str(REPO / "hack" / "s3-bucket.py"), str(env_file)],
                             capture_output=True).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS did not come up; see {workdir / 'weed.log'}")
            time.sleep(1)
        yield env, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and its waited-for children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def bench_product(corpus: Corpus, workdir: Path) -> tuple[dict[str, Any], set[int]]:
    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.api.spec import MinHashFilter as MinHashSpec
    from datafoundry.api.stages import Stage
    from datafoundry.filters import MinHasher, ShardSignatures, cluster_duplicates
    from datafoundry.filters.minhash import from_npy
    from datafoundry.testing.workers import WorkerJob, gen_spec
    from datafoundry.workers import staging
    from datafoundry.workers.common import WorkerContext
    from datafoundry.workers.dedup import dedup_rounds
    from datafoundry.workers.filter import filter_shard

    n = len(corpus.records)
    b = bounds(n)
    with seaweedfs(workdir) as (env, weed_pid):
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        os.environ["DATAFOUNDRY_TERMINATION_LOG"] = str(workdir / "termination-log")
        try:
            spec = gen_spec(filters=[{"type": "minhash"}], target={"records": n})
            spec["generator"]["shards"] = SHARDS
            job = WorkerJob(f"s3://{env['S3_BUCKET']}/bench-{uuid.uuid4().hex[:8]}", workdir, os.environ,
                            credentials={"secretRef": {"name": "s3"}}).setup(spec)
            parsed = DataFoundryJobSpec.model_validate(job.spec)
            mh = next(f for f in parsed.filters or () if isinstance(f, MinHashSpec))
            for k in range(SHARDS):
                recs = corpus.records[b[k] : b[k + 1]]
                job.stage_gen(0, k, [recs[i : i + PART_RECORDS] for i in range(0, len(recs), PART_RECORDS)])

            def ctx(stage: Stage, shard: int) -> WorkerContext:
                return WorkerContext(stage=stage, plan=job.plan, spec=parsed, round=0, shard=shard, store=job.store)

            weed0 = process_cpu(weed_pid)
            clock = Clock()
            for k in range(SHARDS):
                progress = filter_shard(ctx(Stage.FILTER, k))
                assert progress.accepted == b[k + 1] - b[k], progress
            clock.lap("filter_stage_s")
            weed1 = process_cpu(weed_pid)
            dedup = dedup_rounds(ctx(Stage.DEDUP, 0))
            clock.lap("dedup_pass_s")
            row = clock.done()
            weed2 = process_cpu(weed_pid)
            report = json.loads(job.store.get(staging.drops_key(job.uid, 0)) or b"{}")
            removed = {int(b[int(sid.split("/s")[1])] + i) for sid, idx in report["drops"].items() for i in idx}
            assert len(removed) == n - dedup.accepted

            # the breakdown, each part again on its own (not part of the row's wall)
            texts = corpus.texts()
            hasher = MinHasher(ngram=mh.ngram, num_perm=mh.num_perm, bands=mh.bands, threshold=mh.threshold, seed=1)
            t = time.perf_counter()
            for k in range(SHARDS):
                for i in range(b[k], b[k + 1], 1024):
                    hasher.band_keys(hasher.signatures(texts[i : min(i + 1024, b[k + 1])]))
            sig_s = time.perf_counter() - t
            t = time.perf_counter()
            shards = {}
            for k in range(SHARDS):
                keys = from_npy(job.store.get(staging.filter_key(job.uid, 0, k, staging.MINHASH_KEYS)) or b"")
                sigs = from_npy(job.store.get(staging.filter_key(job.uid, 0, k, staging.MINHASH_SIGS)) or b"")
                shards[k] = ShardSignatures(band_keys=np.asarray(keys, np.uint64),
                                            signatures=np.asarray(sigs, np.uint32))
            read_s = time.perf_counter() - t
            t = time.perf_counter()
            cluster_duplicates(shards)
            cluster_s = time.perf_counter() - t
            t = time.perf_counter()
            cluster_duplicates(shards, verify_threshold=mh.threshold)
            verified_s = time.perf_counter() - t
        finally:
            os.environ.clear()
            os.environ.update(saved)
    row["breakdown_separately_s"] = {
        "filter_signatures_and_band_keys": round(sig_s, 3),
        "filter_rest_read_parse_write_puts": round(row["parts"]["filter_stage_s"] - sig_s, 3),
        "dedup_reads": round(read_s, 3), "dedup_cluster_unverified": round(cluster_s, 3),
        "dedup_cluster_verified": round(verified_s, 3), "dedup_verification": round(verified_s - cluster_s, 3)}
    row["s3_server_cpu_s"] = {"filter_stage": round(weed1 - weed0, 3), "dedup_pass": round(weed2 - weed1, 3)}
    row.update({"num_perm": mh.num_perm, "bands": mh.bands, "threshold": mh.threshold, "ngram": mh.ngram,
                "spec_filters": ["minhash"], "store": "s3 (SeaweedFS weed mini, local)"})
    return row, removed


# -- DataTrove ------------------------------------------------------------------------------------------------


def bench_datatrove(texts: list[str], workdir: Path, tokenizer: str) -> tuple[dict[str, Any], set[int]]:
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )
    t = time.perf_counter()
    language = _datatrove_tokenizer(tokenizer)
    load_s = time.perf_counter() - t
    config = MinhashConfig()  # 5-grams, 14 buckets x 8 hashes, 64-bit xxhash
    b = bounds(len(texts))

    def reader(data: Any, rank: int = 0, world_size: int = 1) -> Any:
        for i in range(b[rank], b[rank + 1]):
            yield Document(text=texts[i], id=str(i))

    sigs, buckets, clusters, logs = (workdir / x for x in ("sigs", "buckets", "remove", "logs"))
    def run(executor: Any) -> None:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):  # DataTrove's per-task logs
            executor.run()

    clock = Clock()
    run(LocalPipelineExecutor(pipeline=[reader, MinhashDedupSignature(output_folder=str(sigs), config=config,
                                                                    language=language)],
                          tasks=SHARDS, workers=1, logging_dir=str(logs / "1"), skip_completed=False))
    clock.lap("signatures_s")
    run(LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=str(sigs), output_folder=str(buckets),
                                                        config=config)],
                          tasks=config.num_buckets, workers=1, logging_dir=str(logs / "2"),
                          skip_completed=False))
    clock.lap("buckets_s")
    run(LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=str(buckets), output_folder=str(clusters),
                                                        config=config)],
                          tasks=1, workers=1, logging_dir=str(logs / "3"), skip_completed=False))
    clock.lap("cluster_s")
    row = clock.done()
    removed: set[int] = set()
    for f in clusters.glob("*.remove"):
        rank = int(f.name.split(".")[0])
        removed.update(int(b[rank] + i) for i in np.frombuffer(f.read_bytes(), dtype="<u4"))
    row.update({"buckets": config.num_buckets, "hashes_per_bucket": config.hashes_per_bucket,
                "ngram": config.n_grams, "tokenizer": type(language).__name__,
                "tokenizer_load_s_not_counted": round(load_s, 3)})
    return row, removed


def datatrove_costs(texts: list[str], tokenizer: str) -> dict[str, float]:
    """Milliseconds a record of DataTrove's signature step, each part alone: shingles (simplify_text,
    word tokenizer, xxhash per shingle) and the 112 permutations + min."""
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    step = MinhashDedupSignature(output_folder=tempfile.mkdtemp(prefix="dt-costs-"), config=MinhashConfig(),
                                 language=_datatrove_tokenizer(tokenizer))
    t = time.perf_counter()
    shingles = [step.get_shingles(x) for x in texts]
    t1 = time.perf_counter()
    for sh in shingles:
        step.get_signature(sh)
    t2 = time.perf_counter()
    shutil.rmtree(step.output_folder.path, ignore_errors=True)
    return {"shingles": round((t1 - t) / len(texts) * 1000, 4), "permutations": round((t2 - t1) / len(texts) * 1000, 4)}


def _datatrove_tokenizer(tokenizer: str) -> Any:
    from datatrove.utils.word_tokenizers import WordTokenizer, load_word_tokenizer

    class WhitespaceSplit(WordTokenizer):  # type: ignore[misc]
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            raise NotImplementedError

    language = WhitespaceSplit("en") if tokenizer == "whitespace" else load_word_tokenizer("en")
    language.word_tokenize("warm up")  # spaCy's import and spacy.blank("en"): once per process, not per record
    return language


def bench_spacy(corpus: Corpus, texts: list[str], limit: int, work: Path, rows: dict[str, Any], add: Any) -> None:
    """DataTrove with its default English tokenizer. spaCy costs ~5-10 ms a record on this kind of
    machine, so by default it runs on a subset (the first `limit` records and their planted partners),
    beside the whitespace split on the same subset; the full-corpus wall is then estimated as the
    whitespace row's plus the subset's extra signature seconds scaled by records."""
    if not limit or limit >= len(texts):
        (work / "spacy").mkdir()
        add("datatrove_spacy", *bench_datatrove(texts, work / "spacy", "spacy"))
        return
    keep = set(range(limit))
    for p in corpus.pairs:
        if p.a < limit or p.b < limit:
            keep |= {p.a, p.b}
    chosen = sorted(keep)
    where = {old: new for new, old in enumerate(chosen)}
    sub = Corpus(records=[corpus.records[i] for i in chosen], threshold=corpus.threshold, seed=corpus.seed,
                 pairs=[Pair(a=where[p.a], b=where[p.b], kind=p.kind, edits=p.edits, ops=p.ops, jaccard=p.jaccard)
                        for p in corpus.pairs if p.a in where])
    sub_texts = [texts[i] for i in chosen]
    sub_rows: dict[str, Any] = {}
    for tok in ("whitespace", "spacy"):
        (work / f"sub-{tok}").mkdir()
        row, removed = bench_datatrove(sub_texts, work / f"sub-{tok}", tok)
        sub_rows[tok] = {**row, **score(removed, sub.pairs, sub.threshold)}
        sub_rows[tok]["per_record_ms"] = datatrove_costs(sub_texts, tok)
    extra = sub_rows["spacy"]["parts"]["signatures_s"] - sub_rows["whitespace"]["parts"]["signatures_s"]
    scale = len(texts) / len(sub_texts)
    extra_cpu = sub_rows["spacy"]["cpu_s"] - sub_rows["whitespace"]["cpu_s"]
    rows["datatrove_spacy"] = {
        "wall_s": round(rows["datatrove_whitespace"]["wall_s"] + extra * scale, 3),
        "cpu_s": round(rows["datatrove_whitespace"]["cpu_s"] + extra_cpu * scale, 3), "estimated": True,
        "how": f"datatrove_whitespace wall (CPU) + spaCy's extra signature wall (whole-run CPU) seconds on "
               f"{len(sub_texts)} records x {len(texts)}/{len(sub_texts)}",
        "subset": {"records": len(sub_texts), "pairs": len(sub.pairs), "whitespace": sub_rows["whitespace"],
                   "spacy": sub_rows["spacy"]}}
    print(f"datatrove_spacy: {json.dumps(rows['datatrove_spacy'])}", flush=True)


def decomposition(rows: dict[str, Any]) -> dict[str, Any]:
    """What each speedup is made of: wall and CPU ratios of rows that differ in one thing. On a shared
    machine the CPU ratio is the steadier one."""
    def ratio(slow: str, fast: str) -> dict[str, float] | None:
        a, b = rows.get(slow, {}), rows.get(fast, {})
        if "wall_s" not in a or "wall_s" not in b:
            return None
        return {k: round(a[k] / b[k], 2) for k in ("wall_s", "cpu_s")}

    return {
        "hashing_scheme_classic_over_oph": ratio("ours_classic_112x14", "ours_oph_112x14"),
        "datatrove_pipeline_over_ours_classic_same_algorithm": ratio("datatrove_whitespace", "ours_classic_112x14"),
        "spacy_over_whitespace_tokenizer_datatrove": ratio("datatrove_spacy", "datatrove_whitespace"),
        "verification_cost_ratio": ratio("ours_oph_112x14_verified", "ours_oph_112x14"),
        "product_end_to_end_over_ours_oph_in_memory": ratio("product_default", "ours_oph_112x14"),
    }


# -- main ---------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=1000, help="records checked for unplanted neighbours")
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--spacy-records", type=int, default=5_000,
                        help="DataTrove with spaCy on this many records (plus their planted partners) and the "
                             "full-corpus wall estimated from it; 0: the whole corpus, measured")
    parser.add_argument("--skip-product", action="store_true", help="no SeaweedFS row")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    t0 = time.perf_counter()
    corpus = make_corpus(args.records, args.seed)
    texts = corpus.texts()
    true_pairs = sum(p.jaccard >= corpus.threshold for p in corpus.pairs)
    out: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "processes": 1},
        "corpus": {"records": len(texts), "seed": args.seed, "threshold": corpus.threshold, "ngram": 5,
                   "words_mean": round(float(np.mean([len(t.split()) for t in texts])), 1),
                   "planted_pairs": len(corpus.pairs), "true_pairs": true_pairs, "by_kind": corpus.stats,
                   "generate_s": round(time.perf_counter() - t0, 2)},
        "rows": {},
    }
    out["corpus"]["unplanted"] = unplanted_similarity(corpus, min(args.sample, len(texts)), args.seed)
    print(json.dumps(out["corpus"]), flush=True)
    rows: dict[str, dict[str, Any]] = out["rows"]

    def add(name: str, row: dict[str, Any], removed: set[int]) -> None:
        rows[name] = {**row, **score(removed, corpus.pairs, corpus.threshold)}
        print(f"{name}: {json.dumps(rows[name])}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="minhash-bench-"))
    try:
        if not args.skip_product:
            (work / "product").mkdir()
            add("product_default", *bench_product(corpus, work / "product"))
        add("ours_oph_112x14", *bench_ours(texts, "oph", None))
        add("ours_oph_112x14_verified", *bench_ours(texts, "oph", corpus.threshold))
        add("ours_classic_112x14", *bench_ours(texts, "classic", None))
        if not args.skip_datatrove:
            import datatrove

            out["datatrove_version"] = getattr(datatrove, "__version__", "0.10.1")
            (work / "whitespace").mkdir()
            add("datatrove_whitespace", *bench_datatrove(texts, work / "whitespace", "whitespace"))
            try:
                import spacy  # noqa: F401
            except ImportError:
                rows["datatrove_spacy"] = {"skipped": "spaCy is not installed: DataTrove's English word tokenizer "
                                           "is spacy.blank('en') (pip install spacy; no model data needed)"}
            else:
                bench_spacy(corpus, texts, args.spacy_records, work, rows, add)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in rows.values():
        for dt in ("datatrove_whitespace", "datatrove_spacy"):
            for kind in ("wall_s", "cpu_s"):
                if kind in row and kind in rows.get(dt, {}):
                    ratio = round(rows[dt][kind] / row[kind], 2)
                    row.setdefault(f"speedup_{kind[:-2]}_vs", {})[dt] = ratio
    out["decomposition"] = decomposition(rows)
    out["total_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
