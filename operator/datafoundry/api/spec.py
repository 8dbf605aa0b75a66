"""The DataFoundryJob spec: what dataset to produce, how to generate and filter it, where to put it.

The models are the single source of truth: ``crd.py`` turns them into the CRD's OpenAPI schema
(descriptions become ``kubectl explain`` text), and ``datafoundry validate`` and the operator
validate manifests with them. Each cross-field rule is declared once, next to its model, as a
predicate method with its CEL expression, message and field path (``rules.py``): the CRD and
validation both come from that declaration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal

from pydantic import Field

from datafoundry.api._base import APIEnum, SpecModel, has
from datafoundry.api.rules import Check, exactly_one_of, item_rule, rule
from datafoundry.api.types import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    IMAGE_REF,
    LABEL_KEY,
    LABEL_VALUE,
    MAX_LABEL,
    MAX_LONG_TEXT,
    MAX_NAME,
    MAX_TEXT,
    MODEL_REF,
    NO_CONTROL,
    ConfigKey,
    DataURI,
    FreeFormObject,
    HttpURL,
    LanguageTag,
    Quantity,
    RecordField,
    SecretName,
    SeedItem,
)

# --------------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------------


class TaskType(APIEnum):
    """Kind of records to produce."""

    INSTRUCTION = "instruction"
    QA = "qa"
    DIALOGUE = "dialogue"
    CLASSIFICATION = "classification"
    PREFERENCE = "preference"


class StrategyName(APIEnum):
    """Generation strategy."""

    SELF_INSTRUCT = "selfInstruct"
    EVOL_INSTRUCT = "evolInstruct"
    PERSONA = "persona"
    DOCUMENT_QA = "documentQA"
    MULTI_TURN = "multiTurn"
    PREFERENCE_PAIRS = "preferencePairs"
    TAXONOMY = "taxonomy"
    #: Magpie: the model writes the user turn itself from an open chat template, no seeds needed.
    MAGPIE = "magpie"


class EvolOperation(APIEnum):
    """An Evol-Instruct evolution: the first five are WizardLM's in-depth evolutions, breadth its
    in-breadth mutation (a new instruction of the same domain)."""

    ADD_CONSTRAINTS = "addConstraints"
    DEEPEN = "deepen"
    CONCRETIZE = "concretize"
    INCREASE_REASONING = "increaseReasoning"
    COMPLICATE_INPUT = "complicateInput"
    BREADTH = "breadth"


class EngineType(APIEnum):
    """Inference engine."""

    VLLM = "vllm"
    OPENAI = "openai"


class Dtype(APIEnum):
    """Model weight/activation dtype for vLLM."""

    AUTO = "auto"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"
    FLOAT32 = "float32"


class DataFormat(APIEnum):
    """Format of input data objects."""

    AUTO = "auto"
    JSONL = "jsonl"
    PARQUET = "parquet"
    TEXT = "text"


class OutputFormat(APIEnum):
    """Format of the published dataset shards."""

    JSONL = "jsonl"
    PARQUET = "parquet"


class Compression(APIEnum):
    """Compression of the published dataset shards."""

    NONE = "none"
    ZSTD = "zstd"


class FilterType(APIEnum):
    """Filter families (the ``type`` of a ``spec.filters`` entry)."""

    SCHEMA = "schema"
    LENGTH = "length"
    LANGUAGE = "language"
    QUALITY = "quality"
    PII = "pii"
    EXACT_DEDUP = "exactDedup"
    MINHASH = "minhash"
    DECONTAMINATION = "decontamination"
    JUDGE = "judge"


class PiiAction(APIEnum):
    """What to do with a record that contains PII."""

    REDACT = "redact"
    DROP = "drop"


class PiiKind(APIEnum):
    """Kind of personally identifiable information detected."""

    EMAIL = "email"
    PHONE = "phone"
    IP_ADDRESS = "ipAddress"
    CREDIT_CARD = "creditCard"
    IBAN = "iban"
    US_SSN = "usSSN"
    KR_RRN = "krRRN"
    URL = "url"


class AddressingStyle(APIEnum):
    """S3 bucket addressing style."""

    AUTO = "auto"
    PATH = "path"
    VIRTUAL = "virtual"


#: Filter types that may appear at most once in ``spec.filters``.
SINGLETON_FILTERS: tuple[FilterType, ...] = (
    FilterType.SCHEMA,
    FilterType.LANGUAGE,
    FilterType.PII,
    FilterType.EXACT_DEDUP,
    FilterType.MINHASH,
    FilterType.JUDGE,
    FilterType.DECONTAMINATION,
)

MAX_FILTERS = 32
MAX_STRATEGIES = 16
MAX_SEEDS = 1000
MAX_SHARDS = 1024


def _defaults(model: type[SpecModel]) -> dict[str, Any]:
    """A model's defaults as a CRD default (nested defaults are not applied inside a default)."""
    return model().model_dump(mode="json", by_alias=True, exclude_none=True)


def _map_list(key: str) -> dict[str, Any]:
    """A list keyed by ``key``: the API server and validation refuse two entries with one key."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]}


# --------------------------------------------------------------------------------------------
# Shared references
# --------------------------------------------------------------------------------------------


class SecretKeyRef(SpecModel):
    """A key in a Secret in the job's namespace. The operator never reads it; pods reference it."""

    name: SecretName = Field(description="Name of the Secret in the job's namespace.")
    key: ConfigKey = Field(description="Key within the Secret.")


# --------------------------------------------------------------------------------------------
# task
# --------------------------------------------------------------------------------------------


class Seeds(SpecModel):
    """Example records that show the generator what good output looks like. Exactly one of
    ``inline`` or ``uri``."""

    inline: list[SeedItem] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SEEDS,
        description=(
            "Seed examples written in the manifest, as objects shaped like the records wanted "
            "(e.g. {instruction, response})."
        ),
    )
    uri: DataURI | None = Field(
        default=None,
        description="Object or file with seed examples (JSONL, one example per line): s3://bucket/key or file://path.",
    )

    @exactly_one_of("inline", "uri")
    def _one_source(self) -> bool:
        return has(self.inline) != has(self.uri)


class Documents(SpecModel):
    """A grounding corpus: documents are chunked and used as context, e.g. by the documentQA strategy."""

    uri: DataURI = Field(description="Object, prefix or file with the documents: s3://bucket/prefix/ or file://path.")
    format: DataFormat = Field(
        default=DataFormat.AUTO,
        description="Format of the documents; auto detects from the object name (.jsonl, .parquet, else text).",
    )
    text_field: RecordField = Field(
        default="text", description="Field holding the document text in JSONL/Parquet documents."
    )
    chunk_chars: int = Field(default=2000, ge=100, le=100_000, description="Chunk size in characters.")
    chunk_overlap_chars: int = Field(
        default=200, ge=0, le=50_000, description="Overlap between consecutive chunks in characters."
    )
    max_chunks: int | None = Field(
        default=None, ge=1, le=100_000_000, description="Use at most this many chunks (sampled with the job seed)."
    )

    @rule("self.chunkOverlapChars < self.chunkChars", "chunkOverlapChars must be smaller than chunkChars",
          "chunkOverlapChars")
    def _overlap_below_chunk(self) -> bool:
        return self.chunk_overlap_chars < self.chunk_chars


class Topic(SpecModel):
    """A taxonomy node: a topic and optional subtopics to spread generation over."""

    name: str = Field(min_length=1, max_length=256, pattern=NO_CONTROL, description="Topic name.")
    description: str | None = Field(default=None, max_length=MAX_TEXT, description="What the topic covers.")
    weight: int = Field(default=1, ge=0, le=1000, description="Relative share of records for this topic.")
    subtopics: list[Annotated[str, Field(min_length=1, max_length=256, pattern=NO_CONTROL)]] | None = Field(
        default=None, max_length=256, description="Subtopics; records are spread evenly over them."
    )


class ClassLabel(SpecModel):
    """A class of a classification task."""

    name: str = Field(
        min_length=1, max_length=MAX_LABEL, pattern=NO_CONTROL, description="Label value written to records."
    )
    description: str | None = Field(
        default=None, max_length=MAX_TEXT, description="What the label means; shown to the generator."
    )


class Task(SpecModel):
    """What the dataset is for: the kind of records and the domain they must match."""

    type: TaskType = Field(default=TaskType.INSTRUCTION, description="Kind of records to produce.")
    domain: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        description="Natural-language description of the target domain and use case; steers generation and judging.",
    )
    language: LanguageTag = Field(default="en", description="Language of the records as a BCP 47 tag (en, de, pt-BR).")
    seeds: Seeds | None = Field(default=None, description="Example records (inline or from a URI).")
    documents: Documents | None = Field(default=None, description="Optional grounding corpus.")
    taxonomy: list[Topic] | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="Optional topic taxonomy (two levels: topics and subtopics) to cover evenly.",
        json_schema_extra=_map_list("name"),
    )
    output_schema: FreeFormObject | None = Field(
        default=None,
        description="Optional JSON Schema every record must satisfy (structured output; checked by the schema filter).",
    )
    labels: list[ClassLabel] | None = Field(
        default=None,
        min_length=2,
        max_length=256,
        description="Class labels; required for, and only allowed with, type classification.",
        json_schema_extra=_map_list("name"),
    )
    instructions: str | None = Field(
        default=None,
        max_length=MAX_LONG_TEXT,
        description="Extra guidance for the generator (style, length, things to avoid).",
    )

    @rule("self.type != 'classification' || has(self.labels)", "labels are required for classification tasks",
          "labels", "FieldValueRequired")
    def _classification_has_labels(self) -> bool:
        return self.type != TaskType.CLASSIFICATION or has(self.labels)

    @rule("!has(self.labels) || self.type == 'classification'", "labels are only allowed for classification tasks",
          "labels", "FieldValueForbidden")
    def _labels_only_for_classification(self) -> bool:
        return not has(self.labels) or self.type == TaskType.CLASSIFICATION


# --------------------------------------------------------------------------------------------
# target, budget
# --------------------------------------------------------------------------------------------


class Target(SpecModel):
    """How many accepted records the dataset must have."""

    records: int = Field(ge=1, le=1_000_000_000, description="Accepted records wanted (after all filters).")
    overgenerate: float = Field(
        default=1.5,
        ge=1.0,
        le=20.0,
        description=(
            "Generate this many times the missing records in a round, to cover expected rejections. "
            "Later rounds use the acceptance rate measured so far."
        ),
    )


