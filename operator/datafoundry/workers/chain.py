"""spec.filters -> a FilterChain of the filter library, with the spec's camelCase options mapped.

Mapping choices (the spec is coarser than the library):
- length: tokens are counted with the library's cheap tokenizer (words + punctuation); the
  generator's tokenizer is not available in the CPU filter image.
- quality: maxLineRepetitionRatio -> max_duplicate_line_fraction; maxNgramRepetitionRatio -> the
  Gopher top-3-gram character fraction (2- and 4-gram limits keep the library defaults);
  maxSymbolWordRatio -> the Gopher symbol-to-word ratio (ellipses per word); rejectRefusals:
  false switches the refusal phrases off.
- pii: ipAddress -> ipv4 + ipv6.
- exactDedup with normalize: false hashes the raw text.
- minhash: signatures are kept so the global pass verifies LSH candidates against the threshold.
- judge: drops by the score the generator pod (or, curating, the filter pod) wrote to meta.judge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from datafoundry.api import spec as api
from datafoundry.filters import (
    DecontaminationFilter,
    ExactDedupFilter,
    FilterChain,
    JudgeFilter,
    LanguageFilter,
    LengthFilter,
    MinHashFilter,
    PIIFilter,
    QualityFilter,
    SchemaFilter,
)
from datafoundry.filters.base import DEFAULT_TEXT_FIELDS, Filter, text_of
from datafoundry.filters.quality import DEFAULT_TOP_NGRAM_CHAR_FRACTION
from datafoundry.strategies.base import RESERVED_FIELDS
from datafoundry.workers.common import BadInput
from datafoundry.workers.sources import LineErrors, iter_records, resolve

MINHASH_SEED = 1  # the same on every shard and round: band keys must be comparable

_PII_KINDS: dict[str, tuple[str, ...]] = {
    api.PiiKind.EMAIL: ("email",),
    api.PiiKind.PHONE: ("phone",),
    api.PiiKind.IP_ADDRESS: ("ipv4", "ipv6"),
    api.PiiKind.CREDIT_CARD: ("credit_card",),
    api.PiiKind.IBAN: ("iban",),
    api.PiiKind.US_SSN: ("us_ssn",),
    api.PiiKind.KR_RRN: ("kr_rrn",),
    api.PiiKind.URL: ("url",),
}
_ID_FIELDS = ("id", "_id", "task_id", "question_id", "uid", "idx")


def text_fields(spec: api.DataFoundryJobSpec) -> tuple[str, ...] | None:
    """Fields the filters read: the library defaults, plus input.textField first when it is custom."""
    if spec.input is None or spec.input.text_field in DEFAULT_TEXT_FIELDS:
        return None
    return (spec.input.text_field, *DEFAULT_TEXT_FIELDS)


def _item_id(record: Mapping[str, Any], line: int) -> str:
    for key in _ID_FIELDS:
        value = record.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return f"line-{line}"


def _benchmark_name(name: str) -> str:
    return name.split(".", 1)[0] or name


def load_eval_items(uris: Sequence[str], env: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(benchmark, item id, text) of every item of the eval sets; BadInput names a missing one."""
    items: list[tuple[str, str, str]] = []
    for uri in uris:
        objects = resolve(uri, env)
        if not objects:
            raise BadInput(f"decontamination eval set {uri}: not found (no object or prefix with data)")
        for obj in objects:
            benchmark = _benchmark_name(obj.name) if len(objects) > 1 or "." in obj.name else obj.name
            errors = LineErrors()
            for line, record in iter_records(obj, "auto", errors):
                text = text_of(record) or "\n".join(v for v in record.values() if isinstance(v, str))
                items.append((benchmark, _item_id(record, line), text))
            errors.check(f"eval set {obj.uri}")
    return items


def _pii(f: api.PiiFilter) -> Filter:
    kinds = [k for kind in f.kinds for k in _PII_KINDS.get(kind, ())]
    action: Literal["redact", "drop"] = "drop" if f.action == api.PiiAction.DROP else "redact"
    return PIIFilter(action=action, kinds=kinds, name=f.effective_name)


def build_one(f: api.AnyFilter, spec: api.DataFoundryJobSpec, env: Mapping[str, str]) -> Filter:
    name = f.effective_name
    fields = text_fields(spec)
    if isinstance(f, api.SchemaFilter):
        if spec.task is None or spec.task.output_schema is None:
            raise BadInput("the schema filter requires task.outputSchema")
        try:
            return SchemaFilter(schema=spec.task.output_schema, name=name, ignore_fields=RESERVED_FIELDS)
        except ValueError as e:
            raise BadInput(f"task.outputSchema: {e}") from e
    if isinstance(f, api.LengthFilter):
        return LengthFilter(min_chars=f.min_chars, max_chars=f.max_chars, min_tokens=f.min_tokens,
                            max_tokens=f.max_tokens, fields=fields, name=name)
    if isinstance(f, api.LanguageFilter):
        languages = f.languages or [spec.task.language if spec.task else "en"]
        try:
            return LanguageFilter(languages=languages, min_confidence=f.min_confidence, fields=fields, name=name)
        except ValueError as e:
            raise BadInput(f"filter {name}: {e}") from e
    if isinstance(f, api.QualityFilter):
        top = {**DEFAULT_TOP_NGRAM_CHAR_FRACTION, 3: f.max_ngram_repetition_ratio}
        return QualityFilter(max_duplicate_line_fraction=f.max_line_repetition_ratio, top_ngram_char_fraction=top,
                             max_ellipsis_word_ratio=f.max_symbol_word_ratio,
                             refusal_phrases=None if f.reject_refusals else (), fields=fields, name=name)
    if isinstance(f, api.PiiFilter):
        return _pii(f)
    if isinstance(f, api.ExactDedupFilter):
        return ExactDedupFilter(fields=fields, normalize=f.normalize, name=name)
    if isinstance(f, api.MinHashFilter):
        if not 0.0 < f.threshold < 1.0:
            raise BadInput(f"filter {name}: threshold must be within (0, 1), got {f.threshold}")
        return MinHashFilter(ngram=f.ngram, num_perm=f.num_perm, bands=f.bands, threshold=f.threshold,
                             seed=MINHASH_SEED, keep_signatures=True, fields=fields, name=name)
    if isinstance(f, api.DecontaminationFilter):
        return DecontaminationFilter(eval_items=load_eval_items(f.eval_sets, env), ngram=f.ngram,
                                     fields=fields, name=name)
    if isinstance(f, api.JudgeFilter):
        return JudgeFilter(min_score=f.min_score, name=name)
    raise BadInput(f"filter {name}: unknown filter type {getattr(f, 'type', '?')!r}")


def build_chain(spec: api.DataFoundryJobSpec, env: Mapping[str, str]) -> FilterChain:
    return FilterChain([build_one(f, spec, env) for f in spec.filters or ()])


def find(chain: FilterChain, cls: type[Filter]) -> Any:
    """The chain's filter of this class (singletons in the spec), or None."""
    return next((f for f in chain.filters if isinstance(f, cls)), None)
