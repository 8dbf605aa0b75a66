"""spec.filters -> a FilterChain of the filter library, with the spec's camelCase options mapped.

Mapping choices (the spec is coarser than the library):
- length: tokens are counted with the library's cheap tokenizer (words + punctuation); the
  generator's tokenizer is not available in the CPU filter image.
- quality: the language is the filter's, else task.language, else en; maxNgramRepetitionRatio ->
  the Gopher top-3-gram limit, the 2- and 4-gram limits 0.02 above and below it;
  maxDuplicateNgramRatio -> the 5-gram limit, 0.01 less per word up to 10-grams; rejectRefusals:
  false switches the refusal rule off; disabledRules switch rules off by their drop reason.
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
    MinHasher,
    MinHashFilter,
    PIIFilter,
    QualityFilter,
    SchemaFilter,
)
from datafoundry.filters.base import DEFAULT_TEXT_FIELDS, Filter, text_of
from datafoundry.pipeline.contract import BadInput
from datafoundry.records.fields import ID_FIELD, RESERVED_FIELDS
from datafoundry.records.objects import resolve
from datafoundry.records.read import LineErrors, iter_records

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
_ID_FIELDS = (ID_FIELD, "_id", "task_id", "question_id", "uid", "idx")


def text_fields(spec: api.DataFoundryJobSpec) -> tuple[str, ...] | None:
    """Fields the filters read: the library defaults, plus input.textField first when it is custom."""
    if spec.input is None or spec.input.text_field in DEFAULT_TEXT_FIELDS:
        return None
    return (spec.input.text_field, *DEFAULT_TEXT_FIELDS)


#: A grounding passage is shared by every record asked about it (documentQA keeps its chunk there):
#: duplicates are records that ask and answer the same, whatever passage they came from.
GROUNDING_FIELDS = ("context",)


def dedup_fields(spec: api.DataFoundryJobSpec) -> tuple[str, ...]:
    """Fields exact and near-duplicate detection compare: the text fields without grounding passages."""
    fields = text_fields(spec) or DEFAULT_TEXT_FIELDS
    return tuple(f for f in fields if f not in GROUNDING_FIELDS)


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


def _quality(f: api.QualityFilter, spec: api.DataFoundryJobSpec, fields: Sequence[str] | None) -> Filter:
    top3, dup5 = f.max_ngram_repetition_ratio, f.max_duplicate_ngram_ratio
    disabled = {str(rule) for rule in f.disabled_rules or ()}
    if not f.reject_refusals:
        disabled.add("refusal")
    return QualityFilter(
        language=f.language or (spec.task.language if spec.task else "en"),
        min_words=f.min_words or None,
        max_words=f.max_words,
        stop_words=f.stop_words,
        min_stop_words=f.min_stop_words or None,
        min_stop_word_ratio=f.min_stop_word_ratio,
        min_mean_word_length=f.min_mean_word_length,
        max_mean_word_length=f.max_mean_word_length,
        min_alpha_word_ratio=f.min_alpha_word_ratio or None,
        max_symbol_word_ratio=f.max_symbol_word_ratio,
        max_symbol_char_ratio=f.max_symbol_char_ratio,
        max_bullet_line_ratio=f.max_bullet_line_ratio,
        max_ellipsis_line_ratio=f.max_ellipsis_line_ratio,
        max_duplicate_line_fraction=f.max_line_repetition_ratio,
        max_duplicate_line_char_fraction=f.max_line_repetition_char_ratio,
        max_duplicate_paragraph_fraction=f.max_paragraph_repetition_ratio,
        max_duplicate_paragraph_char_fraction=f.max_paragraph_repetition_char_ratio,
        top_ngram_char_fraction={2: top3 + 0.02, 3: top3, 4: max(0.0, top3 - 0.02)},
        dup_ngram_char_fraction={n: max(0.0, dup5 - 0.01 * (n - 5)) for n in range(5, 11)},
        max_compression_ratio=f.max_compression_ratio,
        max_lowercase_sentence_ratio=f.max_lowercase_sentence_ratio or None,
        min_line_punctuation_ratio=f.min_line_punctuation_ratio or None,
        max_short_line_ratio=f.max_short_line_ratio,
        max_char_duplicate_ratio=f.max_char_duplicate_ratio,
        reject_curly_braces=f.reject_curly_braces,
        disabled_rules=disabled,
        fields=fields,
        name=f.effective_name,
    )


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
        return _quality(f, spec, fields)
    if isinstance(f, api.PiiFilter):
        return _pii(f)
    if isinstance(f, api.ExactDedupFilter):
        return ExactDedupFilter(fields=dedup_fields(spec), normalize=f.normalize, name=name)
    if isinstance(f, api.MinHashFilter):
        if not 0.0 < f.threshold < 1.0:
            raise BadInput(f"filter {name}: threshold must be within (0, 1), got {f.threshold}")
        hasher = MinHasher(ngram=f.ngram, num_perm=f.num_perm, bands=f.bands, threshold=f.threshold, seed=MINHASH_SEED)
        return MinHashFilter(hasher=hasher, keep_signatures=True, fields=dedup_fields(spec), name=name)
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