class Budget(SpecModel):
    """Limits on the work spent to reach the target. Limits may be raised (never lowered) while the job runs."""

    max_rounds: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Generation rounds at most (the first round plus top-up rounds) before giving up.",
    )
    max_gpu_hours: float | None = Field(
        default=None,
        alias="maxGPUHours",
        gt=0,
        le=1_000_000,
        description=(
            "GPU-hours the generator pods may use (status.progress.gpuHours: GPUs x the time each pod held them). "
            "Once spent no further generator round starts; a running round finishes. The job then succeeds with a "
            "warning if the target was met, else fails with reason BudgetExhausted. Unset: no limit."
        ),
    )


# --------------------------------------------------------------------------------------------
# generator
# --------------------------------------------------------------------------------------------


class Toleration(SpecModel):
    """A pod toleration (core/v1 Toleration)."""

    key: str | None = Field(
        default=None, max_length=316, pattern=LABEL_KEY, description="Taint key; empty with Exists matches all taints."
    )
    operator: Literal["Exists", "Equal"] = Field(default="Equal", description="Exists or Equal.")
    value: str | None = Field(default=None, max_length=MAX_LABEL, pattern=LABEL_VALUE, description="Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, le=31_536_000, description="How long a NoExecute taint is tolerated."
    )

    @rule("self.operator != 'Exists' || !has(self.value)", "value must be empty when operator is Exists", "value",
          "FieldValueForbidden")
    def _no_value_with_exists(self) -> bool:
        return self.operator != "Exists" or not has(self.value)


#: A resource name or label key (map keys): a qualified name with an optional DNS-subdomain prefix,
#: checked by the rules of the models holding the map (a key pattern would not make a structural schema).
ResourceName = Annotated[str, Field(max_length=316)]
_LABEL_KEY_RE = re.compile(LABEL_KEY)
_LABEL_KEY_CEL = LABEL_KEY.replace("\\.", "[.]")  # a CEL string literal has no `\.` escape


def _label_keys(field: str) -> str:
    """CEL: every key of the optional map ``field`` is a label key (the Python twin: :func:`_all_label_keys`)."""
    return f"!has(self.{field}) || self.{field}.all(k, k.matches('{_LABEL_KEY_CEL}'))"


def _all_label_keys(mapping: dict[str, Any] | None) -> bool:
    return all(_LABEL_KEY_RE.fullmatch(key) for key in mapping or {})


_RESOURCE_NAMES = "resource names must be qualified names (cpu, memory, nvidia.com/gpu)"


class Resources(SpecModel):
    """Resource requests/limits added to the generator container (GPUs come from gpusPerShard)."""

    requests: dict[ResourceName, Quantity] | None = Field(
        default=None, max_length=16, description="Resource requests, e.g. {cpu: '8', memory: 64Gi}."
    )
    limits: dict[ResourceName, Quantity] | None = Field(
        default=None, max_length=16, description="Resource limits, e.g. {memory: 64Gi}."
    )

    @rule(_label_keys("requests"), _RESOURCE_NAMES, "requests")
    def _request_names(self) -> bool:
        return _all_label_keys(self.requests)

    @rule(_label_keys("limits"), _RESOURCE_NAMES, "limits")
    def _limit_names(self) -> bool:
        return _all_label_keys(self.limits)


class Sampling(SpecModel):
    """Sampling parameters for generation."""

    temperature: float = Field(default=0.8, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="Nucleus sampling probability mass.")
    max_tokens: int = Field(default=1024, ge=1, le=131_072, description="Maximum tokens generated per completion.")
    repetition_penalty: float = Field(
        default=1.0,
        gt=0.0,
        le=2.0,
        description="Penalty on tokens already in the prompt or the output (vLLM's repetition_penalty): 1.0 is "
        "none, 1.05-1.15 curbs the loops of small models. The vllm engine, and OpenAI-compatible servers that "
        "accept it (vLLM, SGLang); sent only when not 1.0.",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2_147_483_647,
        description="Sampling seed; unset derives a per-shard seed from spec.seed.",
    )


#: Self-Instruct's filter of instructions a text model cannot serve (Wang et al., 2023).
SELF_INSTRUCT_EXCLUDED_KEYWORDS: Final = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw", "plot",
    "go to", "video", "audio", "music", "flowchart", "diagram",
)
#: selfInstruct's default instruction length in words, for the minWords <= maxWords rule.
SELF_INSTRUCT_MIN_WORDS: Final = 3
SELF_INSTRUCT_MAX_WORDS: Final = 150
_KEYWORD = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)]
_PERSONA = Annotated[str, Field(min_length=1, max_length=512, pattern=NO_CONTROL)]


class StrategyOptions(SpecModel):
    """Options of a strategy. Every field is optional and belongs to the strategies its description
    names (a rule of the strategy refuses the others); an unset field takes the default it states."""

    max_chars: int | None = Field(
        default=None,
        ge=16,
        le=100_000,
        description="Every strategy but magpie and preferencePairs: the bound in characters of each text field of "
        "a record written in one call as JSON (dialogue, classification, task.outputSchema) and of the question "
        "of an ask-then-answer record; default "
        "(sampling.maxTokens - 32) * 3 / the number of text fields, at least 16.",
    )
    examples: int | None = Field(
        default=None, ge=1, le=16, description="selfInstruct: seed instructions shown per prompt; default 3."
    )
    pooled_examples: int | None = Field(
        default=None,
        ge=0,
        le=16,
        description="selfInstruct: accepted generated instructions from the job's pool shown per prompt, next to "
        "the seeds; default 2.",
    )
    max_similarity: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="selfInstruct: ROUGE-L F1 with an instruction of the pool or a seed at or above which a new "
        "instruction is dropped as too close; 1 switches the check off; default 0.7.",
    )
    min_words: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description=f"selfInstruct: fewer words drop a new instruction; default {SELF_INSTRUCT_MIN_WORDS}.",
    )
    max_words: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description=f"selfInstruct: more words drop a new instruction; default {SELF_INSTRUCT_MAX_WORDS}.",
    )
    excluded_keywords: list[_KEYWORD] | None = Field(
        default=None,
        max_length=64,
        description="selfInstruct: a new instruction containing one of these words or phrases (whole words, any "
        "case) is dropped, as one a text model cannot serve; [] switches the check off; default Self-Instruct's "
        f"list: {', '.join(SELF_INSTRUCT_EXCLUDED_KEYWORDS)}.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    pool_size: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="selfInstruct: accepted instructions the job's pool keeps to compare new ones with and to "
        "show as examples; default 1000.",
    )
    operations: list[EvolOperation] | None = Field(
        default=None,
        min_length=1,
        max_length=len(EvolOperation),
        description="evolInstruct: the evolutions applied, taken in turn: addConstraints, deepen, concretize, "
        "increaseReasoning and complicateInput are WizardLM's in-depth evolutions, breadth its in-breadth "
        "mutation; default all.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    generations: int | None = Field(
        default=None, ge=1, le=8, description="evolInstruct: evolution rounds per instruction; default 3."
    )
    personas: list[_PERSONA] | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="persona: the people the records are written for, e.g. 'a nurse on a night shift', taken in "
        "turn from a random start; default 12 built-in personas (a junior engineer, a senior specialist, a "
        "manager, a student, ...).",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )
    turns: int | None = Field(
        default=None, ge=1, le=16, description="multiTurn: user/assistant turns per dialogue; default 3."
    )
    samples: int | None = Field(
        default=None,
        ge=2,
        le=8,
        description="preferencePairs: responses sampled per prompt; the judge ranks them, chosen is the best, "
        "rejected the worst; default 4.",
    )
    min_margin: float | None = Field(
        default=None,
        ge=0.0,
        le=10.0,
        description="preferencePairs: the judge-score gap between chosen and rejected below which the pair is "
        "dropped; default 2.",
    )
    system_prompt: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description="magpie: the system turn before the open user turn, which steers the queries' domain; default "
        "one naming task.domain and task.language.",
    )
    pre_query_template: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEXT,
        description="magpie: the raw text that opens a user turn (e.g. '<|im_start|>user\\n'); required with "
        "generator.engine.type openai, where the operator cannot render the model's chat template; with the "
        "vllm engine it is derived from that template.",
    )

    @rule(f"(has(self.minWords) ? self.minWords : {SELF_INSTRUCT_MIN_WORDS})"
          f" <= (has(self.maxWords) ? self.maxWords : {SELF_INSTRUCT_MAX_WORDS})",
          f"minWords must not exceed maxWords (defaults {SELF_INSTRUCT_MIN_WORDS} and {SELF_INSTRUCT_MAX_WORDS})",
          "minWords")
    def _words_ordered(self) -> bool:
        low = SELF_INSTRUCT_MIN_WORDS if self.min_words is None else self.min_words
        high = SELF_INSTRUCT_MAX_WORDS if self.max_words is None else self.max_words
        return low <= high


def _options_only_for(allowed: str, who: str, *fields: str) -> Callable[[Check], Check]:
    """Declare the rule that the options ``fields`` (YAML names) are set only when the CEL ``allowed``
    holds on the strategy; ``who`` names those strategies in the message."""
    unset = " && ".join(f"!has(self.options.{f})" for f in fields)
    listed = f"{', '.join(fields[:-1])} and {fields[-1]} are" if len(fields) > 1 else f"{fields[0]} is"
    return rule(f"{allowed} || !has(self.options) || ({unset})", f"options.{listed} {who}", "options",
                "FieldValueForbidden")


def _only(name: str, *fields: str) -> Callable[[Check], Check]:
    return _options_only_for(f"self.name == '{name}'", f"only for {name}", *fields)


