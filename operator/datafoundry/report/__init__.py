"""The quality report of a dataset: `quality.json` beside `manifest.json`, its plots, and its card section.

Modules, one job each:

- `measures`: pure functions over texts (lengths, distinct-n, compression, repeated n-grams,
  Self-BLEU, domain similarity, stop-word share, label balance). No I/O.
- `build`: a streaming accumulator over published records (bounded memory: per-record lengths
  plus a seeded reservoir sample) that turns them, with the job's context, into the report dict.
- `plots`: PNG pictures of a report (matplotlib, an optional extra: `pip install datafoundry[report]`).
- `quality.schema.json`: the JSON Schema every `quality.json` validates against.

The report (`quality.json`), camelCase keys; a section is null when it does not apply:

    apiVersion: "datafoundry.io/quality/v1", kind: "QualityReport"
    sample:    {records, of, seed}             what the sampled measures (diversity, domain, languages) saw
    size:      {records, bytes, bySource: {generated|input|replay: n},
                tokens: {total, method: "tokenizer" | "estimate", tokenizer: str | null}}
    fields:    {<field>: {records, chars: Dist, tokens: Dist}}     Dist = {min, p10, p50, p90, max, mean,
                                                                     histogram: {edges: [..], counts: [..]}}
    diversity: {distinct1, distinct2, distinct3, compressionRatio, repeatedNgram: {n, share},
                selfBleu: {value, sample}}
    domain:    null | {reference: [str], similarity: Dist, threshold, belowThreshold,
                       leastMatching: [{id, similarity, text}]}
    novelty:   null | {maxRougeLToSeeds: Dist, copiesSeed, threshold, seeds, records}   each sampled prompt's
                       highest ROUGE-L F1 with a seed's prompt; copiesSeed: the share at threshold (0.7) or more
    coverage:  {strategies: {name: n}, taxonomy: null | {nodes: {"topic" | "topic / sub": n}, empty: [str]},
                labels: null | {counts: {label: n}, balance}, turns: null | Dist}
    scores:    null | {judge: null | {histogram: {"0".."10": n}, threshold, mean},
                       preferenceMargin: null | Dist (meta.source.margin of preference pairs)}
    process:   {funnel: {prompts?, generated, accepted, published},
                strategies: {name: {truncationRate, parseFailureRate}},
                drops: {filter: {reason: n}}, languages: {tag: share}, stopwordShare, pii: {kind: n},
                nearDuplicates: {clusters, duplicates, examples: [[{id, text}, ...], ...]},
                decontamination: {evalSet: records}, replayShare}
    samples:   [record, ...]                   five records drawn with the job's seed (after redaction)
    findings:  [{level: "warning" | "info", indicator, message}]   plain-language verdicts
    plots:     [{key, title}]                  PNGs written beside the report (empty without matplotlib)
"""