class Strategy(SpecModel):
    """A generation strategy and its share of the records."""

    name: StrategyName = Field(description="Strategy.")
    weight: int = Field(default=1, ge=0, le=1000, description="Relative share of generated records.")
    options: StrategyOptions | None = Field(
        default=None,
        description="Options of the strategy; each is for the strategies its description names, and an unset one "
        "takes the default it states.",
    )

    def _set_options(self, *fields: str) -> bool:
        return self.options is not None and any(getattr(self.options, f) is not None for f in fields)

    def _only_for(self, name: StrategyName, *fields: str) -> bool:
        return self.name == name or not self._set_options(*fields)

    @_options_only_for("!(self.name in ['magpie', 'preferencePairs'])",
                       "for every strategy but magpie and preferencePairs (their records are free text)", "maxChars")
    def _max_chars_not_for_free_text(self) -> bool:
        return self.name not in (StrategyName.MAGPIE, StrategyName.PREFERENCE_PAIRS) or not self._set_options(
            "max_chars")

    @_only("selfInstruct", "examples", "pooledExamples", "maxSimilarity", "minWords", "maxWords",
                       "excludedKeywords", "poolSize")
    def _self_instruct_options(self) -> bool:
        return self._only_for(StrategyName.SELF_INSTRUCT, "examples", "pooled_examples", "max_similarity",
                              "min_words", "max_words", "excluded_keywords", "pool_size")

    @_only("evolInstruct", "operations", "generations")
    def _evol_instruct_options(self) -> bool:
        return self._only_for(StrategyName.EVOL_INSTRUCT, "operations", "generations")

    @_only("persona", "personas")
    def _persona_options(self) -> bool:
        return self._only_for(StrategyName.PERSONA, "personas")

    @_only("multiTurn", "turns")
    def _multi_turn_options(self) -> bool:
        return self._only_for(StrategyName.MULTI_TURN, "turns")

    @_only("preferencePairs", "samples", "minMargin")
    def _preference_pairs_options(self) -> bool:
        return self._only_for(StrategyName.PREFERENCE_PAIRS, "samples", "min_margin")

    @_only("magpie", "systemPrompt", "preQueryTemplate")
    def _magpie_options(self) -> bool:
        return self._only_for(StrategyName.MAGPIE, "system_prompt", "pre_query_template")


def _openai_only(field: str) -> Callable[[Check], Check]:
    """Declare the rule that the Engine field ``field`` is set only with type openai."""
    return rule(f"self.type == 'openai' || !has(self.{field})", f"{field} is only allowed when type is openai", field,
                "FieldValueForbidden")


class Engine(SpecModel):
    """Inference engine: vLLM inside the generator pods, or an existing OpenAI-compatible server."""

    type: EngineType = Field(default=EngineType.VLLM, description="vllm (in-pod vLLM) or openai (HTTP endpoint).")
    endpoint: HttpURL | None = Field(
        default=None,
        description="Base URL of the OpenAI-compatible API, e.g. http://vllm.serving:8000/v1 (openai only).",
    )
    model_name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=NO_CONTROL,
        description="Model name sent to the endpoint; defaults to the generator's model (openai only).",
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding the API key (openai only)."
    )
    max_concurrency: int = Field(default=32, ge=1, le=4096, description="Concurrent requests per shard (openai).")
    timeout_seconds: int = Field(default=300, ge=1, le=3600, description="Timeout of one request (openai).")
    max_retries: int = Field(
        default=5, ge=0, le=100, description="Retries with backoff on 429/5xx and network errors (openai)."
    )

    @rule("self.type != 'openai' || has(self.endpoint)", "endpoint is required when type is openai", "endpoint",
          "FieldValueRequired")
    def _openai_has_endpoint(self) -> bool:
        return self.type != EngineType.OPENAI or has(self.endpoint)

    @_openai_only("endpoint")
    def _endpoint_only_for_openai(self) -> bool:
        return self.type == EngineType.OPENAI or not has(self.endpoint)

    @_openai_only("apiKeySecretRef")
    def _api_key_only_for_openai(self) -> bool:
        return self.type == EngineType.OPENAI or not has(self.api_key_secret_ref)

    @_openai_only("modelName")
    def _model_name_only_for_openai(self) -> bool:
        return self.type == EngineType.OPENAI or not has(self.model_name)


class Screens(SpecModel):
    """Checks on each generated record before it is written; a record that fails one is counted as
    generator/<rule> in status.progress.rejected, the manifest and the card, per strategy."""

    enabled: bool = Field(
        default=True,
        description="Run the screens below, and a strategy's own admission filters (selfInstruct's pool filters: "
        "length, excluded keywords, not text, similarity to the pool; its pool still grows). Switch off only where "
        "text content does not matter (load tests).",
    )
    truncated: bool = Field(
        default=True,
        description="Drop completions the engine cut at sampling.maxTokens (finish_reason=length) and records "
        "whose text field filled its schema maxLength, where guided decoding closes the string mid-sentence.",
    )
    unfinished: bool = Field(
        default=True,
        description="Drop answers whose last line is prose that stops without closing punctuation (a list item, "
        "table row or code block may end without one; Korean sentence endings such as 다 and 요 count as closing).",
    )
    non_answer: bool = Field(
        default=True,
        description="Drop answers that end with a colon, or that in 25 words or fewer promise a command, code, "
        "steps or an example (the following, below, here is) and give none.",
    )
    seed_novelty: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="Drop a record whose instruction/question/prompt has a ROUGE-L F1 of this much or more with a "
        "seed's (Self-Instruct keeps instructions below 0.7). 0 switches it off.",
    )
    answer_in_prompt: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="Drop a record when this share or more of its answer's words (answers of 4 words or more) "
        "appear in order in its instruction: the prompt gives its answer away. 0 switches it off.",
    )


#: Where generator pods mount things (fixed paths, documented in the field descriptions).
MODEL_CLAIM_MOUNT_ROOT = "/models"
MODEL_CACHE_MOUNT = "/var/cache/datafoundry/models"

#: CEL on a Generator: a model the in-pod engine downloads (s3:// or a Hugging Face id) / a Hugging Face id.
_DOWNLOADED_MODEL_CEL = "!self.model.startsWith('pvc://') && !self.model.startsWith('/')"
_HF_MODEL_CEL = f"{_DOWNLOADED_MODEL_CEL} && !self.model.startsWith('s3://')"
_VLLM_CEL = "(!has(self.engine) || self.engine.type == 'vllm')"


def is_hf_model(model: str) -> bool:
    """A Hugging Face id (not s3://, pvc:// or an absolute path)."""
    return not model.startswith(("s3://", "pvc://", "/"))


class ModelCache(SpecModel):
    """Where the generator pods download an s3:// or Hugging Face model, instead of each pod's /tmp."""

    claim_name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=DNS_SUBDOMAIN,
        description=(
            f"PersistentVolumeClaim in the job's namespace, mounted read-write at {MODEL_CACHE_MOUNT} in every "
            "generator pod of the job and shared by them: an s3:// model is downloaded into its s3/ folder and a "
            "Hugging Face model into its huggingface/ folder (HF_HUB_CACHE). A pod keeps the files an earlier pod "
            "completed (s3://: same size and ETag as the object; Hugging Face: the Hub cache's own bookkeeping), so "
            "later shards, rounds and jobs naming the same claim download nothing again. Pods of one job run on "
            "several nodes at once only with a ReadWriteMany claim."
        ),
    )
    size_limit: Quantity | None = Field(
        default=None,
        description=(
            f"An emptyDir of this size at {MODEL_CACHE_MOUNT}, one per generator pod (not shared: every pod "
            "downloads the model once, a retried pod again), and an ephemeral-storage request of this size on "
            "the generator container (unless generator.resources sets ephemeral-storage), so that pods are "
            "placed on nodes with room for the model and evicted when the download outgrows it."
        ),
    )

    @exactly_one_of("claimName", "sizeLimit")
    def _claim_or_size(self) -> bool:
        return has(self.claim_name) != has(self.size_limit)


class HuggingFace(SpecModel):
    """How the in-pod vLLM engine reaches the Hugging Face Hub (or a mirror) for a Hugging Face model id."""

    token_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding a Hugging Face access token (gated or private models), given to the "
        "generator container as HF_TOKEN through a secretKeyRef: the operator never reads it.",
    )
    endpoint: HttpURL | None = Field(
        default=None,
        description="Hub endpoint for a mirror or an air-gapped cluster's proxy, set as HF_ENDPOINT in the "
        "generator container, e.g. https://hf-mirror.internal.example.com.",
    )


class Generator(SpecModel):
    """How records are generated: model, engine, sharding, placement, sampling and strategies."""

    model: str = Field(
        min_length=1,
        max_length=1024,
        pattern=MODEL_REF,
        description=(
            "Model to generate with: a Hugging Face id (org/name: vLLM loads it from the image's cache or "
            "downloads it from the Hub, see huggingFace and modelCache); s3://bucket/prefix (every object under "
            "the prefix is downloaded with the output's endpoint and credentials, into modelCache or the pod's "
            "/tmp, then loaded from there); pvc://claim/path (the PersistentVolumeClaim is mounted read-only at "
            f"{MODEL_CLAIM_MOUNT_ROOT}/<claim> in the generator pods and the model loaded from "
            f"{MODEL_CLAIM_MOUNT_ROOT}/<claim>/<path>); or an absolute path in the generator image."
        ),
    )
    model_revision: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="Model revision (Hugging Face branch, tag or commit).",
    )
    image: str | None = Field(
        default=None,
        max_length=1024,
        pattern=IMAGE_REF,
        description="Generator image override; defaults to the operator's configured generator image.",
    )
    shards: int = Field(
        default=1, ge=1, le=MAX_SHARDS, description="Number of generator shards (Indexed Job completions)."
    )
    parallelism: int | None = Field(
        default=None, ge=1, le=MAX_SHARDS, description="Shards running at once; defaults to shards."
    )
    gpus_per_shard: int = Field(
        default=1,
        ge=0,
        le=16,
        description="nvidia.com/gpu requested per generator pod; 0 runs on CPU (or with the openai engine).",
    )
    tensor_parallel_size: int = Field(
        default=1, ge=1, le=16, description="vLLM tensor parallel size; must divide gpusPerShard."
    )
    max_model_len: int | None = Field(
        default=None, ge=128, le=1_048_576, description="vLLM max model length (context) in tokens."
    )
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0.0, le=1.0, description="Fraction of GPU memory vLLM may use."
    )
    dtype: Dtype = Field(default=Dtype.AUTO, description=(
        "Model dtype for vLLM. auto: the checkpoint's dtype (bfloat16 for most instruct models); on a CPU "
        "without native bfloat16 (AVX512_BF16, AMX-BF16 or Arm BF16 instructions) float32, about twice as "
        "fast there as emulated bfloat16."))
    enforce_eager: bool | None = Field(default=None, description=(
        "Run the model in eager mode: no torch.compile, no CUDA graphs (vLLM's enforce_eager). Unset: true on "
        "a CPU, where compiling adds about a minute to every start for some 15% more tokens/s, which only a "
        "shard of tens of thousands of tokens earns back; false on a GPU."))
    batch_size: int = Field(
        default=256, ge=1, le=65_536, description="Prompts handed to the engine per batch (checkpoint granularity)."
    )
    node_selector: (
        dict[ResourceName, Annotated[str, Field(max_length=MAX_LABEL, pattern=LABEL_VALUE)]] | None
    ) = Field(default=None, max_length=64, description="Node selector for generator pods (label keys and values).")
    tolerations: list[Toleration] | None = Field(
        default=None,
        max_length=32,
        description="Tolerations for generator pods.",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )
    resources: Resources | None = Field(default=None, description="Extra resource requests/limits.")
    sampling: Sampling = Field(
        default_factory=Sampling, json_schema_extra={"default": _defaults(Sampling)}, description="Sampling parameters."
    )
    strategies: list[Strategy] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_STRATEGIES,
        description=(
            "Generation strategies with weights. Unset: derived from task.type (preference: preferencePairs; "
            "dialogue: multiTurn; otherwise selfInstruct with seeds, documentQA with documents, taxonomy "
            "with a taxonomy)."
        ),
        json_schema_extra=_map_list("name"),
    )
    engine: Engine = Field(
        default_factory=Engine, json_schema_extra={"default": _defaults(Engine)}, description="Inference engine."
    )
    screens: Screens = Field(
        default_factory=Screens,
        json_schema_extra={"default": _defaults(Screens)},
        description="Checks on each generated record before it is written (truncation, unfinished answers, "
        "non-answers, copies of a seed, answers given away by the prompt).",
    )
    model_cache: ModelCache | None = Field(
        default=None,
        description="Where an s3:// or Hugging Face model is downloaded (engine vllm): a shared "
        "PersistentVolumeClaim, or an emptyDir of a given size per pod. Unset: each pod downloads into its own /tmp "
        "emptyDir (s3://) or its image's HF_HOME (Hugging Face; /tmp/hf in the generator image).",
    )
    hugging_face: HuggingFace | None = Field(
        default=None,
        description="Hub token and endpoint for a Hugging Face model id (engine vllm).",
    )

    @rule("self.gpusPerShard == 0 || self.gpusPerShard % self.tensorParallelSize == 0",
          "tensorParallelSize must divide gpusPerShard", "tensorParallelSize")
    def _tensor_parallel_divides_gpus(self) -> bool:
        return self.gpus_per_shard % self.tensor_parallel_size == 0

    @rule("!has(self.strategies) || self.strategies.exists(s, s.weight > 0)",
          "at least one strategy must have a weight above 0", "strategies")
    def _a_strategy_with_weight(self) -> bool:
        return self.strategies is None or any(s.weight > 0 for s in self.strategies)

    @item_rule("self.engine.type != 'openai' || !has(self.strategies) || self.strategies.all(s, s.name != 'magpie'"
               " || (has(s.options) && has(s.options.preQueryTemplate)))",
               "the magpie strategy with engine.type openai needs options.preQueryTemplate (the operator cannot "
               "render the model's chat template through an endpoint)", "strategies", "options.preQueryTemplate",
               "FieldValueRequired")
    def _magpie_through_endpoint_has_template(self, entry: Strategy) -> bool:
        if self.engine.type != EngineType.OPENAI or entry.name != StrategyName.MAGPIE:
            return True
        return entry.options is not None and has(entry.options.pre_query_template)

    @rule(_label_keys("nodeSelector"), "node selector keys must be label keys", "nodeSelector")
    def _node_selector_keys(self) -> bool:
        return _all_label_keys(self.node_selector)

    @rule("!has(self.modelRevision) || !self.modelRevision.contains('..')",
          "modelRevision must not contain '..' (git refs cannot)", "modelRevision")
    def _revision_without_dot_dot(self) -> bool:
        return self.model_revision is None or ".." not in self.model_revision

    @rule(f"!has(self.modelCache) || ({_VLLM_CEL} && {_DOWNLOADED_MODEL_CEL})",
          "modelCache needs engine.type vllm and an s3:// or Hugging Face model (nothing else is downloaded)",
          "modelCache", "FieldValueForbidden")
    def _model_cache_for_downloads(self) -> bool:
        downloaded = not self.model.startswith(("pvc://", "/"))
        return self.model_cache is None or (self.engine.type == EngineType.VLLM and downloaded)

    @rule(f"!has(self.huggingFace) || ({_VLLM_CEL} && {_HF_MODEL_CEL})",
          "huggingFace needs engine.type vllm and a Hugging Face model id", "huggingFace", "FieldValueForbidden")
    def _hugging_face_for_hub_models(self) -> bool:
        return self.hugging_face is None or (self.engine.type == EngineType.VLLM and is_hf_model(self.model))


# --------------------------------------------------------------------------------------------
# input (curation-only mode)
# --------------------------------------------------------------------------------------------


class Input(SpecModel):
    """Existing data to curate (filter, dedup, mix, publish) instead of generating records."""

    uris: list[DataURI] = Field(
        min_length=1, max_length=64, description="Objects, prefixes or files with the records (JSONL or Parquet)."
    )
    format: DataFormat = Field(default=DataFormat.AUTO, description="Format; auto detects from object names.")
    text_field: RecordField = Field(default="text", description="Field holding the text that filters inspect.")
    shards: int = Field(default=1, ge=1, le=MAX_SHARDS, description="Filter shards to split the input into.")


# --------------------------------------------------------------------------------------------
# filters (a discriminated union on `type`)
# --------------------------------------------------------------------------------------------


class FilterBase(SpecModel):
    """Fields common to every filter."""

    name: str | None = Field(
        default=None,
        max_length=MAX_LABEL,
        pattern=DNS_LABEL,
        description=(
            "Name of this filter in status.progress.rejected and metrics; defaults to its type. Names must be unique."
        ),
    )

    @property
    def effective_name(self) -> str:
        return self.name or str(getattr(self, "type", ""))


class SchemaFilter(FilterBase):
    """Drop records that do not satisfy task.outputSchema."""

    type: Literal[FilterType.SCHEMA] = Field(description="Filter type.")


def _ordered(low: str, high: str) -> str:
    """CEL: the optional fields ``low`` and ``high``, where both are set, are in order (Python: :func:`_le`)."""
    return f"!has(self.{low}) || !has(self.{high}) || self.{low} <= self.{high}"


def _le(low: float | None, high: float | None) -> bool:
    return low is None or high is None or low <= high


class LengthFilter(FilterBase):
    """Drop records that are too short or too long."""

    type: Literal[FilterType.LENGTH] = Field(description="Filter type.")
    min_chars: int | None = Field(default=None, ge=0, le=10_000_000, description="Minimum characters (length).")
    max_chars: int | None = Field(default=None, ge=1, le=10_000_000, description="Maximum characters (length).")
    min_tokens: int | None = Field(
        default=None,
        ge=0,
        le=10_000_000,
        description=("Minimum tokens, counted as words and punctuation marks, not with a model's tokenizer "
                     "(filter pods have no model) (length)."),
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description=("Maximum tokens, counted as words and punctuation marks, not with a model's tokenizer "
                     "(filter pods have no model) (length)."),
    )

    @rule("has(self.minChars) || has(self.maxChars) || has(self.minTokens) || has(self.maxTokens)",
          "a length filter needs at least one of minChars, maxChars, minTokens, maxTokens")
    def _a_bound(self) -> bool:
        return any(has(v) for v in (self.min_chars, self.max_chars, self.min_tokens, self.max_tokens))

    @rule(_ordered("minChars", "maxChars"), "minChars must not exceed maxChars", "minChars")
    def _chars_ordered(self) -> bool:
        return _le(self.min_chars, self.max_chars)

    @rule(_ordered("minTokens", "maxTokens"), "minTokens must not exceed maxTokens", "minTokens")
    def _tokens_ordered(self) -> bool:
        return _le(self.min_tokens, self.max_tokens)


class LanguageFilter(FilterBase):
    """Drop records that are not in one of the expected languages."""

    type: Literal[FilterType.LANGUAGE] = Field(description="Filter type.")
    languages: list[LanguageTag] | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Accepted languages (BCP 47); defaults to [task.language] (language).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    min_confidence: float = Field(
        default=0.65, ge=0.0, le=1.0, description="Minimum language-id confidence, 0..1; default 0.65 (language)."
    )


class QualityRule(APIEnum):
    """A rule of the quality filter, named as the reason it drops a record with."""

    TOO_FEW_WORDS = "too_few_words"
    TOO_MANY_WORDS = "too_many_words"
    REFUSAL = "refusal"
    BOILERPLATE = "boilerplate"
    LOREM_IPSUM = "lorem_ipsum"
    JAVASCRIPT = "javascript"
    CURLY_BRACES = "curly_braces"
    SYMBOL_CHAR_RATIO = "symbol_char_ratio"
    LONG_WORD = "long_word"
    SYMBOL_WORD_RATIO = "symbol_word_ratio"
    STOP_WORDS = "stop_words"
    MEAN_WORD_LENGTH = "mean_word_length"
    ALPHA_WORDS = "alpha_words"
    TERMINAL_PUNCTUATION = "terminal_punctuation"
    LOWERCASE_SENTENCES = "lowercase_sentences"
    ELLIPSIS_LINES = "ellipsis_lines"
    BULLET_LINES = "bullet_lines"
    DUPLICATE_LINES = "duplicate_lines"
    DUPLICATE_LINE_CHARS = "duplicate_line_chars"
    DUPLICATE_PARAGRAPHS = "duplicate_paragraphs"
    DUPLICATE_PARAGRAPH_CHARS = "duplicate_paragraph_chars"
    LINE_PUNCTUATION = "line_punctuation"
    SHORT_LINES = "short_lines"
    CHAR_DUPLICATES = "char_duplicates"
    TOP_2GRAM = "top_2gram"
    TOP_3GRAM = "top_3gram"
    TOP_4GRAM = "top_4gram"
    DUPLICATE_5GRAM = "duplicate_5gram"
    DUPLICATE_6GRAM = "duplicate_6gram"
    DUPLICATE_7GRAM = "duplicate_7gram"
    DUPLICATE_8GRAM = "duplicate_8gram"
    DUPLICATE_9GRAM = "duplicate_9gram"
    DUPLICATE_10GRAM = "duplicate_10gram"
    COMPRESSION_RATIO = "compression_ratio"


StopWord = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)]


def _ratio(default: float, text: str) -> Any:
    return Field(default=default, ge=0.0, le=1.0, description=text)


class QualityFilter(FilterBase):
    """Drop gibberish, repetitive and boilerplate records: the Gopher, C4 and FineWeb rules, per field
    (instruction, response, each chat turn) and each from the length stated in its field, so one-line
    answers are not judged by rules made for web pages; code and JSON are not prose. Stop-word
    lists: en, ko, de, fr, es, it, pt, nl, ru, uk, pl, sv, tr, id, vi (others skip that rule; zh, ja,
    th, lo, km, my skip the word rules). Drops are counted by rule (see disabledRules)."""

    type: Literal[FilterType.QUALITY] = Field(description="Filter type.")
    language: LanguageTag | None = Field(
        default=None,
        description="Language (BCP 47) whose stop words and word lengths apply; defaults to task.language, or en "
        "without a task (quality).",
    )
    disabled_rules: list[QualityRule] | None = Field(
        default=None,
        max_length=len(QualityRule),
        description="Rules to switch off, by the name a drop is counted under in status.progress.rejected. "
        "Rules without a threshold field: refusal and boilerplate (AI disclaimers, web boilerplate; any length), "
        "lorem_ipsum (C4; any length), javascript ('enable JavaScript' page boilerplate: C4 drops every line "
        "naming JavaScript, which would drop questions about the language; any length), long_word (a run of more "
        "than 50 letters and digits in a field's prose, such as a degenerate BBBB...; URLs, paths, identifiers and "
        "code are judged by their parts or exempt; any length), terminal_punctuation "
        "(C4: a response's last line of 8 words or more must end a sentence, unless it is a list item, table "
        "row, heading or a one-line headline; prompts are exempt; a response ending in an unclosed code block "
        "was cut off), lowercase_sentences (see maxLowercaseSentenceRatio), top_2gram..top_4gram and "
        "duplicate_5gram..duplicate_10gram (see maxNgramRepetitionRatio, maxDuplicateNgramRatio) (quality).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    min_words: int = Field(
        default=3,
        ge=0,
        le=1_000_000,
        description="Minimum words of the record, all fields together; 0 switches it off; default 3 (quality).",
    )
    max_words: int | None = Field(
        default=None, ge=1, le=100_000_000, description="Maximum words of the record; default none (quality)."
    )
    stop_words: list[StopWord] | None = Field(
        default=None,
        max_length=1024,
        description="Stop words that replace the language's list (lowercase; matched as whole words) (quality).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    min_stop_words: int = Field(
        default=2,
        ge=0,
        le=1000,
        description="Minimum stop words of the language in a field's sentences (Gopher: 2; English: Gopher's the, be, "
        "to, of, and, that, have, with plus other function words; Korean: function words, or particles such as "
        "은/는/이/가/을/를/에/의 ending an eojeol); fields of 10 words or more outside list items; a field that "
        "passes with another language of the same script (a translation) is kept; 0 switches it off; default 2 "
        "(quality).",
    )
    min_stop_word_ratio: float = _ratio(
        0.05,
        "And at least this share of a field's words are stop words (bites from 40 words: real prose has 15% or "
        "more, made-up words under 3%); default 0.05 (quality).",
    )
    min_mean_word_length: float | None = Field(
        default=None,
        ge=0.0,
        le=100.0,
        description="Minimum mean word length in characters, numbers left out; fields of 15 words or more; default "
        "by language: 3 (Gopher) for en and most, 2 for fr and vi, 1.5 Hangul syllables per eojeol for ko (quality).",
    )
    max_mean_word_length: float | None = Field(
        default=None,
        ge=0.0,
        le=100.0,
        description="Maximum mean word length; fields of 15 words or more; default by language: 10 (Gopher) for en "
        "and most, 11 for ru, uk, pl, sv, nl, fr, id, vi, 14 for tr, 15 for de and unlisted languages, 6 for ko "
        "(quality).",
    )
    min_alpha_word_ratio: float = _ratio(
        0.8,
        "Minimum share of a field's words that contain a letter (Gopher; numbers count as words without); fields "
        "of 50 words or more (Gopher's minimum document); 0 switches it off; default 0.8 (quality).",
    )
    max_symbol_word_ratio: float = Field(
        default=0.1,
        ge=0.0,
        le=100.0,
        description="Maximum hash symbols (#) per word, and ellipses (... or …) per word, in a field's prose, as "
        "Gopher; Markdown heading markers and a # after a letter (C#) do not count; fields of 10 words or more; "
        "default 0.1 (quality).",
    )
    max_symbol_char_ratio: float = _ratio(
        0.5,
        "Maximum share of a record's non-space characters that are neither letters nor digits; any length; "
        "default 0.5 (quality).",
    )
    max_bullet_line_ratio: float = _ratio(
        0.9,
        "Maximum share of a field's lines starting with a bullet glyph (•, ●, ▪, ...; Markdown list markers are "
        "not bullets: a list is a fine answer) (Gopher); fields of 10 lines or more; default 0.9 (quality).",
    )
    max_ellipsis_line_ratio: float = _ratio(
        0.3,
        "Maximum share of a field's lines ending with an ellipsis (Gopher); fields of 4 lines or more; default 0.3 "
        "(quality).",
    )
    max_line_repetition_ratio: float = _ratio(
        0.3,
        "Maximum share of a field's lines (8 characters or longer, outside code) that repeat an earlier line "
        "(Gopher); fields of 4 such lines or more; default 0.3 (quality).",
    )
    max_line_repetition_char_ratio: float = _ratio(
        0.2,
        "Maximum share of those lines' characters in repeated lines (Gopher); fields of 4 such lines or more; "
        "default 0.2 (quality).",
    )
    max_paragraph_repetition_ratio: float = _ratio(
        0.3,
        "Maximum share of a field's paragraphs (split at blank lines) that repeat an earlier one (Gopher); fields "
        "of 3 paragraphs or more; default 0.3 (quality).",
    )
    max_paragraph_repetition_char_ratio: float = _ratio(
        0.2,
        "Maximum share of a field's paragraph characters in repeated paragraphs (Gopher); fields of 3 paragraphs "
        "or more; default 0.2 (quality).",
    )
    max_ngram_repetition_ratio: float = _ratio(
        0.18,
        "Maximum share of a field's characters covered by its most frequent word 3-gram (Gopher: 0.18); the 2-gram "
        "limit is 0.02 higher and the 4-gram limit 0.02 lower (Gopher: 0.20, 0.16); fields of 12 words or more, "
        "where under 50 words the n-gram must occur 3 times; default 0.18 (quality).",
    )
    max_duplicate_ngram_ratio: float = _ratio(
        0.15,
        "Maximum share of a field's characters in repeated word 5-grams (Gopher: 0.15); 6- to 10-grams get 0.01 "
        "less per word (Gopher: 0.14 .. 0.10); fields of 50 words or more; default 0.15 (quality).",
    )
    max_compression_ratio: float = Field(
        default=6.0,
        ge=1.0,
        le=1000.0,
        description="Maximum zlib compression ratio of a field, code included (loops compress well, prose stays "
        "under 2); fields of 20 words or more; default 6 (quality).",
    )
    max_lowercase_sentence_ratio: float = _ratio(
        0.5,
        "Drop a response when at least this share of its sentence ends (. ! ? after a word that is no abbreviation) "
        "are followed by a lowercase word: real prose does not do that, word-shuffled text does; scripts with "
        "letter case; any length; 0 switches it off; default 0.5 (quality).",
    )
    min_line_punctuation_ratio: float = _ratio(
        0.12,
        "Minimum share of a field's prose lines (not list items, table rows or headings) that end in punctuation "
        "(. ! ? : or a closing quote) (FineWeb); fields of 10 such lines or more; default 0.12 (quality).",
    )
    max_short_line_ratio: float = _ratio(
        0.67,
        "Maximum share of a field's prose lines of at most 30 characters (15 for ko, zh, ja) (FineWeb); fields of "
        "10 such lines or more; default 0.67 (quality).",
    )
    max_char_duplicate_ratio: float = _ratio(
        0.01,
        "Maximum share of a field's prose characters in repeated lines (FineWeb); fields of 10 prose lines or more; "
        "default 0.01 (quality).",
    )
    reject_refusals: bool = Field(
        default=True,
        description="Drop refusals and AI disclaimers ('As an AI language model'); default true (quality).",
    )
    reject_curly_braces: bool = Field(
        default=False,
        description="Drop records with a { in prose (C4 drops every page with one). Off by default: code, JSON and "
        "templates are legitimate in instruction data; when on, fenced code, inline code and JSON-only fields do "
        "not count (quality).",
    )

    @rule(_ordered("minMeanWordLength", "maxMeanWordLength"), "minMeanWordLength must not exceed maxMeanWordLength",
          "minMeanWordLength")
    def _mean_word_length_ordered(self) -> bool:
        return _le(self.min_mean_word_length, self.max_mean_word_length)


class PiiFilter(FilterBase):
    """Detect personally identifiable information and redact it or drop the record."""

    type: Literal[FilterType.PII] = Field(description="Filter type.")
    action: PiiAction = Field(
        default=PiiAction.REDACT, description="redact (replace with a placeholder) or drop; default redact (pii)."
    )
    kinds: list[PiiKind] = Field(
        default_factory=lambda: [PiiKind.EMAIL, PiiKind.PHONE, PiiKind.IP_ADDRESS, PiiKind.CREDIT_CARD],
        min_length=1,
        max_length=16,
        description="PII kinds to detect; default [email, phone, ipAddress, creditCard] (pii).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class ExactDedupFilter(FilterBase):
    """Drop exact duplicates (by content hash) across all shards."""

    type: Literal[FilterType.EXACT_DEDUP] = Field(description="Filter type.")
    normalize: bool = Field(
        default=True,
        description="Hash text after lower-casing and collapsing whitespace; default true (exactDedup).",
    )


class MinHashFilter(FilterBase):
    """Drop near-duplicates with MinHash LSH across all shards."""

    type: Literal[FilterType.MINHASH] = Field(description="Filter type.")
    threshold: float = Field(
        default=0.8,
        gt=0.0,
        lt=1.0,
        description="Jaccard similarity at which records are duplicates, 0 < threshold < 1; default 0.8 (minhash).",
    )
    num_perm: int = Field(default=128, ge=16, le=1024, description="MinHash permutations; default 128 (minhash).")
    bands: int = Field(default=16, ge=1, le=256, description="LSH bands; must divide numPerm; default 16 (minhash).")
    ngram: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Shingle size in words: default 5 for minhash, 13 for decontamination (minhash, decontamination).",
    )

    # Union properties carry no defaults in the CRD (see crd.py), so the CEL spells them out.
    @rule("(has(self.numPerm) ? self.numPerm : 128) % (has(self.bands) ? self.bands : 16) == 0",
          "bands must divide numPerm", "bands")
    def _bands_divide_permutations(self) -> bool:
        return self.num_perm % self.bands == 0


class DecontaminationFilter(FilterBase):
    """Drop records containing an evaluation item: shared word n-grams, or a whole item shorter than ngram words."""

    type: Literal[FilterType.DECONTAMINATION] = Field(description="Filter type.")
    eval_sets: list[DataURI] = Field(
        min_length=1,
        max_length=64,
        description=(
            "Evaluation sets (JSONL/Parquet/text) to protect; required (decontamination). Items (their text fields "
            "joined) are compared as words after case folding and dropping punctuation: items of ngram words or "
            "more match a record sharing one of their n-grams; shorter items are never skipped but matched whole: "
            "from 5 words where the record contains them as a contiguous word sequence (or contains each of their "
            "fields so, one of them 5 words or more), under 5 words only where whole fields of the record (or the "
            "whole record) equal them. Counts per eval set: manifest.json and the card; totals: "
            "status.output.decontamination."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    ngram: int = Field(
        default=13,
        ge=1,
        le=50,
        description="Shingle size in words: default 5 for minhash, 13 for decontamination (minhash, decontamination).",
    )


class JudgeFilter(FilterBase):
    """Score records with an LLM judge and drop low scores."""

    type: Literal[FilterType.JUDGE] = Field(description="Filter type.")
    min_score: float = Field(
        default=7.0, ge=0.0, le=10.0, description="Minimum judge score on a 0..10 scale; default 7 (judge)."
    )
    model: str | None = Field(
        default=None,
        max_length=1024,
        pattern=MODEL_REF,
        description="Judge model; defaults to the generator's model (judge).",
    )
    engine: Engine | None = Field(default=None, description="Judge engine; defaults to the generator's engine (judge).")
    rubric: str | None = Field(
        default=None, max_length=MAX_LONG_TEXT, description="Scoring rubric; defaults to a built-in one (judge)."
    )


AnyFilter = (
    SchemaFilter
    | LengthFilter
    | LanguageFilter
    | QualityFilter
    | PiiFilter
    | ExactDedupFilter
    | MinHashFilter
    | DecontaminationFilter
    | JudgeFilter
)
Filter = Annotated[AnyFilter, Field(discriminator="type")]

_FILTER_NAME = "(has(f.name) ? f.name : f.type)"

# --------------------------------------------------------------------------------------------
# mix, output
# --------------------------------------------------------------------------------------------


class ReplayGeneration(SpecModel):
    """Replay records the generator model writes itself, Magpie-style: after a general system turn the
    model's chat template is cut where a user's turn starts, the model writes the user's request, then
    answers it without the task's instructions (self-synthesized rehearsal)."""

    system_prompt: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description="The system turn before the open user turn; default a general assistant's, in task.language.",
    )
    pre_query_template: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEXT,
        description="The raw text that opens a user turn (e.g. '<|im_start|>user\\n'), with the system turn "
        "written in when there is one; required with generator.engine.type openai, where the operator cannot "
        "render the model's chat template; with the vllm engine it is derived from that template.",
    )


class Replay(SpecModel):
    """General-purpose data mixed into the output to preserve earlier abilities: records read from `uri`,
    or written by the generator model itself (`generate`), `ratio` of the published records or `records` of
    them."""

    uri: DataURI | None = Field(
        default=None, description="Replay data (JSONL/Parquet objects or prefix). Exactly one of uri or generate."
    )
    generate: ReplayGeneration | None = Field(
        default=None,
        description="The generator model writes the replay records (needs spec.generator); they pass the same "
        "filters as the generated records and are published with _source replay-self. Exactly one of uri or "
        "generate.",
    )
    ratio: float | None = Field(
        default=None,
        ge=0.0,
        lt=1.0,
        description="Fraction of the published records that are replay records, 0 <= ratio < 1. Exactly one of "
        "ratio or records.",
    )
    records: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000_000,
        description="Replay records published beside the generated ones. Exactly one of ratio or records.",
    )
    format: DataFormat = Field(default=DataFormat.AUTO, description="Format of uri; auto detects from object names.")
    text_field: RecordField = Field(default="text", description="Field holding the text of uri's records.")

    @exactly_one_of("uri", "generate")
    def _one_source(self) -> bool:
        return has(self.uri) != has(self.generate)

    @exactly_one_of("ratio", "records")
    def _one_amount(self) -> bool:
        return has(self.ratio) != has(self.records)


class Mix(SpecModel):
    """What is mixed into the generated records before publishing."""

    replay: Replay | None = Field(default=None, description="Replay (general) data, sampled with provenance.")


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------


class GateAction(APIEnum):
    FAIL = "Fail"
    WARN = "Warn"


class ForgettingGate(SpecModel):
    """The most general loss increase the mix may cause, and what happens beyond it."""

    max_general_loss_increase_pct: float = Field(
        ge=0.0,
        le=1000.0,
        description="Largest allowed increase, in percent, of the general held-out loss after fine-tuning on the "
        "mix (with its replay) over the model's loss before.",
    )
    action: GateAction = Field(
        default=GateAction.FAIL,
        description="Beyond the limit: Fail fails the job (reason ForgettingLimitExceeded) and publishes nothing; "
        "Warn publishes, with the ForgettingGuard condition False and a Warning event.",
    )


class LoraAdapter(SpecModel):
    """The LoRA adapter trained on the reference model (peft; on the architecture's default modules)."""

    rank: int = Field(default=8, ge=1, le=256, description="LoRA rank r.")
    alpha: int = Field(default=16, ge=1, le=1024, description="LoRA alpha (the update is scaled by alpha / rank).")


class Forgetting(SpecModel):
    """After the data is final and before the manifest commits: LoRA-fine-tune a reference model for `steps`
    steps on a sample of the mix, and again on as many domain records only (no replay), and measure the loss
    before and after on held-out domain records and on held-out general records (replay records held out of
    the training samples, or `generalUri`). Runs as its own Job placed like the generator pods; the result is in
    quality.json, the card, the manifest and status.evaluation."""

    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        pattern=r"^(/|[A-Za-z0-9])[^:]*$",
        description="Model to fine-tune: a Hugging Face id or an absolute path in the generator image. Unset: "
        "generator.model, delivered as the generator pods get it (required with generator.engine.type openai).",
    )
    steps: int = Field(default=20, ge=1, le=100_000, description="Optimizer steps of each fine-tuning run.")
    batch_size: int = Field(default=4, ge=1, le=1024, description="Examples per step.")
    learning_rate: float = Field(default=1e-3, gt=0.0, le=1.0, description="AdamW learning rate.")
    max_tokens: int = Field(
        default=512, ge=16, le=131_072, description="Tokens per example; longer examples are cut at the end."
    )
    sample_records: int = Field(
        default=256,
        ge=1,
        le=1_000_000,
        description="Records each run trains on: this many from the mix (its replay share kept), and as many "
        "domain records for the run without replay; fewer when fewer are left after the held-out records.",
    )
    held_out_records: int = Field(
        default=32,
        ge=1,
        le=100_000,
        description="Domain records held out of training to measure the domain loss on, and as many general "
        "records (replay records, or records of generalUri).",
    )
    general_uri: DataURI | None = Field(
        default=None,
        description="General held-out records (JSONL objects or prefix); unset: replay records held out of the "
        "mix (mix.replay is then required).",
    )
    lora: LoraAdapter = Field(
        default_factory=LoraAdapter,
        json_schema_extra={"default": _defaults(LoraAdapter)},
        description="The adapter's settings.",
    )
    gate: ForgettingGate | None = Field(default=None, description="Fail or warn when the mix makes the model forget.")


class Evaluation(SpecModel):
    """Checks of what the dataset does to a model, run before it is published."""

    forgetting: Forgetting | None = Field(
        default=None, description="How much the mix teaches the domain and how much it makes a model forget."
    )


class S3SecretRef(SpecModel):
    """A Secret holding S3 credentials (CloudNativePG style)."""

    name: SecretName = Field(description="Name of the Secret in the job's namespace.")
    access_key_id_key: ConfigKey = Field(default="AWS_ACCESS_KEY_ID", description="Key holding the access key id.")
    secret_access_key_key: ConfigKey = Field(
        default="AWS_SECRET_ACCESS_KEY", description="Key holding the secret access key."
    )
    session_token_key: ConfigKey | None = Field(default=None, description="Key holding a session token, if any.")


class Credentials(SpecModel):
    """S3 credentials: exactly one of secretRef or inheritFromIdentity: true."""

    secret_ref: S3SecretRef | None = Field(default=None, description="Secret with the access keys.")
    inherit_from_identity: bool = Field(
        default=False,
        description="Use the pods' own identity (IRSA, workload identity, instance profile) instead of keys.",
    )

    @rule("has(self.secretRef) != self.inheritFromIdentity",
          "exactly one of secretRef or inheritFromIdentity: true must be set")
    def _keys_or_identity(self) -> bool:
        return has(self.secret_ref) != self.inherit_from_identity


class CARef(SpecModel):
    """A CA bundle in a Secret or ConfigMap."""

    kind: Literal["Secret", "ConfigMap"] = Field(default="Secret", description="Secret or ConfigMap.")
    name: SecretName = Field(description="Name of the Secret or ConfigMap in the job's namespace.")
    key: ConfigKey = Field(default="ca.crt", description="Key holding the PEM bundle.")


class Output(SpecModel):
    """Where and how the dataset is published. Its connection settings also apply to every other
    s3:// URI in the spec (seeds, documents, input, replay, evalSets)."""

    uri: DataURI = Field(description="Destination prefix: s3://bucket/prefix or file://path.")
    format: OutputFormat = Field(default=OutputFormat.JSONL, description="Shard format.")
    compression: Compression = Field(default=Compression.NONE, description="Shard compression.")
    shard_size_records: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description="Records per published shard; default 100000 when neither size is set.",
    )
    shard_size_bytes: int | None = Field(
        default=None, ge=1_048_576, le=10 * 1024**3, description="Target bytes per published shard."
    )
    license: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.+-]*$",
        description=(
            "License of the published dataset, as a Hugging Face license id (apache-2.0, cc-by-4.0, mit, other); "
            "written to the `license` of the dataset card's metadata. Unset: the card names no license."
        ),
    )
    credentials: Credentials | None = Field(default=None, description="S3 credentials; required for s3:// uris.")
    endpoint_url: HttpURL | None = Field(
        default=None,
        alias="endpointURL",
        description="S3 endpoint for non-AWS stores (MinIO, SeaweedFS, Ceph), e.g. https://s3.example.com.",
    )
    endpoint_ca: CARef | None = Field(
        default=None, alias="endpointCA", description="CA bundle for endpointURL's TLS certificate."
    )
    region: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9-]+$", description="S3 region.")
    addressing_style: AddressingStyle = Field(
        default=AddressingStyle.AUTO, description="S3 addressing style (path for most non-AWS stores)."
    )

    @rule("!self.uri.startsWith('s3://') || has(self.credentials)", "credentials are required for an s3:// uri",
          "credentials", "FieldValueRequired")
    def _s3_has_credentials(self) -> bool:
        return not self.uri.startswith("s3://") or has(self.credentials)

    @rule("!has(self.shardSizeRecords) || !has(self.shardSizeBytes)",
          "set at most one of shardSizeRecords and shardSizeBytes", "shardSizeBytes", "FieldValueForbidden")
    def _one_shard_size(self) -> bool:
        return not (has(self.shard_size_records) and has(self.shard_size_bytes))

    @rule("!has(self.endpointCA) || has(self.endpointURL)", "endpointCA requires endpointURL", "endpointCA",
          "FieldValueForbidden")
    def _ca_with_endpoint(self) -> bool:
        return not has(self.endpoint_ca) or has(self.endpoint_url)


# --------------------------------------------------------------------------------------------
# workers (every worker container)
# --------------------------------------------------------------------------------------------

#: An environment variable name: a C identifier (what shells, proxies and CA-bundle settings use).
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ConfigMapKeyRef(SpecModel):
    """A key in a ConfigMap in the job's namespace."""

    name: SecretName = Field(description="Name of the ConfigMap in the job's namespace.")
    key: ConfigKey = Field(description="Key within the ConfigMap.")


class EnvVarSource(SpecModel):
    """Where a variable's value comes from: exactly one of secretKeyRef or configMapKeyRef."""

    secret_key_ref: SecretKeyRef | None = Field(
        default=None, description="A key of a Secret (resolved by the kubelet)."
    )
    config_map_key_ref: ConfigMapKeyRef | None = Field(default=None, description="A key of a ConfigMap.")

    @exactly_one_of("secretKeyRef", "configMapKeyRef")
    def _one_source(self) -> bool:
        return has(self.secret_key_ref) != has(self.config_map_key_ref)


class EnvVar(SpecModel):
    """One environment variable of the worker containers (the Kubernetes EnvVar, without fieldRef)."""

    name: str = Field(min_length=1, max_length=128, pattern=ENV_NAME, description="Variable name.")
    value: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description="Value, stored as plain text in the job, its plan ConfigMap and the pods: use valueFrom "
        "for secrets. $(NAME) refers to a variable defined before it, as in any container.",
    )
    value_from: EnvVarSource | None = Field(default=None, description="Value from a Secret or ConfigMap key.")

    @rule("!(has(self.value) && has(self.valueFrom))", "value and valueFrom are mutually exclusive", "valueFrom",
          "FieldValueForbidden")
    def _value_or_value_from(self) -> bool:
        return not (has(self.value) and has(self.value_from))


class NameRef(SpecModel):
    """An object in the job's namespace, by name."""

    name: SecretName = Field(description="Name of the object in the job's namespace.")


class EnvFromSource(SpecModel):
    """Every key of a ConfigMap or Secret as a variable: exactly one of configMapRef or secretRef."""

    config_map_ref: NameRef | None = Field(default=None, description="ConfigMap whose keys become variables.")
    secret_ref: NameRef | None = Field(
        default=None, description="Secret whose keys become variables (resolved by the kubelet)."
    )
    prefix: str | None = Field(
        default=None, max_length=128, pattern=ENV_NAME, description="Prepended to every key's variable name."
    )

    @exactly_one_of("configMapRef", "secretRef")
    def _one_source(self) -> bool:
        return has(self.config_map_ref) != has(self.secret_ref)


class Workers(SpecModel):
    """Settings of every worker container of the job (generate, filter, dedup, publish), e.g. proxies
    (HTTPS_PROXY, NO_PROXY) and CA bundles (SSL_CERT_FILE, REQUESTS_CA_BUNDLE from a ConfigMap)."""

    env: list[EnvVar] | None = Field(
        default=None,
        max_length=64,
        description="Variables added to every worker container, after the operator's own and the chart's "
        "workers.env: a name the operator sets itself (DATAFOUNDRY_*, AWS_*, OPENAI_API_KEY, HF_TOKEN, HF_ENDPOINT, "
        "HF_HUB_CACHE as other fields ask) keeps the operator's value; a name the chart's workers.env sets takes "
        "this value.",
        json_schema_extra=_map_list("name"),
    )
    env_from: list[EnvFromSource] | None = Field(
        default=None,
        max_length=16,
        description="ConfigMaps and Secrets whose keys become variables in every worker container, after the "
        "chart's workers.envFrom. A variable also set in env (the operator's, the chart's or workers.env) takes "
        "the env value; between sources, the later wins.",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )


# --------------------------------------------------------------------------------------------
# the spec
# --------------------------------------------------------------------------------------------

_GEN = "has(self.generator)"
_STRATS = "has(self.generator.strategies)"
_NO_REPLAY_GENERATION = "(!has(self.mix) || !has(self.mix.replay) || !has(self.mix.replay.generate))"
_NO_FORGETTING = "(!has(self.evaluation) || !has(self.evaluation.forgetting))"


def _uses_strategy(name: str) -> str:
    return f"{_GEN} && {_STRATS} && self.generator.strategies.exists(s, s.name == '{name}')"


class DataFoundryJobSpec(SpecModel):
    """Desired dataset: task, target, generator (or input), filters, mix and output.

    Once the job has started (status.startTime set) the recipe is immutable: only suspend,
    activeDeadlineSeconds, ttlSecondsAfterFinished and raising budget limits are allowed.
    """

    task: Task | None = Field(
        default=None, description="What the dataset is for; required with generator, optional with input."
    )
    target: Target = Field(description="Accepted records wanted.")
    budget: Budget = Field(
        default_factory=Budget,
        json_schema_extra={"default": _defaults(Budget)},
        description="Limits on rounds and GPU hours.",
    )
    generator: Generator | None = Field(
        default=None, description="Generate records with an LLM. Exactly one of generator or input."
    )
    input: Input | None = Field(
        default=None, description="Curate existing records instead of generating. Exactly one of generator or input."
    )
    filters: list[Filter] | None = Field(
        default=None,
        max_length=MAX_FILTERS,
        description="Filters applied in order; each record must pass all of them. Unset: no filtering.",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )
    mix: Mix | None = Field(default=None, description="Data mixed into the output (replay).")
    evaluation: Evaluation | None = Field(
        default=None, description="What the dataset does to a model, measured before it is published."
    )
    output: Output = Field(description="Where the dataset is published.")
    workers: Workers | None = Field(
        default=None, description="Environment of every worker container (proxies, CA bundles)."
    )
    seed: int = Field(
        default=0, ge=0, le=2_147_483_647, description="Seed for every random choice; same spec and seed, same plan."
    )
    suspend: bool = Field(
        default=False, description="Pause the job: running pods are stopped, finished shards are kept."
    )
    queue_name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=DNS_SUBDOMAIN,
        description="Kueue LocalQueue for the child Jobs (kueue.x-k8s.io/queue-name).",
    )
    priority_class_name: str | None = Field(
        default=None, max_length=MAX_NAME, pattern=DNS_SUBDOMAIN, description="PriorityClass of the pods."
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        le=31_536_000,
        description="Delete the DataFoundryJob this long after it finished (published output is kept).",
    )
    backoff_limit: int = Field(
        default=3, ge=0, le=100, description="Retries per shard before the stage fails (backoffLimitPerIndex)."
    )
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, le=31_536_000, description="Fail the job when it runs longer than this."
    )

    def judge_filter(self) -> JudgeFilter | None:
        """The judge filter (there is at most one): it scores records, and its rubric ranks preference pairs."""
        return next((f for f in self.filters or () if isinstance(f, JudgeFilter)), None)

    def replay_generation(self) -> ReplayGeneration | None:
        """mix.replay.generate: replay records the generator model writes itself."""
        replay = self.mix.replay if self.mix is not None else None
        return replay.generate if replay is not None else None

    def forgetting(self) -> Forgetting | None:
        """evaluation.forgetting: the forgetting guard."""
        return self.evaluation.forgetting if self.evaluation is not None else None

    def _uses(self, *names: StrategyName) -> bool:
        """generator.strategies names one of ``names`` (CEL: ``_uses_strategy``)."""
        gen = self.generator
        return gen is not None and gen.strategies is not None and any(s.name in names for s in gen.strategies)

    @rule(f"self.all(x, self.exists_one(f, {_FILTER_NAME} == {_FILTER_NAME.replace('f.', 'x.')}))",
          "filter names must be unique (name defaults to type)", on="filters")
    def _filter_names_unique(self) -> bool:
        names = [f.effective_name for f in self.filters or ()]
        return len(set(names)) == len(names)

    @rule(f"self.all(x, !(x.type in [{', '.join(repr(str(t)) for t in SINGLETON_FILTERS)}])"
          " || self.exists_one(f, f.type == x.type))",
          f"filter types {', '.join(SINGLETON_FILTERS)} may appear at most once", on="filters")
    def _singleton_filters_once(self) -> bool:
        types = [f.type for f in self.filters or () if f.type in SINGLETON_FILTERS]
        return len(set(types)) == len(types)

    @rule("has(self.generator) != has(self.input)", "exactly one of generator or input must be set")
    def _generator_or_input(self) -> bool:
        return has(self.generator) != has(self.input)

    @rule(f"!{_GEN} || has(self.task)", "task is required when generator is set", "task", "FieldValueRequired")
    def _task_with_generator(self) -> bool:
        return self.generator is None or has(self.task)

    @rule(f"!({_uses_strategy('documentQA')}) || (has(self.task) && has(self.task.documents))",
          "the documentQA strategy requires task.documents", "task.documents", "FieldValueRequired")
    def _document_qa_has_documents(self) -> bool:
        return not self._uses(StrategyName.DOCUMENT_QA) or (self.task is not None and has(self.task.documents))

    @rule(f"!({_uses_strategy('taxonomy')}) || (has(self.task) && has(self.task.taxonomy))",
          "the taxonomy strategy requires task.taxonomy", "task.taxonomy", "FieldValueRequired")
    def _taxonomy_strategy_has_taxonomy(self) -> bool:
        return not self._uses(StrategyName.TAXONOMY) or (self.task is not None and has(self.task.taxonomy))

    @rule(f"!{_GEN} || !{_STRATS} || !self.generator.strategies.exists(s, s.name in ['selfInstruct', 'evolInstruct'])"
          " || (has(self.task) && has(self.task.seeds))",
          "the selfInstruct and evolInstruct strategies require task.seeds", "task.seeds", "FieldValueRequired")
    def _instruct_strategies_have_seeds(self) -> bool:
        uses = self._uses(StrategyName.SELF_INSTRUCT, StrategyName.EVOL_INSTRUCT)
        return not uses or (self.task is not None and has(self.task.seeds))

    @rule(f"!{_GEN} || {_STRATS} || !has(self.task) || self.task.type in ['dialogue', 'preference']"
          " || has(self.task.seeds) || has(self.task.documents) || has(self.task.taxonomy)",
          "without generator.strategies the task needs seeds, documents or a taxonomy", "task.seeds",
          "FieldValueRequired")
    def _default_strategies_have_material(self) -> bool:
        gen, task = self.generator, self.task
        if gen is None or gen.strategies is not None or task is None:
            return True
        return task.type in (TaskType.DIALOGUE, TaskType.PREFERENCE) or any(
            has(v) for v in (task.seeds, task.documents, task.taxonomy))

    @rule(f"!{_GEN} || !{_STRATS} || !has(self.task) || self.task.type != 'preference'"
          " || self.generator.strategies.exists(s, s.name == 'preferencePairs')",
          "preference tasks need the preferencePairs strategy", "generator.strategies")
    def _preference_task_has_pairs(self) -> bool:
        gen, task = self.generator, self.task
        if gen is None or gen.strategies is None or task is None or task.type != TaskType.PREFERENCE:
            return True
        return self._uses(StrategyName.PREFERENCE_PAIRS)

    @rule(f"!({_uses_strategy('preferencePairs')}) || (has(self.task) && self.task.type == 'preference')",
          "the preferencePairs strategy requires task.type preference", "generator.strategies")
    def _pairs_need_preference_task(self) -> bool:
        task = self.task
        return not self._uses(StrategyName.PREFERENCE_PAIRS) or (task is not None and task.type == TaskType.PREFERENCE)

    @rule(f"!{_GEN} || !has(self.task) || self.task.type != 'preference' || !has(self.task.outputSchema)",
          "preference tasks are generated by preferencePairs, whose records are prompt, chosen and rejected: "
          "task.outputSchema is not allowed with a generator", "task.outputSchema", "FieldValueForbidden")
    def _preference_pairs_own_shape(self) -> bool:
        task = self.task
        return self.generator is None or task is None or task.type != TaskType.PREFERENCE or not has(
            task.output_schema)

    @rule(f"!({_uses_strategy('magpie')}) || (has(self.task) && self.task.type in ['instruction', 'qa']"
          " && !has(self.task.outputSchema))",
          "the magpie strategy writes a query and its answer: it requires task.type instruction or qa and no "
          "task.outputSchema", "generator.strategies")
    def _magpie_writes_query_and_answer(self) -> bool:
        task = self.task
        return not self._uses(StrategyName.MAGPIE) or (
            task is not None and task.type in (TaskType.INSTRUCTION, TaskType.QA) and not has(task.output_schema))

    @rule(f"{_NO_REPLAY_GENERATION} || {_GEN}", "mix.replay.generate needs a generator (a curation job has no "
          "model to write replay records with)", "mix.replay.generate", "FieldValueForbidden")
    def _replay_generation_needs_generator(self) -> bool:
        return self.replay_generation() is None or self.generator is not None

    @rule(f"{_NO_REPLAY_GENERATION} || !{_GEN} || self.generator.engine.type != 'openai'"
          " || has(self.mix.replay.generate.preQueryTemplate)",
          "mix.replay.generate with generator.engine.type openai needs preQueryTemplate (the operator cannot "
          "render the model's chat template through an endpoint)", "mix.replay.generate.preQueryTemplate",
          "FieldValueRequired")
    def _replay_generation_through_endpoint_has_template(self) -> bool:
        generate, gen = self.replay_generation(), self.generator
        if generate is None or gen is None or gen.engine.type != EngineType.OPENAI:
            return True
        return has(generate.pre_query_template)

    @rule(f"{_NO_FORGETTING} || {_GEN}", "evaluation.forgetting needs a generator (it measures a generated mix)",
          "evaluation.forgetting", "FieldValueForbidden")
    def _forgetting_needs_generator(self) -> bool:
        return self.forgetting() is None or self.generator is not None

    @rule(f"{_NO_FORGETTING} || has(self.evaluation.forgetting.generalUri) || (has(self.mix) && has(self.mix.replay))",
          "evaluation.forgetting needs general held-out records: set evaluation.forgetting.generalUri or mix.replay",
          "evaluation.forgetting.generalUri", "FieldValueRequired")
    def _forgetting_has_general_records(self) -> bool:
        forgetting = self.forgetting()
        return forgetting is None or has(forgetting.general_uri) or (self.mix is not None and has(self.mix.replay))

    @rule(f"{_NO_FORGETTING} || !{_GEN} || self.generator.engine.type != 'openai'"
          " || has(self.evaluation.forgetting.model)",
          "evaluation.forgetting with generator.engine.type openai needs model (the endpoint's model cannot be "
          "fine-tuned in a pod)", "evaluation.forgetting.model", "FieldValueRequired")
    def _forgetting_through_endpoint_names_model(self) -> bool:
        forgetting, gen = self.forgetting(), self.generator
        if forgetting is None or gen is None or gen.engine.type != EngineType.OPENAI:
            return True
        return has(forgetting.model)

    @rule("!has(self.filters) || !self.filters.exists(f, f.type == 'schema')"
          " || (has(self.task) && has(self.task.outputSchema))",
          "the schema filter requires task.outputSchema", "task.outputSchema", "FieldValueRequired")
    def _schema_filter_has_schema(self) -> bool:
        uses = any(f.type == FilterType.SCHEMA for f in self.filters or ())
        return not uses or (self.task is not None and has(self.task.output_schema))

    @item_rule("!has(self.input) || !has(self.filters) || self.filters.all(f, f.type != 'judge' || has(f.model))",
               "judge filters need a model when there is no generator", "filters", "model", "FieldValueRequired")
    def _curation_judge_has_model(self, entry: AnyFilter) -> bool:
        return self.input is None or not isinstance(entry, JudgeFilter) or has(entry.model)

    @item_rule("!has(self.input) || !has(self.filters)"
               " || self.filters.all(f, f.type != 'judge' || (has(f.engine) && f.engine.type == 'openai'))",
               "judge filters of a curation job score through an endpoint: they need engine.type openai",
               "filters", "engine", "FieldValueRequired")
    def _curation_judge_through_endpoint(self, entry: AnyFilter) -> bool:
        if self.input is None or not isinstance(entry, JudgeFilter):
            return True
        return entry.engine is not None and entry.engine.type == EngineType.OPENAI

    @item_rule(f"!{_GEN} || !has(self.filters) || self.filters.all(f, f.type != 'judge' || !has(f.model)"
               " || f.model == self.generator.model"
               " || (has(f.engine) && f.engine.type == 'openai')"
               " || (!has(f.engine) && has(self.generator.engine) && self.generator.engine.type == 'openai'))",
               "a judge with its own model needs engine.type openai (the generator pods load only the generator's "
               "model)", "filters", "engine")
    def _own_judge_model_through_endpoint(self, entry: AnyFilter) -> bool:
        gen = self.generator
        if gen is None or not isinstance(entry, JudgeFilter) or entry.model in (None, gen.model):
            return True
        engine = entry.engine if entry.engine is not None else gen.engine
        return engine.type == EngineType.OPENAI


def effective_strategies(spec: DataFoundryJobSpec) -> list[Strategy]:
    """The strategies a generator runs: ``generator.strategies`` or the task type's defaults.

    Defaults when unset: preference -> preferencePairs; dialogue -> multiTurn; otherwise
    selfInstruct (with seeds), documentQA (with documents) and taxonomy (with a taxonomy),
    equally weighted. Strategies with weight 0 are dropped.
    """
    gen, task = spec.generator, spec.task
    if gen is None:
        return []
    if gen.strategies is not None:
        return [s for s in gen.strategies if s.weight > 0]
    if task is None:
        return []
    if task.type == TaskType.PREFERENCE:
        return [Strategy(name=StrategyName.PREFERENCE_PAIRS)]
    if task.type == TaskType.DIALOGUE:
        return [Strategy(name=StrategyName.MULTI_TURN)]
    out = []
    if task.seeds is not None:
        out.append(Strategy(name=StrategyName.SELF_INSTRUCT))
    if task.documents is not None:
        out.append(Strategy(name=StrategyName.DOCUMENT_QA))
    if task.taxonomy is not None:
        out.append(Strategy(name=StrategyName.TAXONOMY))
    return out


__all__ = [
    "MODEL_CACHE_MOUNT",
    "MODEL_CLAIM_MOUNT_ROOT",
    "SINGLETON_FILTERS",
    "AddressingStyle",
    "Budget",
    "CARef",
    "ClassLabel",
    "Compression",
    "ConfigMapKeyRef",
    "Credentials",
    "DataFormat",
    "DataFoundryJobSpec",
    "DecontaminationFilter",
    "Documents",
    "Dtype",
    "Engine",
    "EngineType",
    "EnvFromSource",
    "EnvVar",
    "EnvVarSource",
    "Evaluation",
    "EvolOperation",
    "ExactDedupFilter",
    "Filter",
    "FilterType",
    "Forgetting",
    "ForgettingGate",
    "GateAction",
    "Generator",
    "HuggingFace",
    "Input",
    "JudgeFilter",
    "LanguageFilter",
    "LengthFilter",
    "LoraAdapter",
    "MinHashFilter",
    "Mix",
    "ModelCache",
    "NameRef",
    "Output",
    "OutputFormat",
    "PiiAction",
    "PiiFilter",
    "PiiKind",
    "QualityFilter",
    "QualityRule",
    "Replay",
    "Resources",
    "S3SecretRef",
    "Sampling",
    "SchemaFilter",
    "SecretKeyRef",
    "Seeds",
    "Strategy",
    "StrategyName",
    "StrategyOptions",
    "Target",
    "Task",
    "TaskType",
    "Toleration",
    "Topic",
    "Workers",
    "effective_strategies",
    "is_hf_model",
]
